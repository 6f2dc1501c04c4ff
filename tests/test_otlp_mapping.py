"""Decoding OTLP bodies and mapping spans to otel_traces columns, as the collector's exporter does."""

from __future__ import annotations

import json

from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList

from collectors.errors import DecodeError
from collectors.otlp_mapping import decode_json, decode_protobuf, spans_to_arrow
from collectors.otlp_values import any_value_str
from collectors.otlp_view import any_values_to_strings

scalars = st.one_of(
    st.text(max_size=300).map(lambda s: AnyValue(string_value=s)),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(lambda i: AnyValue(int_value=i)),
    st.booleans().map(lambda b: AnyValue(bool_value=b)),
    st.floats(allow_nan=False).map(lambda f: AnyValue(double_value=f)),
    st.binary(max_size=20).map(lambda b: AnyValue(bytes_value=b)),
)
any_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda vs: AnyValue(array_value=ArrayValue(values=vs))),
        st.dictionaries(st.text(max_size=5), inner, max_size=3).map(
            lambda d: AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in d.items()]))
        ),
    ),
    max_leaves=6,
)


@given(st.lists(any_values, max_size=40))
@settings(max_examples=200, deadline=None)
def test_vectorised_attribute_values_equal_one_by_one_rendering(values: list[AnyValue]) -> None:
    encoded = [v.SerializeToString() for v in values]
    assert any_values_to_strings(encoded, any_value_str).to_pylist() == [any_value_str(v) for v in values]


def test_attribute_values_render_as_the_exporter_writes_them() -> None:
    assert any_value_str(AnyValue(int_value=-42)) == "-42"
    assert any_value_str(AnyValue(double_value=2.0)) == "2"
    assert any_value_str(AnyValue(double_value=0.25)) == "0.25"
    assert any_value_str(AnyValue(bool_value=False)) == "false"
    nested = AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key="a", value=AnyValue(int_value=1))]))
    assert any_value_str(nested) == '{"a":1}'


def _request(n_spans: int) -> ExportTraceServiceRequest:
    from bench.otlp_payloads import build_request

    return build_request(n_spans, seed=3, start_ns=1_700_000_000_000_000_000)


def test_json_and_protobuf_encodings_of_one_request_map_to_identical_rows() -> None:
    request = _request(40)
    document = json_format.MessageToDict(request)
    # OTLP JSON carries ids as hex, where protobuf's JSON mapping uses base64
    for rs in document["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    import base64

                    span[key] = base64.b64decode(span[key]).hex()
    from_json = spans_to_arrow(decode_json(json.dumps(document).encode())).table
    from_proto = spans_to_arrow(decode_protobuf(request.SerializeToString())).table
    assert from_json.equals(from_proto)
    assert from_proto.num_rows == 40


@given(st.binary(max_size=400))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_either_decode_or_raise_decode_error(body: bytes) -> None:
    try:
        spans_to_arrow(decode_protobuf(body))
    except DecodeError:
        pass


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(
                        ["resourceSpans", "scopeSpans", "spans", "traceId", "spanId", "name", "attributes", "x"]), c,
                        max_size=4), max_leaves=12))
@settings(max_examples=300, deadline=None)
def test_arbitrary_json_either_decodes_or_raises_decode_error(document: object) -> None:
    try:
        spans_to_arrow(decode_json(json.dumps(document).encode()))
    except DecodeError:
        pass


def test_unknown_span_kind_and_status_codes_fall_back_to_unspecified_and_unset() -> None:
    request = _request(1)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.kind = 17
    span.status.code = 9
    row = spans_to_arrow(decode_protobuf(request.SerializeToString())).table.to_pylist()[0]
    assert (row["SpanKind"], row["StatusCode"]) == ("Unspecified", "Unset")
