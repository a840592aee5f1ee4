"""A minimal OTLP/HTTP receiver for the end-to-end tests.

Accepts POST /v1/traces (and /v1/metrics, /v1/logs, which are answered and ignored) with protobuf
bodies, plain or gzip (Content-Encoding), with Content-Length or chunked transfer encoding, and
records every span with its resource attributes. The protobuf classes come from the
`opentelemetry-proto` package of the Python agent directory (put it on sys.path first).
"""

import gzip
import http.server
import threading
import time
import zlib

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}


def any_value(v):
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    val = getattr(v, kind)
    if kind == "array_value":
        return [any_value(x) for x in val.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in val.values}
    return val


def attributes(kvs):
    return {kv.key: any_value(kv.value) for kv in kvs}


class Span:
    def __init__(self, resource, scope, span):
        self.resource = resource
        self.service = resource.get("service.name")
        self.scope = scope
        self.name = span.name
        self.kind = KINDS.get(span.kind, str(span.kind))
        self.attributes = attributes(span.attributes)

    def __repr__(self):
        return f"Span({self.service!r}, {self.name!r}, {self.kind}, scope={self.scope!r})"


def decode_traces(body):
    """Spans of an ExportTraceServiceRequest (raises on a malformed body)."""
    req = trace_service_pb2.ExportTraceServiceRequest()
    req.ParseFromString(body)
    out = []
    for rs in req.resource_spans:
        res = attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for sp in ss.spans:
                out.append(Span(res, ss.scope.name, sp))
    return out


class Receiver:
    """Runs in a daemon thread of the test driver; `spans` grows as exports arrive."""

    def __init__(self, host="127.0.0.1", port=0):
        self.spans = []
        self.requests = []  # (path, content-encoding, transfer-encoding, ok)
        self.errors = []
        self.cond = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def read_body(self):
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    parts = []
                    while True:
                        line = self.rfile.readline(65537)
                        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            break
                        parts.append(self.rfile.read(size))
                        self.rfile.readline(3)
                    return b"".join(parts)
                return self.rfile.read(int(self.headers.get("Content-Length", "0")))

            def do_POST(self):
                body = self.read_body()
                enc = self.headers.get("Content-Encoding", "").lower()
                te = self.headers.get("Transfer-Encoding", "").lower()
                ok = True
                try:
                    if enc == "gzip":
                        body = gzip.decompress(body)
                    elif enc == "deflate":
                        body = zlib.decompress(body)
                    elif enc not in ("", "identity"):
                        raise ValueError(f"unsupported Content-Encoding {enc!r}")
                    spans = decode_traces(body) if self.path == "/v1/traces" else []
                except Exception as e:  # recorded, answered 400
                    ok = False
                    spans = []
                    with receiver.cond:
                        receiver.errors.append(f"{self.path}: {e!r}")
                with receiver.cond:
                    receiver.requests.append((self.path, enc, te, ok))
                    receiver.spans.extend(spans)
                    receiver.cond.notify_all()
                payload = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if ok else 400)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a client that hung up (keep-alive connections closed at exit)

        self.server = Server((host, port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, predicate, timeout=15.0):
        """Spans for which `predicate` holds, waiting up to `timeout` seconds for at least one."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [s for s in self.spans if predicate(s)]
                left = deadline - time.monotonic()
                if found or left <= 0:
                    return found
                self.cond.wait(left)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
