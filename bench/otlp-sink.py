#!/usr/bin/env python3
"""An OTLP/HTTP sink for benchmarks with span export on: answers 200 to POST /v1/traces.

Point the gateway at it (`[tracing] otlp = "http://127.0.0.1:4318"`) to measure what exporting
costs without a collector's own cost in the way. The body is read whole and dropped (never
decoded); the answer is an empty ExportTraceServiceResponse (an empty protobuf message), so the
exporter counts every post as taken. Anything but POST /v1/traces is 404.

    python3 bench/otlp-sink.py [--port 4318] [--host 127.0.0.1]

On exit (Ctrl-C or SIGTERM) it prints the posts and bytes it took. Python's standard library only.
"""

import argparse
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Counts:
    lock = threading.Lock()
    posts = 0
    bytes = 0


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 16))
            if not chunk:
                break
            remaining -= len(chunk)
        if self.path.split("?", 1)[0] != "/v1/traces":
            self.answer(404, b"")
            return
        with Counts.lock:
            Counts.posts += 1
            Counts.bytes += length
        self.answer(200, b"")

    def do_GET(self):
        self.answer(404, b"")

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=4318)
    a = p.parse_args()
    server = ThreadingHTTPServer((a.host, a.port), Sink)
    server.daemon_threads = True

    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"otlp-sink on http://{a.host}:{server.server_address[1]}/v1/traces", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        print(f"{Counts.posts} posts, {Counts.bytes} bytes", flush=True)


if __name__ == "__main__":
    main()
