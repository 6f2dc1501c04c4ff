"""What an event log means as spans: one trace per case, one step span per activity occurrence.

A case becomes a journey (``journey.id`` = case id) with a trace id derived from the source and the case
id; a span's id is derived from the source, the case id and the index of the event that opens it. The
same log imported twice therefore yields the same ids: a re-import can be told apart from new steps
(the storage keeps both copies; ids make them recognisable, not absent).

Start and complete events of the same case and activity are paired first-in first-out into one span.
A complete without a start (the usual complete-only log) becomes a zero-length span at its completion
time, so the waits between steps are the gaps between spans. An abort (``ate_abort``, ``pi_abort``)
ends a started activity with an error status. A start that is never completed is sent as a zero-length
span at its start, marked ``eventlog.unfinished``. Other transitions (schedule, assign, suspend, ...)
carry no step of their own and are counted, not sent.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from collectors.eventlog.model import ABORTS, COMPLETE, START, Attributes, AttributeValue, Event
from collectors.eventlog.timestamps import unix_nanos

ACTOR_TYPES = ("person", "process", "system")


@dataclass(frozen=True, slots=True)
class SpanOptions:
    """How events become spans.

    `source` names the system of record; it seeds the ids, so keep it stable across re-imports (the
    importer uses the service name). `actor_type` is set on every span; `bind_steps` adds
    ``blueprint.step`` = the activity's slug.
    """

    source: str
    actor_type: str = "person"
    bind_steps: bool = False


@dataclass(frozen=True, slots=True)
class StepSpan:
    """One step performed in one case: ids, name, times in Unix nanoseconds, attributes, error status."""

    trace_id: bytes
    span_id: bytes
    name: str
    start_ns: int
    end_ns: int
    attributes: Attributes
    error: str | None = None


def trace_id_for(source: str, case_id: str) -> bytes:
    """The 16-byte trace id of a case: stable for the same source and case id, never all zeros."""
    return _digest("trace", source, case_id, size=16)


def span_id_for(source: str, case_id: str, index: int) -> bytes:
    """The 8-byte span id of the step opened by the case's `index`-th event, never all zeros."""
    return _digest("span", source, case_id, str(index), size=8)


def step_slug(activity: str) -> str:
    """A blueprint step id for an activity name: ``Take in charge ticket`` -> ``take-in-charge-ticket``.

    Accents are folded to ASCII; a name with no letters or digits gets ``activity-`` and a short hash.
    """
    ascii_name = unicodedata.normalize("NFKD", activity).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug or "activity-" + hashlib.sha256(activity.encode()).hexdigest()[:8]


class StepSpanAssembler:
    """Pairs lifecycle events into step spans, event by event; `finish()` flushes unfinished starts.

    Memory holds only the starts still waiting for their completion. Counters: `ignored` (transition ->
    count of events that carry no step), `unfinished` (starts never completed).
    """

    def __init__(self, options: SpanOptions) -> None:
        self.options = options
        self.open: dict[tuple[str, str], deque[Event]] = {}
        self.ignored: Counter[str] = Counter()
        self.unfinished = 0

    def add(self, event: Event) -> list[StepSpan]:
        """The spans `event` completes (none for a start, which waits for its completion)."""
        lifecycle = event.lifecycle or COMPLETE
        key = (event.case_id, event.activity)
        if lifecycle == START:
            self.open.setdefault(key, deque()).append(event)
            return []
        if lifecycle == COMPLETE or lifecycle in ABORTS:
            error = None if lifecycle == COMPLETE else lifecycle
            opened = self._pop_open(key, event)
            if opened is not None:
                return [self._span(opened, event, opened.timestamp, error)]
            if error is not None:
                self.ignored[lifecycle] += 1
                return []
            return [self._span(event, event, event.start or event.timestamp)]
        self.ignored[lifecycle] += 1
        return []

    def spans(self, events: Iterable[Event]) -> Iterator[StepSpan]:
        """The step spans of `events`, in the order they complete, then the unfinished starts."""
        for event in events:
            yield from self.add(event)
        yield from self.finish()

    def finish(self) -> list[StepSpan]:
        """Zero-length spans for the starts never completed, marked ``eventlog.unfinished``."""
        spans = [
            self._span(start, start, start.timestamp, unfinished=True)
            for waiting in self.open.values()
            for start in waiting
        ]
        self.unfinished += len(spans)
        self.open.clear()
        return spans

    def _pop_open(self, key: tuple[str, str], closing: Event) -> Event | None:
        waiting = self.open.get(key)
        if not waiting or waiting[0].timestamp > closing.timestamp:
            return None
        opened = waiting.popleft()
        if not waiting:
            del self.open[key]
        return opened

    def _span(
        self,
        opening: Event,
        closing: Event,
        start: datetime,
        error: str | None = None,
        unfinished: bool = False,
    ) -> StepSpan:
        options = self.options
        attributes: dict[str, AttributeValue] = dict(opening.attributes)
        attributes.update(closing.attributes)
        attributes["journey.id"] = opening.case_id
        attributes["actor.type"] = options.actor_type
        resource = closing.resource or opening.resource
        if resource:
            attributes["actor.id"] = resource
        channel = closing.channel or opening.channel
        if channel:
            attributes["touchpoint.channel"] = channel
        if options.bind_steps:
            attributes["blueprint.step"] = step_slug(opening.activity)
        if unfinished:
            attributes["eventlog.unfinished"] = True
        return StepSpan(
            trace_id=trace_id_for(options.source, opening.case_id),
            span_id=span_id_for(options.source, opening.case_id, opening.index),
            name=opening.activity,
            start_ns=unix_nanos(start),
            end_ns=unix_nanos(closing.timestamp),
            attributes=tuple(attributes.items()),
            error=error,
        )


def events_to_spans(events: Iterable[Event], options: SpanOptions) -> Iterator[StepSpan]:
    """The step spans of `events` (see StepSpanAssembler.spans)."""
    return StepSpanAssembler(options).spans(events)


def _digest(kind: str, *parts: str, size: int) -> bytes:
    digest = hashlib.sha256("\x1f".join((f"touchpoint.eventlog.{kind}", *parts)).encode()).digest()[:size]
    return digest if any(digest) else digest[:-1] + b"\x01"
