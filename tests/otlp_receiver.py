"""An OTLP/HTTP metrics receiver for tests: a thread on 127.0.0.1 (a free port) that decodes each request's
protobuf (opentelemetry-proto) and keeps it."""

from __future__ import annotations

import gzip

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from tests.loopback_http import LoopbackServer, QuietHandler


class Receiver(LoopbackServer):
    """An OTLP/HTTP metrics receiver on 127.0.0.1: decodes each ExportMetricsServiceRequest."""

    def __init__(self):
        self.requests: list[tuple[str, str, ExportMetricsServiceRequest]] = []
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportMetricsServiceRequest()
                request.ParseFromString(body)
                receiver.requests.append((self.path, self.headers.get("Content-Type"), request))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(Handler)
        self.endpoint = f"{self.url}/v1/metrics"
