// A small JDK-only HTTP service for the end-to-end tests with the real Java agents: an
// HttpServer whose /checkout calls its own /backend through java.net.http.HttpClient, then exits
// after that one request. It prints `LISTENING <port>` first; /checkout answers with the value of
// the system property `shop.greeting` (set by the user's JAVA_TOOL_OPTIONS in the test) and the
// SW_AGENT_NAME it was started with.
import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;

public class Shop {
    public static void main(String[] args) throws Exception {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        int port = server.getAddress().getPort();
        CountDownLatch done = new CountDownLatch(1);
        HttpClient client = HttpClient.newHttpClient();
        server.createContext("/backend", ex -> {
            byte[] body = "backend-ok".getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, body.length);
            ex.getResponseBody().write(body);
            ex.close();
        });
        server.createContext("/checkout", ex -> {
            String backend;
            try {
                HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/backend")).build();
                backend = client.send(req, HttpResponse.BodyHandlers.ofString()).body();
            } catch (Exception e) {
                backend = "error:" + e;
            }
            String text = "checkout:" + backend + ":" + System.getProperty("shop.greeting")
                + ":" + System.getenv("SW_AGENT_NAME");
            byte[] body = text.getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, body.length);
            ex.getResponseBody().write(body);
            ex.close();
            done.countDown();
        });
        server.setExecutor(java.util.concurrent.Executors.newFixedThreadPool(2));
        server.start();
        System.out.println("LISTENING " + port);
        System.out.flush();
        done.await();
        server.stop(0);
        System.exit(0);
    }
}
