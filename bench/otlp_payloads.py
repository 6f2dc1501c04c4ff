"""Synthetic OTLP requests shaped like real blueprint traffic, shared by the benchmarks."""

from __future__ import annotations

import random

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

SERVICES = ("web-shop", "checkout", "payment-gateway", "warehouse", "crm", "ivr", "contact-center", "billing")
STEPS = tuple(f"step-{i:02d}" for i in range(20))
CHANNELS = ("web", "mobile", "phone", "store")
ACTORS = ("person", "process", "system")


def _kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def build_request(n_spans: int, seed: int, start_ns: int, spread_ns: int = 60_000_000_000) -> ExportTraceServiceRequest:
    """One request of `n_spans` spans across a few services, with blueprint attributes and ~2% errors."""
    rng = random.Random(seed)
    request = ExportTraceServiceRequest()
    per_service = max(1, n_spans // 4)
    made = 0
    while made < n_spans:
        service = rng.choice(SERVICES)
        rs = request.resource_spans.add()
        rs.resource.attributes.extend(
            [
                _kv("service.name", service),
                _kv("host.name", f"host-{rng.randrange(8)}"),
                _kv("telemetry.sdk.language", "python"),
            ]
        )
        ss = rs.scope_spans.add()
        ss.scope.name = "touchpoint.bench"
        ss.scope.version = "1.0"
        for _ in range(min(per_service, n_spans - made)):
            step = rng.choice(STEPS)
            start = start_ns + rng.randrange(spread_ns)
            span = ss.spans.add()
            span.trace_id = rng.randbytes(16)
            span.span_id = rng.randbytes(8)
            span.parent_span_id = rng.randbytes(8)
            span.name = f"{service} {step}"
            span.kind = Span.SPAN_KIND_SERVER
            span.start_time_unix_nano = start
            span.end_time_unix_nano = start + rng.randrange(1_000_000, 900_000_000)
            span.attributes.extend(
                [
                    _kv("blueprint.step", step),
                    _kv("journey.id", f"j-{rng.randrange(1_000_000)}"),
                    # a step happens at one touchpoint, done by one kind of actor
                    _kv("touchpoint.channel", CHANNELS[STEPS.index(step) % len(CHANNELS)]),
                    _kv("actor.type", ACTORS[STEPS.index(step) % len(ACTORS)]),
                    _kv("http.status_code", 200),
                    _kv("http.route", f"/api/{step}"),
                ]
            )
            if rng.random() < 0.02:
                span.status.code = Status.STATUS_CODE_ERROR
                span.status.message = "upstream timeout"
            made += 1
    return request
