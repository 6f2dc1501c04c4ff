"""Column-by-column mapping gives the very rows span-by-span mapping gives, and steps aside when it cannot."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from bench.otlp_payloads import build_request
from collectors.otlp_columns import map_columns, unique_attribute_keys
from collectors.otlp_mapping import decode_protobuf, map_protobuf, spans_to_arrow

_MAPS = ("ResourceAttributes", "SpanAttributes")


def _span_by_span(body: bytes) -> pa.Table:
    return spans_to_arrow(decode_protobuf(body)).table


def _same_rows(a: pa.Table, b: pa.Table) -> bool:
    """Equal tables, attribute maps compared as maps (span by span, their order follows a hash)."""
    return a.drop_columns(list(_MAPS)).equals(b.drop_columns(list(_MAPS))) and all(
        [dict(m) for m in a[name].to_pylist()] == [dict(m) for m in b[name].to_pylist()] for name in _MAPS
    )


def _columns_table(body: bytes) -> pa.Table:
    rows = map_columns(body)
    assert rows is not None, "the request should have been mapped column by column"
    keys = unique_attribute_keys(rows)
    assert keys is not None
    return rows.to_table(keys)


values = st.one_of(
    st.text(max_size=200).map(lambda s: AnyValue(string_value=s)),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(lambda i: AnyValue(int_value=i)),
    st.booleans().map(lambda b: AnyValue(bool_value=b)),
    st.lists(st.text(max_size=4).map(lambda s: AnyValue(string_value=s)), max_size=3).map(
        lambda vs: AnyValue(array_value=ArrayValue(values=vs))
    ),
)
attributes = st.dictionaries(st.text(min_size=1, max_size=12), values, max_size=6).map(
    lambda d: [KeyValue(key=k, value=v) for k, v in d.items()]
)
nonzero_ids = st.binary(min_size=16, max_size=16).filter(any)
nonzero_span_ids = st.binary(min_size=8, max_size=8).filter(any)


@st.composite
def spans(draw: st.DrawFn) -> Span:
    start = draw(st.integers(min_value=1, max_value=2**62))
    span = Span(
        trace_id=draw(nonzero_ids),
        span_id=draw(nonzero_span_ids),
        parent_span_id=draw(st.sampled_from([b"", b"\x01" * 8])),
        trace_state=draw(st.sampled_from(["", "vendor=1"])),
        name=draw(st.text(max_size=20)),
        kind=draw(st.integers(min_value=0, max_value=7)),
        start_time_unix_nano=start,
        end_time_unix_nano=start + draw(st.integers(min_value=0, max_value=10**12)),
        attributes=draw(attributes),
    )
    code = draw(st.integers(min_value=0, max_value=2))
    if code or draw(st.booleans()):
        span.status.CopyFrom(Status(code=code, message=draw(st.sampled_from(["", "upstream timeout"]))))
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        span.events.add(time_unix_nano=start, name=draw(st.text(max_size=8)), attributes=draw(attributes))
    for _ in range(draw(st.integers(min_value=0, max_value=1))):
        span.links.add(trace_id=draw(nonzero_ids), span_id=draw(nonzero_span_ids), attributes=draw(attributes))
    return span


@st.composite
def requests(draw: st.DrawFn) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.extend(draw(attributes))
        if draw(st.booleans()):
            resource_spans.resource.attributes.add(key="service.name", value=AnyValue(string_value="shop"))
        for _ in range(draw(st.integers(min_value=0, max_value=2))):
            scope_spans = resource_spans.scope_spans.add()
            scope_spans.scope.name = draw(st.text(max_size=8))
            scope_spans.spans.extend(draw(st.lists(spans(), max_size=6)))
    return request


@given(requests())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_valid_request_maps_column_by_column_to_the_span_by_span_rows(request: ExportTraceServiceRequest) -> None:
    body = request.SerializeToString()
    assert _same_rows(_columns_table(body), _span_by_span(body))


def test_traffic_shaped_like_the_demo_maps_column_by_column() -> None:
    body = build_request(2048, seed=5, start_ns=1_700_000_000_000_000_000).SerializeToString()
    assert _same_rows(_columns_table(body), _span_by_span(body))
    assert _same_rows(map_protobuf(body).table, _span_by_span(body))


def test_spans_from_the_opentelemetry_sdk_map_column_by_column() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "contact-center"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("touchpoint.tests")
    with tracer.start_as_current_span("call", kind=SpanKind.SERVER, attributes={"journey.id": "j-1"}):
        with tracer.start_as_current_span("crm lookup", attributes={"attempt": 2, "cached": False}) as child:
            child.add_event("retry", {"delay_ms": 40.5})
            child.set_status(StatusCode.ERROR, "upstream timeout")
    body = encode_spans(exporter.get_finished_spans()).SerializeToString()

    table = _columns_table(body)
    assert _same_rows(table, _span_by_span(body))
    assert table.column("StatusCode").to_pylist() == ["Error", "Unset"]
    assert table.column("Events.Name").to_pylist() == [["retry"], []]


def _two_spans() -> tuple[Span, Span]:
    first = Span(
        trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="checkout", start_time_unix_nano=5, end_time_unix_nano=9
    )
    second = Span(trace_id=b"\x03" * 16, span_id=b"\x04" * 8, name="", start_time_unix_nano=6, end_time_unix_nano=8)
    return first, second


def test_a_name_written_twice_beside_a_span_without_one_is_mapped_span_by_span() -> None:
    first, second = _two_spans()
    # protobuf allows a field twice (the last counts): a sender that patches the first span by concatenation
    # writes two names there and none in the second span, so a merged column of names would still line up
    patched_first = first.SerializeToString() + Span(name="pay").SerializeToString()
    scope_spans = _field(2, patched_first) + _field(2, second.SerializeToString())
    body = _field(1, _field(2, scope_spans))

    assert map_columns(body) is None
    assert map_protobuf(body).table.column("SpanName").to_pylist() == ["pay", ""]


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def test_a_span_to_refuse_sends_the_request_span_by_span_which_says_why() -> None:
    first, second = _two_spans()
    second.span_id = b"\x00" * 8
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.extend([first, second])
    body = request.SerializeToString()

    assert map_columns(body) is None
    batch = map_protobuf(body)
    assert (batch.table.num_rows, batch.rejected) == (1, 1)
    assert "span_id must be 8 bytes and not all zero" in batch.rejection_message()


def test_an_attribute_key_twice_in_a_span_keeps_the_last_value_as_span_by_span_does() -> None:
    first, _ = _two_spans()
    first.attributes.extend(
        [KeyValue(key="step", value=AnyValue(string_value="old")), KeyValue(key="step", value=AnyValue(int_value=2))]
    )
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.append(first)
    body = request.SerializeToString()

    rows = map_columns(body)
    assert rows is not None and unique_attribute_keys(rows) is None
    assert map_protobuf(body).table.column("SpanAttributes").to_pylist() == [[("step", "2")]]


def test_attributes_without_a_key_are_mapped_span_by_span() -> None:
    first, second = _two_spans()
    first.attributes.add(value=AnyValue(string_value="orphan"))
    second.attributes.add()  # neither key nor value
    for span in (first, second):
        request = ExportTraceServiceRequest()
        request.resource_spans.add().scope_spans.add().spans.append(span)
        body = request.SerializeToString()

        assert map_columns(body) is None
        assert map_protobuf(body).table.column("SpanAttributes").to_pylist() == [
            [("", "orphan" if span is first else "")]
        ]


def test_one_attribute_written_as_two_is_mapped_span_by_span() -> None:
    first, _ = _two_spans()
    # one KeyValue message holding two keys and two values: protobuf keeps the last of each
    merged = b"".join(
        KeyValue(key=k, value=AnyValue(string_value=v)).SerializeToString() for k, v in (("a", "1"), ("b", "2"))
    )
    body = _field(1, _field(2, _field(2, first.SerializeToString() + _field(9, merged))))

    assert map_columns(body) is None
    assert map_protobuf(body).table.column("SpanAttributes").to_pylist() == [[("b", "2")]]


def test_default_values_written_out_still_map_column_by_column() -> None:
    first, second = _two_spans()
    # kind 0 and an empty parent id, written although proto3 would leave them out
    written_out = first.SerializeToString() + b"\x30\x00" + b"\x22\x00"
    body = _field(1, _field(2, _field(2, written_out) + _field(2, second.SerializeToString())))

    assert _same_rows(_columns_table(body), _span_by_span(body))
