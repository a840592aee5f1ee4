"""The Python HTTP app of the end-to-end tests: plain stdlib, no OpenTelemetry code of its own.

Prints `LISTENING <port>`, answers GET /checkout by calling its own GET /backend through urllib
(a client span when the agent instruments urllib), then exits normally (the agent flushes at exit).
"""
import http.server
import threading
import urllib.request


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/checkout":
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/backend", timeout=10) as r:
                body = b"checkout:" + r.read()
        else:
            body = b"backend-ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.path == "/checkout":
            threading.Thread(target=server.shutdown).start()


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
port = server.server_address[1]
print(f"LISTENING {port}", flush=True)
server.serve_forever()
server.server_close()
