public class App {
    public static void main(String[] a) {
        System.out.println("JAVA_TOOL_OPTIONS=" + System.getenv("JAVA_TOOL_OPTIONS"));
        System.out.println("OTEL_SERVICE_NAME=" + System.getenv("OTEL_SERVICE_NAME"));
        System.out.println("OTEL_RESOURCE_ATTRIBUTES=" + System.getenv("OTEL_RESOURCE_ATTRIBUTES"));
    }
}
