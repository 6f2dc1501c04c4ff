"""What OTLP spans mean as `otel_traces` rows: decoding request bodies and mapping spans to Arrow columns.

The mapping follows the OpenTelemetry Collector's ClickHouse exporter, so rows written by either are
indistinguishable: ids as lowercase hex, SpanKind as ``Server``/``Client``/…, StatusCode as
``Unset``/``Ok``/``Error``, attribute values as strings (numbers in decimal, arrays and maps as JSON),
``Duration`` in nanoseconds, and the resource's ``service.name`` in ``ServiceName``.

Spans are mapped into flat Python lists and turned into Arrow arrays once per request: the only per-span
Python work is reading the decoded message's fields.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf import json_format
from google.protobuf.message import DecodeError as ProtobufDecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collectors.errors import DecodeError
from collectors.otlp_view import any_values_to_strings, hex_fixed, hex_ids, view_request_class

SPAN_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
STATUS_CODES = ("Unset", "Ok", "Error")
MAX_REJECTION_MESSAGES = 5

_MAP = pa.map_(pa.string(), pa.string())
_TS = pa.timestamp("ns")

ARROW_SCHEMA = pa.schema(
    [
        ("Timestamp", _TS),
        ("TraceId", pa.string()),
        ("SpanId", pa.string()),
        ("ParentSpanId", pa.string()),
        ("TraceState", pa.string()),
        ("SpanName", pa.string()),
        ("SpanKind", pa.string()),
        ("ServiceName", pa.string()),
        ("ResourceAttributes", _MAP),
        ("ScopeName", pa.string()),
        ("ScopeVersion", pa.string()),
        ("SpanAttributes", _MAP),
        ("Duration", pa.uint64()),
        ("StatusCode", pa.string()),
        ("StatusMessage", pa.string()),
        ("Events.Timestamp", pa.list_(_TS)),
        ("Events.Name", pa.list_(pa.string())),
        ("Events.Attributes", pa.list_(_MAP)),
        ("Links.TraceId", pa.list_(pa.string())),
        ("Links.SpanId", pa.list_(pa.string())),
        ("Links.TraceState", pa.list_(pa.string())),
        ("Links.Attributes", pa.list_(_MAP)),
    ]
)


@dataclass
class SpanBatch:
    """The rows of one request, and what was refused and why."""

    table: pa.Table
    rejected: int = 0
    rejections: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.table.num_rows

    def rejection_message(self) -> str:
        """One line for OTLP's partial_success.error_message."""
        more = self.rejected - len(self.rejections)
        text = "; ".join(self.rejections)
        return text + (f"; and {more} more" if more > 0 else "")


# ---------------------------------------------------------------- decoding


def decode_protobuf(body: bytes) -> Any:
    """Parse an OTLP/HTTP protobuf body into the view message; raises DecodeError saying what failed."""
    request = view_request_class()()
    try:
        request.ParseFromString(body)
    except (ProtobufDecodeError, RuntimeError, ValueError) as exc:
        raise DecodeError(f"request body is not a valid OTLP ExportTraceServiceRequest protobuf: {exc}") from None
    return request


_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def decode_json(body: bytes) -> Any:
    """Parse an OTLP/HTTP JSON body (hex trace and span ids, integer enums, 64-bit integers as strings)."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise DecodeError("request body must be a JSON object with a resourceSpans array")
    _hex_ids_to_base64(document)
    request = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, AttributeError, RecursionError) as exc:
        raise DecodeError(f"request body is not an OTLP ExportTraceServiceRequest: {exc}") from None
    return to_view(request)


def to_view(request: ExportTraceServiceRequest) -> Any:
    """The view form of a generated ExportTraceServiceRequest (for in-process callers such as the exporter)."""
    return view_request_class().FromString(request.SerializeToString())


def _hex_ids_to_base64(document: dict[str, Any]) -> None:
    """OTLP JSON carries ids as hex; protobuf's JSON mapping expects base64 for bytes fields."""
    for r_index, resource_spans in enumerate(_list(document, "resourceSpans", "resource_spans")):
        for s_index, scope_spans in enumerate(_list(resource_spans, "scopeSpans", "scope_spans")):
            for index, span in enumerate(_list(scope_spans, "spans")):
                where = f"resourceSpans[{r_index}].scopeSpans[{s_index}].spans[{index}]"
                _convert_ids(span, where)
                for l_index, link in enumerate(_list(span, "links")):
                    _convert_ids(link, f"{where}.links[{l_index}]")


def _list(obj: Any, *keys: str) -> list[Any]:
    if not isinstance(obj, dict):
        return []
    for key in keys:
        value = obj.get(key)
        if isinstance(value, list):
            return value
    return []


