"""The demo's sample service: plain stdlib Python, no OpenTelemetry code of its own.

Every half second it calls its own HTTP endpoint through urllib (a client span once oneagent has
given it the Python agent) and logs a line with the standard `logging` module to the file named by
its first argument.
"""
import http.server
import logging
import sys
import threading
import time
import urllib.request

logging.basicConfig(filename=sys.argv[1], format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)
log = logging.getLogger("shop")


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        body = b"in stock"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}/stock"
order = 0
while True:
    order += 1
    with urllib.request.urlopen(url, timeout=10) as r:
        answer = r.read().decode()
    log.info("order %d: %s", order, answer)
    time.sleep(0.5)
