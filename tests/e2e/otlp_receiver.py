"""A minimal OTLP/HTTP receiver for the end-to-end tests and the demo.

Accepts POST /v1/traces and /v1/logs (and /v1/metrics, answered and ignored) with protobuf
bodies, plain or gzip (Content-Encoding), with Content-Length or chunked transfer encoding, and
records every span and log record with its resource attributes. The protobuf classes come from
the `opentelemetry-proto` package of the Python agent directory (put it on sys.path first).

Run as a program (`python3 otlp_receiver.py AGENT_DIR PORT_FILE`), it listens on a free loopback
port, writes the port to PORT_FILE and prints one line per span and per log record (the demo).
"""

import gzip
import http.server
import sys
import threading
import time
import zlib

if __name__ == "__main__" and len(sys.argv) == 3:
    sys.path.insert(0, sys.argv[1])

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2  # noqa: E402
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2  # noqa: E402

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


class LogRecord:
    def __init__(self, resource, record):
        self.resource = resource
        self.service = resource.get("service.name")
        self.body = any_value(record.body)
        self.attributes = attributes(record.attributes)

    def __repr__(self):
        return f"LogRecord({self.service!r}, {self.body!r})"


def decode_logs(body):
    """Log records of an ExportLogsServiceRequest (raises on a malformed body)."""
    req = logs_service_pb2.ExportLogsServiceRequest()
    req.ParseFromString(body)
    return [
        LogRecord(attributes(rl.resource.attributes), rec)
        for rl in req.resource_logs
        for sl in rl.scope_logs
        for rec in sl.log_records
    ]


def decode_traces(body):
    """Spans of an ExportTraceServiceRequest (raises on a malformed body)."""
    req = trace_service_pb2.ExportTraceServiceRequest()
    req.ParseFromString(body)
    return [
        Span(attributes(rs.resource.attributes), ss.scope.name, sp)
        for rs in req.resource_spans
        for ss in rs.scope_spans
        for sp in ss.spans
    ]


class Receiver:
    """Runs in a daemon thread of the test driver; `spans` grows as exports arrive."""

    def __init__(self, host="127.0.0.1", port=0, on_arrival=None):
        self.spans = []
        self.logs = []
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
                    logs = decode_logs(body) if self.path == "/v1/logs" else []
                except Exception as e:  # recorded, answered 400
                    ok = False
                    spans = []
                    logs = []
                    with receiver.cond:
                        receiver.errors.append(f"{self.path}: {e!r}")
                with receiver.cond:
                    receiver.requests.append((self.path, enc, te, ok))
                    receiver.spans.extend(spans)
                    receiver.logs.extend(logs)
                    receiver.cond.notify_all()
                if on_arrival is not None:
                    for item in spans + logs:
                        on_arrival(item)
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


def main(port_file):
    def show(item):
        if isinstance(item, Span):
            print(f"span  service.name={item.service} {item.kind} {item.name!r}", flush=True)
        else:
            print(f"log   service.name={item.service} {str(item.body).rstrip()!r}", flush=True)

    receiver = Receiver(on_arrival=show)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(receiver.port))
    import os

    os.rename(port_file + ".tmp", port_file)
    threading.Event().wait()


if __name__ == "__main__" and len(sys.argv) == 3:
    main(sys.argv[2])