def _convert_ids(obj: Any, where: str) -> None:
    if not isinstance(obj, dict):
        return
    for key in _ID_FIELDS:
        value = obj.get(key)
        if isinstance(value, str) and value:
            try:
                obj[key] = base64.b64encode(bytes.fromhex(value)).decode()
            except ValueError:
                raise DecodeError(f"{where}.{key} {value[:40]!r} is not a hex string") from None


# ---------------------------------------------------------------- values


def _float_str(value: float) -> str:
    if math.isfinite(value) and value == int(value) and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def any_value_str(value: Any) -> str:
    """An AnyValue as the exporter stores it: strings as-is, scalars in decimal, arrays and maps as JSON."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return str(value.int_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "double_value":
        return _float_str(value.double_value)
    if kind is None:
        return ""
    return json.dumps(_any_value_json(value), separators=(",", ":"), ensure_ascii=False)


def _any_value_json(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "double_value":
        return value.double_value if math.isfinite(value.double_value) else str(value.double_value)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if kind == "array_value":
        return [_any_value_json(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _any_value_json(kv.value) for kv in value.kvlist_value.values}
    return None


# ---------------------------------------------------------------- mapping


def map_body(body: bytes, as_json: bool) -> SpanBatch:
    """Decode an OTLP/HTTP body (protobuf, or JSON when `as_json`) and map its spans; raises DecodeError."""
    return spans_to_arrow(decode_json(body) if as_json else decode_protobuf(body))


_ZERO_TRACE = b"\0" * 16
_ZERO_SPAN = b"\0" * 8


def _reject_reason(trace_id: bytes, span_id: bytes, parent: bytes, start: int, end: int) -> str | None:
    if len(trace_id) != 16 or trace_id == _ZERO_TRACE:
        return "trace_id must be 16 bytes and not all zero"
    if len(span_id) != 8 or span_id == _ZERO_SPAN:
        return "span_id must be 8 bytes and not all zero"
    if parent and len(parent) != 8:
        return "parent_span_id must be empty or 8 bytes"
    if start == 0:
        return "start_time_unix_nano is missing"
    if end < start:
        return "end_time_unix_nano is before start_time_unix_nano"
    return None


def _strings(values: list[bytes]) -> pa.Array:
    try:
        return any_values_to_strings(values, any_value_str)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise DecodeError(f"an attribute value is not valid UTF-8: {exc}") from None


def spans_to_arrow(request: Any) -> SpanBatch:
    """Map every span of a decoded request to one Arrow table shaped like otel_traces.

    `request` is a view message from :func:`decode_protobuf` / :func:`decode_json`. Spans with invalid ids or
    times are refused and counted; the rest become rows.
    """
    ts: list[int] = []
    ends: list[int] = []
    trace_ids: list[bytes] = []
    span_ids: list[bytes] = []
    parents: list[bytes] = []
    states: list[str] = []
    names: list[str] = []
    kinds: list[int] = []
    # resource and scope columns are built once per (resource, scope) group and repeated per span
    services: list[str] = []
    res_off = [0]
    res_k: list[str] = []
    res_v: list[str] = []
    scope_names: list[str] = []
    scope_versions: list[str] = []
    group_sizes: list[int] = []
    attr_off = [0]
    attr_k: list[str] = []
    attr_v: list[bytes] = []
    status_codes: list[int] = []
    status_messages: list[str] = []
    ev_off = [0]
    ev_ts: list[int] = []
    ev_names: list[str] = []
    ev_attr_off = [0]
    ev_k: list[str] = []
    ev_v: list[bytes] = []
    ln_off = [0]
    ln_trace: list[bytes] = []
    ln_span: list[bytes] = []
    ln_state: list[str] = []
    ln_attr_off = [0]
    ln_k: list[str] = []
    ln_v: list[bytes] = []

    rejected = 0
    rejections: list[str] = []
    attr_k_extend, attr_v_extend = attr_k.extend, attr_v.extend

    for r_index, resource_spans in enumerate(request.resource_spans):
        resource_attributes = resource_spans.resource.attributes
        rk = list(resource_attributes.keys())
        rv = _strings([resource_attributes[k] for k in rk]).to_pylist()
        service = rv[rk.index("service.name")] if "service.name" in rk else ""
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            services.append(service)
            res_k.extend(rk)
            res_v.extend(rv)
            res_off.append(len(res_k))
            scope_names.append(scope.name)
            scope_versions.append(scope.version)
            group_start = len(ts)
            for s_index, span in enumerate(scope_spans.spans):
                trace_id = span.trace_id
                span_id = span.span_id
                parent = span.parent_span_id
                start = span.start_time_unix_nano
                end = span.end_time_unix_nano
                if len(trace_id) != 16 or len(span_id) != 8 or start == 0 or end < start or (
                    trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN or (parent and len(parent) != 8)
                ):
                    rejected += 1
                    if len(rejections) < MAX_REJECTION_MESSAGES:
                        reason = _reject_reason(trace_id, span_id, parent, start, end)
                        rejections.append(f"resource_spans[{r_index}] span {s_index} {span.name[:80]!r}: {reason}")
                    continue
                ts.append(start)
                ends.append(end)
                trace_ids.append(trace_id)
                span_ids.append(span_id)
                parents.append(parent)
                states.append(span.trace_state)
                names.append(span.name)
                kinds.append(span.kind)
                attributes = span.attributes
                if attributes:
                    keys = list(attributes)
                    attr_k_extend(keys)
                    attr_v_extend(map(attributes.__getitem__, keys))
                attr_off.append(len(attr_k))
                status = span.status
                status_codes.append(status.code)
                status_messages.append(status.message)
                events = span.events
                if events:
                    for event in events:
                        ev_ts.append(event.time_unix_nano)
                        ev_names.append(event.name)
                        for k, v in event.attributes.items():
                            ev_k.append(k)
                            ev_v.append(v)
                        ev_attr_off.append(len(ev_k))
                    ev_off.append(len(ev_ts))
                else:
                    ev_off.append(ev_off[-1])
                links = span.links
                if links:
                    for link in links:
                        ln_trace.append(link.trace_id)
                        ln_span.append(link.span_id)
                        ln_state.append(link.trace_state)
                        for k, v in link.attributes.items():
                            ln_k.append(k)
                            ln_v.append(v)
                        ln_attr_off.append(len(ln_k))
                    ln_off.append(len(ln_trace))
                else:
                    ln_off.append(ln_off[-1])
            group_sizes.append(len(ts) - group_start)

    n = len(ts)
    group_of_span = pa.array(np.repeat(np.arange(len(group_sizes), dtype=np.int32), group_sizes))
    start_array = pa.array(ts, pa.uint64())
    table = pa.Table.from_arrays(
        [
            start_array.cast(pa.int64()).cast(_TS),
            hex_fixed(b"".join(trace_ids), n, 16),
            hex_fixed(b"".join(span_ids), n, 8),
            hex_ids(parents),
            pa.array(states, pa.string()),
            pa.array(names, pa.string()),
            _lookup(kinds, SPAN_KINDS),
            pa.array(services, pa.string()).take(group_of_span),
            _map_array(res_off, pa.array(res_k, pa.string()), pa.array(res_v, pa.string())).take(group_of_span),
            pa.array(scope_names, pa.string()).take(group_of_span),
            pa.array(scope_versions, pa.string()).take(group_of_span),
            _map_array(attr_off, pa.array(attr_k, pa.string()), _strings(attr_v)),
            pc.subtract(pa.array(ends, pa.uint64()), start_array),
            _lookup(status_codes, STATUS_CODES),
            pa.array(status_messages, pa.string()),
            _list_array(ev_off, pa.array(ev_ts, pa.uint64()).cast(pa.int64()).cast(_TS)),
            _list_array(ev_off, pa.array(ev_names, pa.string())),
            _list_array(ev_off, _map_array(ev_attr_off, pa.array(ev_k, pa.string()), _strings(ev_v))),
            _list_array(ln_off, hex_ids(ln_trace)),
            _list_array(ln_off, hex_ids(ln_span)),
            _list_array(ln_off, pa.array(ln_state, pa.string())),
            _list_array(ln_off, _map_array(ln_attr_off, pa.array(ln_k, pa.string()), _strings(ln_v))),
        ],
        schema=ARROW_SCHEMA,
    )
    return SpanBatch(table=table, rejected=rejected, rejections=rejections)


def _lookup(codes: list[int], names: tuple[str, ...]) -> pa.Array:
    """Enum numbers to their names; numbers we do not know become the first name (Unspecified / Unset)."""
    index = np.asarray(codes, dtype=np.int64)
    index[(index < 0) | (index >= len(names))] = 0
    return pa.DictionaryArray.from_arrays(pa.array(index, pa.int32()), pa.array(names)).cast(pa.string())


def _map_array(offsets: list[int], keys: pa.Array, values: pa.Array) -> pa.Array:
    return pa.MapArray.from_arrays(pa.array(offsets, pa.int32()), keys, values, type=_MAP)


def _list_array(offsets: list[int], items: pa.Array) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), items)


def empty_table() -> pa.Table:
    """An otel_traces-shaped table with no rows."""
    return ARROW_SCHEMA.empty_table()


def hex_id(raw: str, where: str) -> bytes:
    """Parse a hex id (for callers outside request decoding); raises DecodeError naming `where`."""
    try:
        return binascii.unhexlify(raw)
    except (binascii.Error, ValueError):
        raise DecodeError(f"{where} {raw[:40]!r} is not a hex string") from None
