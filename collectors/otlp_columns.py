"""Mapping a protobuf OTLP request column by column, by protobuf's own merge rule.

A protobuf parser that meets a singular message field more than once merges the occurrences, and the
values of a repeated field from every occurrence are concatenated. So a view of the request in which
``ScopeSpans.spans`` is one message whose fields are all repeated parses (by upb, from descriptors derived
from opentelemetry-proto's) into one message per scope that holds columns: every span's trace id in one
list, every start time in another, every attribute key and value of every span in two more. No Python
object is made per span for those.

Merging forgets where one span ends and the next begins. Fields that every valid span writes exactly once
(ids, times) line up by themselves. For the rest, a second, narrow view in which spans stay separate
messages says how many attributes, events and links each span has, and gives a span's own value of a field
that only some spans write (a root has no parent; an unset status is not written), read only for a scope
whose spans differ in that. Columns line up only if no span writes a field twice, which protobuf allows
(the last one counts) and no SDK does: the narrow view, serialised again, is then exactly as long as the
request. (Inside an attribute that check does not look: an attribute whose key is written twice, in the same
scope as one without a key, which the specification forbids, would shift the keys by one.) Whenever anything
is unusual (an invalid id or time, an attribute key written twice in one span, a string that is not UTF-8),
:func:`map_columns` answers None and the caller maps the request span by span, which also says what was
wrong.
"""

from __future__ import annotations

import functools
from operator import attrgetter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError as ProtobufDecodeError
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from collectors.otlp_rows import SpanRows
from collectors.otlp_view import view_request_class

_PACKAGE = "touchpoint.columns"
_F = descriptor_pb2.FieldDescriptorProto
_SPAN_FIELDS = {f.name: (f.number, f.type) for f in trace_pb2.Span.DESCRIPTOR.fields}
# fields every valid span writes exactly once: their columns line up by themselves
_ALWAYS = ("trace_id", "span_id", "start_time_unix_nano", "end_time_unix_nano")
_ENCODED = ("events", "links", "status")  # left encoded in both views


def _number(message: Any, name: str) -> int:
    return message.DESCRIPTOR.fields_by_name[name].number


def _add_message(file: descriptor_pb2.FileDescriptorProto, name: str) -> descriptor_pb2.DescriptorProto:
    message = file.message_type.add()
    message.name = name
    return message


def _add_field(
    message: descriptor_pb2.DescriptorProto, name: str, number: int, kind: int, repeated: bool, type_name: str = ""
) -> None:
    label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    added = message.field.add(name=name, number=number, label=label, type=kind)
    if type_name:
        added.type_name = f".{_PACKAGE}.{type_name}"


def _columns_file() -> descriptor_pb2.FileDescriptorProto:
    """The columns view: in each scope one span message whose fields are all repeated; its attributes one
    message of two parallel lists; events, links and status left encoded. proto3, so strings are checked
    to be UTF-8 as they are parsed."""
    file = descriptor_pb2.FileDescriptorProto(name="touchpoint_columns.proto", package=_PACKAGE, syntax="proto3")
    pairs = _add_message(file, "KeyValues")
    _add_field(pairs, "key", _number(common_pb2.KeyValue, "key"), _F.TYPE_STRING, True)
    _add_field(pairs, "value", _number(common_pb2.KeyValue, "value"), _F.TYPE_BYTES, True)
    resource = _add_message(file, "Resource")
    entry = resource.nested_type.add(name="AttributesEntry")
    entry.options.map_entry = True
    _add_field(entry, "key", 1, _F.TYPE_STRING, False)
    _add_field(entry, "value", 2, _F.TYPE_BYTES, False)
    attributes = _number(resource_pb2.Resource, "attributes")
    _add_field(resource, "attributes", attributes, _F.TYPE_MESSAGE, True, "Resource.AttributesEntry")
    scope = _add_message(file, "Scope")
    _add_field(scope, "name", _number(common_pb2.InstrumentationScope, "name"), _F.TYPE_STRING, False)
    _add_field(scope, "version", _number(common_pb2.InstrumentationScope, "version"), _F.TYPE_STRING, False)
    span = _add_message(file, "SpanColumns")
    for name, (number, kind) in _SPAN_FIELDS.items():
        if name == "attributes":
            _add_field(span, name, number, _F.TYPE_MESSAGE, False, "KeyValues")
        elif name in _ENCODED:
            _add_field(span, name, number, _F.TYPE_BYTES, True)
        else:
            _add_field(span, name, number, _F.TYPE_INT32 if kind == _F.TYPE_ENUM else kind, True)
    _add_request(file, "Columns", "SpanColumns", merged=True, scope="Scope", resource="Resource")
    return file


