"""What OTLP spans mean as `otel_traces` rows: decoding request bodies and mapping spans to Arrow columns.

The mapping follows the OpenTelemetry Collector's ClickHouse exporter, so rows written by either are
indistinguishable: ids as lowercase hex, SpanKind as ``Server``/``Client``/…, StatusCode as
``Unset``/``Ok``/``Error``, attribute values as strings (numbers in decimal, arrays and maps as JSON),
``Duration`` in nanoseconds, and the resource's ``service.name`` in ``ServiceName``.

A request is mapped column by column where it allows (collectors.otlp_columns: no Python work per span
beyond counting its attributes), else span by span here, which also refuses invalid spans and says why. Both
fill the flat lists of collectors.otlp_rows.SpanRows, turned into Arrow once per request, and give the same
rows.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from google.protobuf import json_format
from google.protobuf.message import DecodeError as ProtobufDecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collectors.errors import DecodeError
from collectors.otlp_columns import map_columns, unique_attribute_keys
from collectors.otlp_rows import SpanRows
from collectors.otlp_view import view_request_class

MAX_REJECTION_MESSAGES = 5


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
    return view_request_class().FromString(_json_request(body).SerializeToString())


def _json_request(body: bytes) -> ExportTraceServiceRequest:
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
    return request


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


# ---------------------------------------------------------------- mapping


def map_body(body: bytes, as_json: bool) -> SpanBatch:
    """Decode an OTLP/HTTP body (protobuf, or JSON when `as_json`) and map its spans; raises DecodeError."""
    return map_protobuf(_json_request(body).SerializeToString() if as_json else body)


def map_protobuf(body: bytes) -> SpanBatch:
    """Map the spans of a protobuf ExportTraceServiceRequest; raises DecodeError.

    Column by column (collectors.otlp_columns) where the request allows it, else span by span
    (:func:`spans_to_arrow`), which refuses invalid spans and says why. Both give the same rows.
    """
    rows = map_columns(body)
    if rows is not None:
        keys = unique_attribute_keys(rows)
        if keys is not None:
            return SpanBatch(table=rows.to_table(keys))
    return spans_to_arrow(decode_protobuf(body))


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


def spans_to_arrow(request: Any) -> SpanBatch:
    """Map every span of a decoded request, span by span, to one Arrow table shaped like otel_traces.

    `request` is a view message from :func:`decode_protobuf` / :func:`decode_json`. Spans with invalid ids or
    times are refused and counted; the rest become rows.
    """
    rows = SpanRows()
    starts, ends, trace_ids, span_ids = rows.starts, rows.ends, rows.trace_ids, rows.span_ids
    parents, trace_states, names, kinds = rows.parents, rows.trace_states, rows.names, rows.kinds
    status_codes, status_messages = rows.status_codes, rows.status_messages
    attribute_counts, event_counts, link_counts = rows.attribute_counts, rows.event_counts, rows.link_counts
    keys_extend, values_extend = rows.attribute_keys.extend, rows.attribute_values.extend
    rejected = 0
    rejections: list[str] = []

    for r_index, resource_spans in enumerate(request.resource_spans):
        resource_attributes = resource_spans.resource.attributes
        for scope_spans in resource_spans.scope_spans:
            rows.add_group(resource_attributes, scope_spans.scope.name, scope_spans.scope.version)
            group_start = len(starts)
            for s_index, span in enumerate(scope_spans.spans):
                trace_id = span.trace_id
                span_id = span.span_id
                parent = span.parent_span_id
                start = span.start_time_unix_nano
                end = span.end_time_unix_nano
                if (
                    len(trace_id) != 16
                    or len(span_id) != 8
                    or start == 0
                    or end < start
                    or (trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN or (parent and len(parent) != 8))
                ):
                    rejected += 1
                    if len(rejections) < MAX_REJECTION_MESSAGES:
                        reason = _reject_reason(trace_id, span_id, parent, start, end)
                        rejections.append(f"resource_spans[{r_index}] span {s_index} {span.name[:80]!r}: {reason}")
                    continue
                starts.append(start)
                ends.append(end)
                trace_ids.append(trace_id)
                span_ids.append(span_id)
                parents.append(parent)
                trace_states.append(span.trace_state)
                names.append(span.name)
                kinds.append(span.kind)
                attributes = span.attributes
                if attributes:
                    keys = list(attributes)
                    keys_extend(keys)
                    values_extend(map(attributes.__getitem__, keys))
                attribute_counts.append(len(attributes))
                status = span.status
                status_codes.append(status.code)
                status_messages.append(status.message)
                events = span.events
                if events:
                    rows.add_events(events)
                else:
                    event_counts.append(0)
                links = span.links
                if links:
                    rows.add_links(links)
                else:
                    link_counts.append(0)
            rows.group_sizes.append(len(starts) - group_start)

    return SpanBatch(table=rows.to_table(), rejected=rejected, rejections=rejections)


def hex_id(raw: str, where: str) -> bytes:
    """Parse a hex id (for callers outside request decoding); raises DecodeError naming `where`."""
    try:
        return binascii.unhexlify(raw)
    except (binascii.Error, ValueError):
        raise DecodeError(f"{where} {raw[:40]!r} is not a hex string") from None
