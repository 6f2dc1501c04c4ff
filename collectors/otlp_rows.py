"""otel_traces rows as they are gathered from OTLP spans, and their one-step conversion to Arrow.

Both ways of mapping a request (span by span in collectors.otlp_mapping, column by column in
collectors.otlp_columns) fill the same flat lists of :class:`SpanRows`; :meth:`SpanRows.to_table` turns them
into one Arrow table shaped like otel_traces, as the collector's ClickHouse exporter writes it: ids as
lowercase hex, SpanKind as ``Server``/``Client``/…, StatusCode as ``Unset``/``Ok``/``Error``, attribute
values as strings, ``Duration`` in nanoseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from collectors.errors import DecodeError
from collectors.otlp_values import any_value_str
from collectors.otlp_view import any_values_to_strings, hex_fixed, hex_ids

SPAN_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
STATUS_CODES = ("Unset", "Ok", "Error")

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
class SpanRows:
    """The columns of a request's rows as flat lists, in span order.

    Per span: the fields below up to `status_messages`, and how many attributes, events and links it has.
    Per (resource, scope) group: the service, scope and resource attributes, and how many spans it holds.
    Attribute values stay encoded AnyValue messages until :meth:`to_table` renders them all at once.
    Times are nanoseconds since the epoch.
    """

    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    trace_ids: list[bytes] = field(default_factory=list)
    span_ids: list[bytes] = field(default_factory=list)
    parents: list[bytes] = field(default_factory=list)
    trace_states: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    kinds: list[int] = field(default_factory=list)
    status_codes: list[int] = field(default_factory=list)
    status_messages: list[str] = field(default_factory=list)
    attribute_counts: list[int] = field(default_factory=list)
    attribute_keys: list[str] = field(default_factory=list)
    attribute_values: list[bytes] = field(default_factory=list)
    # per (resource, scope) group
    service_positions: list[int | None] = field(default_factory=list)  # of service.name in resource_values
    resource_counts: list[int] = field(default_factory=list)
    resource_keys: list[str] = field(default_factory=list)
    resource_values: list[bytes] = field(default_factory=list)
    scope_names: list[str] = field(default_factory=list)
    scope_versions: list[str] = field(default_factory=list)
    group_sizes: list[int] = field(default_factory=list)
    # events and links: per span a count, per event or link its fields
    event_counts: list[int] = field(default_factory=list)
    event_times: list[int] = field(default_factory=list)
    event_names: list[str] = field(default_factory=list)
    event_attribute_counts: list[int] = field(default_factory=list)
    event_keys: list[str] = field(default_factory=list)
    event_values: list[bytes] = field(default_factory=list)
    link_counts: list[int] = field(default_factory=list)
    link_trace_ids: list[bytes] = field(default_factory=list)
    link_span_ids: list[bytes] = field(default_factory=list)
    link_trace_states: list[str] = field(default_factory=list)
    link_attribute_counts: list[int] = field(default_factory=list)
    link_keys: list[str] = field(default_factory=list)
    link_values: list[bytes] = field(default_factory=list)

    def add_group(self, resource_attributes: Any, scope_name: str, scope_version: str) -> None:
        """Open a (resource, scope) group; `resource_attributes` maps keys to encoded AnyValue messages."""
        keys = list(resource_attributes.keys())
        self.service_positions.append(
            len(self.resource_keys) + keys.index("service.name") if "service.name" in keys else None
        )
        self.resource_keys.extend(keys)
        self.resource_values.extend(map(resource_attributes.__getitem__, keys))
        self.resource_counts.append(len(keys))
        self.scope_names.append(scope_name)
        self.scope_versions.append(scope_version)

    def add_events(self, events: Any) -> None:
        """One span's events (view messages whose attributes map keys to encoded AnyValue messages)."""
        self.event_counts.append(len(events))
        for event in events:
            self.event_times.append(event.time_unix_nano)
            self.event_names.append(event.name)
            attributes = event.attributes
            self.event_keys.extend(attributes.keys())
            self.event_values.extend(attributes.values())
            self.event_attribute_counts.append(len(attributes))

    def add_links(self, links: Any) -> None:
        """One span's links (view messages, as for :meth:`add_events`)."""
        self.link_counts.append(len(links))
        for link in links:
            self.link_trace_ids.append(link.trace_id)
            self.link_span_ids.append(link.span_id)
            self.link_trace_states.append(link.trace_state)
            attributes = link.attributes
            self.link_keys.extend(attributes.keys())
            self.link_values.extend(attributes.values())
            self.link_attribute_counts.append(len(attributes))

    def to_table(self, attribute_keys: pa.Array | None = None) -> pa.Table:
        """The rows as one Arrow table of ARROW_SCHEMA; raises DecodeError on an attribute value that is not
        valid UTF-8. `attribute_keys`, if given, is `attribute_keys` already as an Arrow array."""
        n = len(self.starts)
        group_of_span = pa.array(np.repeat(np.arange(len(self.group_sizes), dtype=np.int32), self.group_sizes))
        starts = pa.array(self.starts, pa.uint64())
        events = _offsets(self.event_counts)
        links = _offsets(self.link_counts)
        if attribute_keys is None:
            attribute_keys = pa.array(self.attribute_keys, pa.string())
        resource_values = strings(self.resource_values)
        services = resource_values.take(pa.array(self.service_positions, pa.int64())).fill_null("")
        resource_attributes = _map_array(self.resource_counts, self.resource_keys, resource_values)
        return pa.Table.from_arrays(
            [
                starts.cast(pa.int64()).cast(_TS),
                hex_fixed(b"".join(self.trace_ids), n, 16),
                hex_fixed(b"".join(self.span_ids), n, 8),
                hex_ids(self.parents),
                pa.array(self.trace_states, pa.string()),
                pa.array(self.names, pa.string()),
                _lookup(self.kinds, SPAN_KINDS),
                services.take(group_of_span),
                resource_attributes.take(group_of_span),
                pa.array(self.scope_names, pa.string()).take(group_of_span),
                pa.array(self.scope_versions, pa.string()).take(group_of_span),
                _map_array(self.attribute_counts, attribute_keys, strings(self.attribute_values)),
                pc.subtract(pa.array(self.ends, pa.uint64()), starts),
                _lookup(self.status_codes, STATUS_CODES),
                pa.array(self.status_messages, pa.string()),
                pa.ListArray.from_arrays(events, pa.array(self.event_times, pa.uint64()).cast(pa.int64()).cast(_TS)),
                pa.ListArray.from_arrays(events, pa.array(self.event_names, pa.string())),
                pa.ListArray.from_arrays(
                    events, _map_array(self.event_attribute_counts, self.event_keys, strings(self.event_values))
                ),
                pa.ListArray.from_arrays(links, hex_ids(self.link_trace_ids)),
                pa.ListArray.from_arrays(links, hex_ids(self.link_span_ids)),
                pa.ListArray.from_arrays(links, pa.array(self.link_trace_states, pa.string())),
                pa.ListArray.from_arrays(
                    links, _map_array(self.link_attribute_counts, self.link_keys, strings(self.link_values))
                ),
            ],
            schema=ARROW_SCHEMA,
        )


def strings(values: list[bytes]) -> pa.Array:
    """Encoded AnyValue messages as the exporter's strings; raises DecodeError on invalid UTF-8."""
    try:
        return any_values_to_strings(values, any_value_str)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise DecodeError(f"an attribute value is not valid UTF-8: {exc}") from None


def _offsets(counts: list[int]) -> pa.Array:
    offsets = np.zeros(len(counts) + 1, dtype=np.int32)
    np.cumsum(np.asarray(counts, dtype=np.int32), out=offsets[1:])
    return pa.array(offsets)


def _lookup(codes: list[int], names: tuple[str, ...]) -> pa.Array:
    """Enum numbers to their names; numbers we do not know become the first name (Unspecified / Unset)."""
    index = np.asarray(codes, dtype=np.int64)
    index[(index < 0) | (index >= len(names))] = 0
    return pa.DictionaryArray.from_arrays(pa.array(index, pa.int32()), pa.array(names)).cast(pa.string())


def _map_array(counts: list[int], keys: list[str] | pa.Array, values: pa.Array) -> pa.Array:
    if not isinstance(keys, pa.Array):
        keys = pa.array(keys, pa.string())
    return pa.MapArray.from_arrays(_offsets(counts), keys, values, type=_MAP)