def _shape_file() -> descriptor_pb2.FileDescriptorProto:
    """The narrow view: spans one by one, attributes, events and links each left encoded. proto2, so that a
    field written with its default value (an empty status, as SDKs write for an unset one) is kept and written
    again: serialised, the view is then exactly as long as the request unless a span writes a field twice."""
    file = descriptor_pb2.FileDescriptorProto(name="touchpoint_span_shape.proto", package=_PACKAGE, syntax="proto2")
    span = _add_message(file, "SpanShape")
    for name, (number, kind) in _SPAN_FIELDS.items():
        if name in _ENCODED or name == "attributes":
            _add_field(span, name, number, _F.TYPE_BYTES, name != "status")
        else:
            _add_field(span, name, number, _F.TYPE_INT32 if kind == _F.TYPE_ENUM else kind, False)
    _add_request(file, "Shape", "SpanShape", merged=False)
    return file


def _add_request(
    file: descriptor_pb2.FileDescriptorProto, view: str, span: str, merged: bool, scope: str = "", resource: str = ""
) -> None:
    """{view}Request > {view}ResourceSpans > {view}ScopeSpans > `span` (one merged message per scope, or
    repeated), with the scope and resource where they are named."""
    scope_spans = _add_message(file, f"{view}ScopeSpans")
    if scope:
        _add_field(scope_spans, "scope", _number(trace_pb2.ScopeSpans, "scope"), _F.TYPE_MESSAGE, False, scope)
    _add_field(scope_spans, "spans", _number(trace_pb2.ScopeSpans, "spans"), _F.TYPE_MESSAGE, not merged, span)
    resource_spans = _add_message(file, f"{view}ResourceSpans")
    if resource:
        number = _number(trace_pb2.ResourceSpans, "resource")
        _add_field(resource_spans, "resource", number, _F.TYPE_MESSAGE, False, resource)
    number = _number(trace_pb2.ResourceSpans, "scope_spans")
    _add_field(resource_spans, "scope_spans", number, _F.TYPE_MESSAGE, True, f"{view}ScopeSpans")
    request = _add_message(file, f"{view}Request")
    number = _number(trace_service_pb2.ExportTraceServiceRequest, "resource_spans")
    _add_field(request, "resource_spans", number, _F.TYPE_MESSAGE, True, f"{view}ResourceSpans")


@functools.cache
def _view_classes() -> tuple[type, type]:
    """(columns view, narrow view) of ExportTraceServiceRequest; same wire format, built on first use."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_columns_file())
    pool.Add(_shape_file())
    return tuple(  # type: ignore[return-value]
        message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{view}Request"))
        for view in ("Columns", "Shape")
    )


def warm_up() -> None:
    """Build the views now rather than on the first request."""
    _view_classes()
    view_request_class()


class _Unusual(Exception):
    """The request needs mapping span by span."""


# fields a valid span may leave out, with the value that then counts
_SOMETIMES = {"parent_span_id": b"", "trace_state": "", "name": "", "kind": 0, "status": b""}
_COUNTED = ("attributes", "events", "links")


def map_columns(body: bytes) -> SpanRows | None:
    """The rows of a protobuf ExportTraceServiceRequest, mapped column by column; None when the request must be
    mapped span by span instead (it does not decode, holds a span to refuse, or is encoded unusually)."""
    columns_class, shape_class = _view_classes()
    try:
        columns = columns_class.FromString(body)
        shape = shape_class.FromString(body)
    except (ProtobufDecodeError, RuntimeError, ValueError):
        return None
    if len(shape.SerializeToString()) != len(body):
        return None  # a field written twice (or a default written out): only span by span reads it right
    rows = SpanRows()
    try:
        for resource_columns, resource_shape in zip(columns.resource_spans, shape.resource_spans, strict=True):
            attributes = resource_columns.resource.attributes
            for scope_columns, scope_shape in zip(
                resource_columns.scope_spans, resource_shape.scope_spans, strict=True
            ):
                rows.add_group(attributes, scope_columns.scope.name, scope_columns.scope.version)
                _add_spans(rows, scope_columns.spans, scope_shape.spans)
        _check_ids_and_times(rows)
    except _Unusual:
        return None
    return rows


def _add_spans(rows: SpanRows, spans: Any, shapes: Any) -> None:
    """One scope's spans: `spans` the merged columns, `shapes` the spans one by one (read only when needed)."""
    n = len(shapes)
    rows.group_sizes.append(n)
    if not n:
        return
    if any(len(getattr(spans, name)) != n for name in _ALWAYS):
        raise _Unusual
    pairs = spans.attributes
    if len(pairs.key) != len(pairs.value) or (not pairs.key and spans.HasField("attributes")):
        raise _Unusual  # an attribute without its key or value
    rows.trace_ids.extend(spans.trace_id)
    rows.span_ids.extend(spans.span_id)
    rows.starts.extend(spans.start_time_unix_nano)
    rows.ends.extend(spans.end_time_unix_nano)

    # what only some spans write, and how many attributes, events and links each has: one pass over the spans
    columns = {"attributes": pairs.key, "events": spans.events, "links": spans.links}
    columns.update((name, getattr(spans, name)) for name in _SOMETIMES)
    needed = [name for name, column in columns.items() if column and (len(column) != n or name in _COUNTED)]
    per_span: dict[str, Any] = {}
    if len(needed) == 1:
        per_span[needed[0]] = list(map(attrgetter(needed[0]), shapes))
    elif needed:
        per_span = dict(zip(needed, zip(*map(attrgetter(*needed), shapes), strict=True), strict=True))

    def values(name: str) -> list[Any]:
        if name in per_span:
            return list(per_span[name])
        return list(columns[name]) if columns[name] else [_SOMETIMES[name]] * n

    def counts(name: str) -> list[int]:
        return list(map(len, per_span[name])) if name in per_span else [0] * n

    rows.parents.extend(values("parent_span_id"))
    rows.trace_states.extend(values("trace_state"))
    rows.names.extend(values("name"))
    rows.kinds.extend(values("kind"))
    _add_statuses(rows, values("status"))
    attribute_counts = counts("attributes")
    if sum(attribute_counts) != len(pairs.key):
        raise _Unusual  # an attribute without a key, or with two
    rows.attribute_counts.extend(attribute_counts)
    rows.attribute_keys.extend(pairs.key)
    rows.attribute_values.extend(pairs.value)
    _add_parts(rows.event_counts, rows.add_events, spans.events, counts("events"), _view_class("Event"))
    _add_parts(rows.link_counts, rows.add_links, spans.links, counts("links"), _view_class("Link"))


