"""What an event-log reader hands on (`Event`, `Malformed`) and where it finds fields (`LogMapping`).

Readers (XES, CSV) turn a file into a stream of `Event | Malformed`; `to_spans` turns events into step
spans. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Literal, TypeAlias

AttributeValue: TypeAlias = str | int | float | bool | tuple[str | int | float | bool, ...]
"""A span attribute value: a scalar or a homogeneous tuple of scalars (an OTLP array)."""

Attributes: TypeAlias = tuple[tuple[str, AttributeValue], ...]
"""Attributes in the order the source gave them, as (key, value) pairs."""

LogFormat: TypeAlias = Literal["xes", "csv"]

START = "start"
COMPLETE = "complete"
ABORTS = frozenset({"ate_abort", "pi_abort"})
"""Transitions that end a started activity unsuccessfully: the span gets an error status."""

TRANSITIONS = frozenset(
    {
        "schedule",
        "assign",
        "reassign",
        "start",
        "suspend",
        "resume",
        "complete",
        "autoskip",
        "manualskip",
        "withdraw",
        "ate_abort",
        "pi_abort",
    }
)
"""The XES standard lifecycle model's transitions (lowercase). Others are malformed."""


def transition(text: str) -> str | None:
    """The XES transition `text` names (case-insensitive), or None if it names none."""
    folded = text.strip().lower()
    return folded if folded in TRANSITIONS else None


def unknown_transition(field: str, text: str) -> str:
    """The problem text for a lifecycle value that is not an XES transition."""
    return f"{field} '{text}' is not a lifecycle transition (expected start or complete)"


@dataclass(frozen=True, slots=True)
class Event:
    """One activity occurrence of one case, as read from the log.

    `timestamp` is timezone-aware: the completion time, or for `lifecycle == "start"` the start time.
    `start` is a start time given on the same row (a CSV start-timestamp column), else None.
    `lifecycle` is a lowercase XES transition, None when the log has no lifecycle (read as complete).
    `index` is the event's position within its case, counting every event of the case the reader saw
    (malformed ones too), so ids derived from it survive fixing a bad row and re-importing.
    """

    source: str
    line: int
    case_id: str
    index: int
    activity: str
    timestamp: datetime
    lifecycle: str | None = None
    start: datetime | None = None
    resource: str | None = None
    channel: str | None = None
    attributes: Attributes = ()


@dataclass(frozen=True, slots=True)
class Malformed:
    """A row or event that was not imported, where it is and why.

    `problem` names the field and the bad value; `str()` gives the full message, e.g.
    ``tickets.csv:57 timestamp '2021-13-01' is not a date (expected ISO 8601 or --time-format)``.
    `events_skipped` is how many events this problem cost (a trace without a case id costs all of its
    events; a truncated file costs the events of the trace it ended in).
    """

    source: str
    line: int
    field: str
    problem: str
    events_skipped: int = 1

    def __str__(self) -> str:
        return f"{self.source}:{self.line} {self.problem}"


@dataclass(frozen=True, slots=True)
class LogMapping:
    """Where a log keeps each field, and how to read its timestamps.

    For CSV the names are column headers (None = detect from common names such as ``Case ID`` or
    ``case:concept:name``). For XES they are attribute keys (None = the XES standard keys:
    trace ``concept:name``, event ``concept:name``, ``time:timestamp``, ``lifecycle:transition``,
    ``org:resource``). `time_format` is a strptime format; None means ISO 8601. Timestamps without an
    offset are read in `timezone` (None = UTC). `delimiter` None means sniffed from the header.
    """

    case: str | None = None
    activity: str | None = None
    timestamp: str | None = None
    start_timestamp: str | None = None
    lifecycle: str | None = None
    resource: str | None = None
    channel: str | None = None
    time_format: str | None = None
    timezone: tzinfo | None = None
    delimiter: str | None = None
    encoding: str = "utf-8-sig"
