"""Step spans as OTLP protobuf messages: batches of spans in ExportTraceServiceRequests.

The messages are built directly rather than through the SDK's tracer, which cannot take given trace and
span ids. Each request carries one resource (``service.name``) and one scope (``touchpoint.eventlog``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from collectors.eventlog.model import AttributeValue, Event
from collectors.eventlog.to_spans import SpanOptions, StepSpan, events_to_spans

SCOPE_NAME = "touchpoint.eventlog"
DEFAULT_BATCH_SIZE = 1000


def spans_to_requests(
    spans: Iterable[StepSpan], service: str, batch_size: int = DEFAULT_BATCH_SIZE
) -> Iterator[ExportTraceServiceRequest]:
    """`spans` in requests of at most `batch_size` spans each, under resource ``service.name=service``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    spans = iter(spans)
    encoder = SpanEncoder()
    while batch := list(islice(spans, batch_size)):
        yield encoder.request(batch, service)


def events_to_requests(
    events: Iterable[Event], service: str, options: SpanOptions, batch_size: int = DEFAULT_BATCH_SIZE
) -> Iterator[ExportTraceServiceRequest]:
    """The OTLP requests for `events`: their step spans (see to_spans) in batches of `batch_size`."""
    return spans_to_requests(events_to_spans(events, options), service, batch_size)


class SpanEncoder:
    """Builds OTLP messages from step spans.

    Event logs repeat the same attribute values endlessly (a team, a priority, an agent), so the
    encoder keeps the KeyValue messages it has built and copies them; the memory is bounded by
    `max_cached` entries, after which it starts afresh.
    """

    def __init__(self, max_cached: int = 65536) -> None:
        self.max_cached = max_cached
        self.cache: dict[tuple[str, type, AttributeValue], KeyValue] = {}

    def request(self, spans: Iterable[StepSpan], service: str) -> ExportTraceServiceRequest:
        """One ExportTraceServiceRequest holding `spans` under resource ``service.name=service``."""
        scope_spans = ScopeSpans(scope=InstrumentationScope(name=SCOPE_NAME))
        scope_spans.spans.extend(self.span(span) for span in spans)
        resource = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value=service))])
        return ExportTraceServiceRequest(
            resource_spans=[ResourceSpans(resource=resource, scope_spans=[scope_spans])]
        )

    def span(self, span: StepSpan) -> Span:
        """The OTLP Span for one step span (kind INTERNAL; status ERROR with the transition if aborted)."""
        message = Span(
            trace_id=span.trace_id,
            span_id=span.span_id,
            name=span.name,
            kind=Span.SPAN_KIND_INTERNAL,
            start_time_unix_nano=span.start_ns,
            end_time_unix_nano=span.end_ns,
            attributes=[self.key_value(key, value) for key, value in span.attributes],
        )
        if span.error is not None:
            message.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message=span.error))
        return message

    def key_value(self, key: str, value: AttributeValue) -> KeyValue:
        """The KeyValue for one attribute (the type is part of the cache key: 1, 1.0 and True differ)."""
        cache_key = (key, type(value), value)
        message = self.cache.get(cache_key)
        if message is None:
            if len(self.cache) >= self.max_cached:
                self.cache.clear()
            message = self.cache[cache_key] = KeyValue(key=key, value=any_value(value))
        return message


def any_value(value: AttributeValue) -> AnyValue:
    """An OTLP AnyValue of the matching type; an integer beyond int64 is sent as its decimal text."""
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        if -(2**63) <= value < 2**63:
            return AnyValue(int_value=value)
        return AnyValue(string_value=str(value))
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, tuple):
        array = AnyValue()
        array.array_value.values.extend(any_value(v) for v in value)
        return array
    return AnyValue(string_value=value)