def _check_ids_and_times(rows: SpanRows) -> None:
    """Raise _Unusual if a span has an id of the wrong length or all zero, no start, or ends before it starts:
    the span-by-span mapping refuses that span and says why."""
    n = len(rows.starts)
    trace_ids, span_ids = b"".join(rows.trace_ids), b"".join(rows.span_ids)
    if len(trace_ids) != 16 * n or len(span_ids) != 8 * n:
        raise _Unusual
    if not (
        np.frombuffer(trace_ids, np.uint8).reshape(n, 16).any(axis=1).all()
        and np.frombuffer(span_ids, np.uint8).reshape(n, 8).any(axis=1).all()
    ):
        raise _Unusual
    parents = np.fromiter(map(len, rows.parents), dtype=np.int64, count=n)
    starts = np.array(rows.starts, dtype=np.uint64)
    if (
        not starts.all()
        or (np.array(rows.ends, dtype=np.uint64) < starts).any()
        or ((parents != 0) & (parents != 8)).any()
    ):
        raise _Unusual


_STATUS_UNSET = (0, "")


def _add_statuses(rows: SpanRows, statuses: list[Any]) -> None:
    """Each span's status, encoded (b"" for none)."""
    decoded: dict[bytes, tuple[int, str]] = {b"": _STATUS_UNSET}
    for status in set(statuses) - decoded.keys():
        try:
            parsed = trace_pb2.Status.FromString(status)
        except (ProtobufDecodeError, RuntimeError, ValueError):
            raise _Unusual from None
        decoded[status] = (parsed.code, parsed.message)
    codes, messages = zip(*map(decoded.__getitem__, statuses), strict=True)
    rows.status_codes.extend(codes)
    rows.status_messages.extend(messages)


def _add_parts(counts: list[int], add: Any, encoded: Any, per_span: list[int], view: type) -> None:
    """A scope's events or links: `encoded` all of them in span order, `per_span` how many each span has."""
    if not encoded:
        counts.extend(per_span)
        return
    try:
        parts = [view.FromString(part) for part in encoded]
    except (ProtobufDecodeError, RuntimeError, ValueError):
        raise _Unusual from None
    taken = 0
    for count in per_span:
        add(parts[taken : taken + count])
        taken += count


@functools.cache
def _view_class(name: str) -> type:
    """Span.Event or Span.Link of collectors.otlp_view (attributes as maps)."""
    span = view_request_class().DESCRIPTOR.fields_by_name["resource_spans"].message_type
    span = span.fields_by_name["scope_spans"].message_type.fields_by_name["spans"].message_type
    return message_factory.GetMessageClass(span.nested_types_by_name[name])


def unique_attribute_keys(rows: SpanRows) -> pa.Array | None:
    """`rows.attribute_keys` as an Arrow array, or None if a span has a key twice (a map keeps the last)."""
    keys = pa.array(rows.attribute_keys, pa.string())
    if not len(keys):
        return keys
    encoded = pc.dictionary_encode(keys)
    distinct = len(encoded.dictionary)
    span_of_key = np.repeat(np.arange(len(rows.attribute_counts), dtype=np.int64), rows.attribute_counts)
    combined = span_of_key * distinct + encoded.indices.to_numpy()
    if len(rows.attribute_counts) * distinct <= 1 << 22:
        twice = np.bincount(combined, minlength=len(rows.attribute_counts) * distinct).max() > 1
    else:
        twice = len(np.unique(combined)) != len(combined)
    return None if twice else keys
