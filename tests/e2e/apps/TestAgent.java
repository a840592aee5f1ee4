public class TestAgent {
    public static void premain(String args) { System.err.println("ONEAGENT-E2E-JAVAAGENT"); }
}
