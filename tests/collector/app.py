"""The instrumented Python process of the collector test: plain stdlib, no OpenTelemetry code.

Loaded with the real Python OpenTelemetry agent (PYTHONPATH: its auto_instrumentation
sitecustomize). Calls its own HTTP server through urllib (a client span), logs one warning (a log
record when OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=true), then exits; the agent flushes
at exit.
"""
import http.server
import logging
import threading
import urllib.request


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
port = server.server_address[1]
with urllib.request.urlopen(f"http://127.0.0.1:{port}/checkout", timeout=10) as r:
    assert r.read() == b"ok"
logging.getLogger("shop").warning("order checked out")
server.shutdown()
print("DONE", flush=True)
