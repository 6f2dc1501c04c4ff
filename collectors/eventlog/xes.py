"""Reading an XES event log (IEEE 1849) into events, streaming, with the line of each problem.

The file is fed to expat in chunks and no tree is built: memory holds the trace being read and its
events, never the log. A trace's events are handed on when the trace closes, because the case id
(the trace's ``concept:name``) may come after them. Typed attributes keep their type (int, float,
boolean; dates and ids as text); nested attributes are flattened as ``parent.child``, lists become
arrays. Trace attributes other than the case id are added to each event as ``case:<key>``, as pm4py does.
Log-level attributes, globals, classifiers and extensions are read past.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO
from xml.parsers import expat

from collectors.eventlog.errors import LogUnreadable
from collectors.eventlog.model import (
    AttributeValue,
    Event,
    LogMapping,
    Malformed,
    transition,
    unknown_transition,
)
from collectors.eventlog.timestamps import not_a_date, parse_timestamp

CHUNK_BYTES = 256 * 1024
SCALAR_TAGS = frozenset({"string", "date", "int", "float", "boolean", "id"})
ATTRIBUTE_TAGS = SCALAR_TAGS | {"list", "container"}
DEFAULT_KEYS = {
    "case": "concept:name",
    "activity": "concept:name",
    "timestamp": "time:timestamp",
    "lifecycle": "lifecycle:transition",
    "resource": "org:resource",
}


def read_xes(stream: BinaryIO, source: str, mapping: LogMapping) -> Iterator[Event | Malformed]:
    """Each event of the XES document in `stream` as an Event, or Malformed saying what is wrong.

    Raises LogUnreadable if the stream is empty or is not XES from its start. Problems later on are
    yielded: a bad event is skipped; XML that breaks off (a truncated file) ends the reading with one
    Malformed that counts the events of the unfinished trace.
    """
    parser = expat.ParserCreate()
    builder = _LogBuilder(source, _Keys.of(mapping), mapping, parser)
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    # read1 hands on what a gzip stream decompressed so far even when the next read will fail (truncated).
    read = getattr(stream, "read1", stream.read)
    final = False
    while not final:
        try:
            chunk = read(CHUNK_BYTES)
        except (EOFError, OSError, zlib.error) as err:
            if not builder.saw_root:
                raise LogUnreadable(f"{source}: cannot read the file ({err})") from None
            yield from builder.take()
            yield builder.broken(f"compressed data ends early or is corrupt ({err}); reading stopped here")
            return
        final = not chunk
        try:
            parser.Parse(chunk, final)
        except expat.ExpatError as err:
            yield from builder.take()
            if not builder.saw_root:
                raise LogUnreadable(
                    f"{source}:{err.lineno} is not XES: {expat.ErrorString(err.code)}"
                ) from None
            if final:
                yield builder.broken("file ends before </log> (truncated?)")
            else:
                column = err.offset + 1
                yield builder.broken(
                    f"XML is not well-formed ({expat.ErrorString(err.code)}, column {column}); "
                    "reading stopped here"
                )
            return
        yield from builder.take()


@dataclass(frozen=True, slots=True)
class _Keys:
    case: str
    activity: str
    timestamp: str
    lifecycle: str
    resource: str
    start: str | None
    channel: str | None

    @classmethod
    def of(cls, mapping: LogMapping) -> _Keys:
        return cls(
            case=mapping.case or DEFAULT_KEYS["case"],
            activity=mapping.activity or DEFAULT_KEYS["activity"],
            timestamp=mapping.timestamp or DEFAULT_KEYS["timestamp"],
            lifecycle=mapping.lifecycle or DEFAULT_KEYS["lifecycle"],
            resource=mapping.resource or DEFAULT_KEYS["resource"],
            start=mapping.start_timestamp,
            channel=mapping.channel,
        )

    def consumed(self) -> frozenset[str]:
        """Event attribute keys that become event fields rather than span attributes."""
        keys = {self.activity, self.timestamp, self.lifecycle, self.resource, self.start, self.channel}
        return frozenset(k for k in keys if k)


@dataclass(slots=True)
class _Element:
    """A trace or an event being read: its attributes, and the lines of those that are event fields."""

    line: int
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Attribute:
    key: str
    kind: str
    value: AttributeValue
    line: int
    children: list[tuple[str, AttributeValue]] | None = None

    def flattened(self) -> list[tuple[str, AttributeValue]]:
        """(key, value) pairs for this attribute: a list as one array, nested ones as ``key.child``."""
        children = self.children or []
        if self.kind == "list":
            return [(self.key, tuple(v for _, v in children if not isinstance(v, tuple)))]
        nested = [(f"{self.key}.{k}", v) for k, v in children]
        return nested if self.kind == "container" else [(self.key, self.value), *nested]

    def adopt(self, pairs: list[tuple[str, AttributeValue]]) -> None:
        """Take a closed child's pairs: a list keeps only the child's own value, others keep all."""
        if self.children is None:
            self.children = []
        self.children.extend(pairs[:1] if self.kind == "list" else pairs)


class _LogBuilder:
    """expat handlers that assemble traces and hand on their events; `take()` empties what is ready."""

    def __init__(self, source: str, keys: _Keys, mapping: LogMapping, parser: expat.XMLParserType) -> None:
        self.source = source
        self.keys = keys
        self.consumed = keys.consumed()
        self.mapping = mapping
        self.parser = parser
        self.saw_root = False
        self.tags: list[str] = []
        self.frames: list[_Attribute | None] = []
        self.field_keys = self.consumed | {keys.case}
        self.trace: _Element | None = None
        self.trace_events: list[_Element] = []
        self.event: _Element | None = None
        self.ready: list[Event | Malformed] = []

    def take(self) -> list[Event | Malformed]:
        ready, self.ready = self.ready, []
        return ready

    def broken(self, problem: str) -> Malformed:
        """The Malformed for a file that cannot be read further, counting the events it strands."""
        lost = len(self.trace_events) + (1 if self.event is not None and self.trace is not None else 0)
        if self.trace is not None:
            problem += (
                f"; {lost} event(s) of the unfinished trace starting at line {self.trace.line} "
                "were not imported"
            )
        return Malformed(self.source, self.parser.CurrentLineNumber, "xml", problem, events_skipped=lost)

    def start(self, name: str, attrs: dict[str, str]) -> None:
        tag = name.rpartition(":")[2]
        tags = self.tags
        if tag in ATTRIBUTE_TAGS and tags:
            frames = self.frames
            if frames:
                collect = frames[-1] is not None
            else:
                parent = tags[-1]
                collect = (parent == "event" and self.event is not None) or (
                    parent == "trace" and self.trace is not None
                )
            value = attrs.get("value", "")
            frames.append(
                _Attribute(
                    attrs.get("key", ""),
                    tag,
                    value if tag == "string" else _scalar(tag, value),
                    self.parser.CurrentLineNumber,
                )
                if collect
                else None
            )
            tags.append(tag)
            return
        outer = tags[-1] if tags else None
        tags.append(tag)
        line = self.parser.CurrentLineNumber
        if outer is None:
            if tag != "log":
                raise LogUnreadable(f"{self.source}:{line} root element is <{tag}>, expected <log> (not XES)")
            self.saw_root = True
        elif tag == "trace" and outer == "log":
            self.trace = _Element(line)
            self.trace_events = []
        elif tag == "event" and outer in ("trace", "log"):
            self.event = _Element(line)

    def end(self, name: str) -> None:
        tag = self.tags.pop()
        if tag in ATTRIBUTE_TAGS and self.tags:
            attribute = self.frames.pop()
            if attribute is not None:
                self._close_attribute(attribute)
            return
        parent = self.tags[-1] if self.tags else None
        if tag == "event" and self.event is not None:
            if parent == "trace":
                self.trace_events.append(self.event)
            else:
                self.ready.append(
                    Malformed(self.source, self.event.line, "case id", "event outside a trace has no case id")
                )
            self.event = None
        elif tag == "trace" and self.trace is not None:
            self._close_trace(self.trace, self.trace_events)
            self.trace, self.trace_events = None, []

    def _close_attribute(self, attribute: _Attribute) -> None:
        pairs = (
            [(attribute.key, attribute.value)]
            if attribute.children is None and attribute.kind in SCALAR_TAGS
            else attribute.flattened()
        )
        if self.frames:
            holder = self.frames[-1]
            assert holder is not None  # children of an ignored attribute are ignored too
            holder.adopt(pairs)
            return
        owner = self.event if self.event is not None else self.trace
        assert owner is not None  # attributes are only collected inside a trace or an event
        for key, value in pairs:
            owner.attributes[key] = value
            if key in self.field_keys:
                owner.lines[key] = attribute.line

    def _close_trace(self, trace: _Element, events: list[_Element]) -> None:
        case_id = _text(trace.attributes.get(self.keys.case))
        if not case_id:
            if events:
                self.ready.append(
                    Malformed(
                        self.source,
                        trace.line,
                        "case id",
                        f"trace has no {self.keys.case} (case id); its {len(events)} event(s) were skipped",
                        events_skipped=len(events),
                    )
                )
            return
        case_attributes = tuple((f"case:{k}", v) for k, v in trace.attributes.items() if k != self.keys.case)
        for index, element in enumerate(events):
            self.ready.append(self._event(case_id, index, element, case_attributes))

    def _event(
        self,
        case_id: str,
        index: int,
        element: _Element,
        case_attributes: tuple[tuple[str, AttributeValue], ...],
    ) -> Event | Malformed:
        keys, values = self.keys, element.attributes
        activity = _text(values.get(keys.activity))
        if not activity:
            return self._bad(element, keys.activity, f"event has no {keys.activity} (activity)")
        timestamp = self._moment(element, keys.timestamp)
        if isinstance(timestamp, Malformed):
            return timestamp
        start = self._moment(element, keys.start) if keys.start and keys.start in values else None
        if isinstance(start, Malformed):
            return start
        lifecycle = None
        if raw_lifecycle := _text(values.get(keys.lifecycle)):
            lifecycle = transition(raw_lifecycle)
            if lifecycle is None:
                return self._bad(element, keys.lifecycle, unknown_transition(keys.lifecycle, raw_lifecycle))
        return Event(
            source=self.source,
            line=element.line,
            case_id=case_id,
            index=index,
            activity=activity,
            timestamp=timestamp,
            lifecycle=lifecycle,
            start=start,
            resource=_text(values.get(keys.resource)) or None,
            channel=(_text(values.get(keys.channel)) or None) if keys.channel else None,
            attributes=tuple((k, v) for k, v in values.items() if k not in self.consumed) + case_attributes,
        )

    def _moment(self, element: _Element, key: str) -> datetime | Malformed:
        raw = _text(element.attributes.get(key))
        if not raw:
            return self._bad(element, key, f"event has no {key}")
        moment = parse_timestamp(raw, self.mapping.time_format, self.mapping.timezone)
        if moment is None:
            return self._bad(element, key, not_a_date(key, raw, self.mapping.time_format, cli_hint=False))
        return moment

    def _bad(self, element: _Element, key: str, problem: str) -> Malformed:
        return Malformed(self.source, element.lines.get(key, element.line), key, problem)


def _scalar(kind: str, raw: str | None) -> AttributeValue:
    """An XES attribute's value in its declared type; a value that does not parse stays text."""
    text = raw or ""
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        return text
    if kind == "boolean" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def _text(value: AttributeValue | None) -> str:
    if value is None or isinstance(value, tuple):
        return ""
    return str(value).strip()
