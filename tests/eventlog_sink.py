"""A real OTLP/HTTP endpoint on 127.0.0.1 for event-log import tests: it decodes and records each request."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


@dataclass
class Received:
    """One request as it arrived: path, headers and the decoded protobuf."""

    path: str
    headers: dict[str, str]
    request: ExportTraceServiceRequest

    @property
    def spans(self) -> list:
        return [s for r in self.request.resource_spans for ss in r.scope_spans for s in ss.spans]


@dataclass
class Sink:
    """An OTLP/HTTP endpoint that records each decoded request and answers from a script (then 200)."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    script: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)

    @property
    def spans(self) -> list:
        return [s for r in self.received for s in r.spans]


@contextmanager
def running_sink() -> Iterator[Sink]:
    """A Sink listening on a free port of 127.0.0.1 until the block ends."""
    state = Sink()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            request = ExportTraceServiceRequest.FromString(body)
            state.received.append(Received(self.path, dict(self.headers), request))
            status, headers, answer = state.script.pop(0) if state.script else (200, {}, b"")
            self.send_response(status)
            for name, value in {"Content-Type": "application/x-protobuf", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


class RecordedSleep:
    """A stand-in for time.sleep that records the waits asked for instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
