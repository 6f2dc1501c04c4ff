"""Which CSV column holds which field: the user's flags first, then common names, else a clear error.

Common names are matched case- and punctuation-insensitively, so ``Case ID``, ``case_id`` and ``caseId``
all match ``caseid``; ``case:concept:name`` (the pm4py / XES-in-CSV spelling) matches too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from collectors.eventlog.errors import MappingError
from collectors.eventlog.model import LogMapping

# Normalised candidate names per role, best first. A role takes the first candidate the header has.
COMMON_NAMES: dict[str, tuple[str, ...]] = {
    "case": (
        "caseconceptname",
        "caseid",
        "casenumber",
        "case",
        "ticketid",
        "ticketnumber",
        "ticket",
        "incidentid",
        "incidentnumber",
        "incident",
        "requestid",
        "conversationid",
        "journeyid",
    ),
    "activity": (
        "conceptname",
        "activity",
        "activityname",
        "eventname",
        "event",
        "task",
        "taskname",
        "action",
        "step",
    ),
    "timestamp": (
        "timetimestamp",
        "timestamp",
        "completetimestamp",
        "completiontime",
        "endtimestamp",
        "endtime",
        "completedat",
        "completed",
        "end",
        "eventtime",
        "datetime",
        "time",
        "date",
    ),
    "start_timestamp": ("starttimestamp", "starttime", "startedat", "start"),
    "lifecycle": ("lifecycletransition", "lifecycle", "transition"),
    "resource": (
        "orgresource",
        "resource",
        "agent",
        "agentid",
        "assignee",
        "user",
        "userid",
        "operator",
        "performer",
        "employee",
    ),
    "channel": ("channel", "touchpointchannel", "contactchannel", "medium"),
}
REQUIRED = ("case", "activity", "timestamp")
FLAGS = {
    "case": "--case",
    "activity": "--activity",
    "timestamp": "--timestamp",
    "start_timestamp": "--start-timestamp",
    "lifecycle": "--lifecycle",
    "resource": "--resource",
    "channel": "--channel",
}
ROLE_WORDS = {
    "case": "case id",
    "activity": "activity",
    "timestamp": "timestamp",
    "start_timestamp": "start timestamp",
    "lifecycle": "lifecycle",
    "resource": "resource",
    "channel": "channel",
}


@dataclass(frozen=True, slots=True)
class Column:
    """A header column: its position and its name as written."""

    index: int
    name: str


@dataclass(frozen=True, slots=True)
class CsvColumns:
    """The columns of one CSV file by role; `extra` are the rest, kept as span attributes."""

    case: Column
    activity: Column
    timestamp: Column
    start_timestamp: Column | None
    lifecycle: Column | None
    resource: Column | None
    channel: Column | None
    extra: tuple[Column, ...]


def normalise(name: str) -> str:
    """A header name reduced to lowercase letters and digits, for matching common names."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def resolve_columns(header: Sequence[str], mapping: LogMapping, source: str) -> CsvColumns:
    """The columns for each role in `header`, from `mapping`'s names or the common names.

    Raises MappingError naming the flag to use when a required role has no column, or when a name given
    in `mapping` is not in the header (matched exactly, else case-insensitively).
    """
    columns = [Column(i, name.strip()) for i, name in enumerate(header)]
    chosen: dict[str, Column] = {}
    for role in FLAGS:
        wanted = getattr(mapping, role)
        if wanted is not None:
            chosen[role] = _named(columns, wanted, role, source)
    taken = {c.index for c in chosen.values()}
    for role, candidates in COMMON_NAMES.items():
        if role in chosen:
            continue
        found = _first_common(columns, candidates, taken)
        if found is not None:
            chosen[role] = found
            taken.add(found.index)
    missing = [role for role in REQUIRED if role not in chosen]
    if missing:
        role = missing[0]
        raise MappingError(
            f"{source}: no {ROLE_WORDS[role]} column found among {_listing(columns)}; "
            f"name it with {FLAGS[role]} COLUMN"
        )
    return CsvColumns(
        case=chosen["case"],
        activity=chosen["activity"],
        timestamp=chosen["timestamp"],
        start_timestamp=chosen.get("start_timestamp"),
        lifecycle=chosen.get("lifecycle"),
        resource=chosen.get("resource"),
        channel=chosen.get("channel"),
        extra=tuple(c for c in columns if c.index not in taken and c.name),
    )


def _named(columns: list[Column], wanted: str, role: str, source: str) -> Column:
    for column in columns:
        if column.name == wanted:
            return column
    folded = [c for c in columns if c.name.casefold() == wanted.strip().casefold()]
    if len(folded) == 1:
        return folded[0]
    raise MappingError(
        f"{source}: {FLAGS[role]} '{wanted}' is not a column; the columns are {_listing(columns)}"
    )


def _first_common(columns: list[Column], candidates: tuple[str, ...], taken: set[int]) -> Column | None:
    by_name: dict[str, Column] = {}
    for column in columns:
        if column.index not in taken:
            by_name.setdefault(normalise(column.name), column)
    for candidate in candidates:
        if candidate in by_name:
            return by_name[candidate]
    return None


def _listing(columns: list[Column]) -> str:
    return ", ".join(f"'{c.name}'" for c in columns) or "(none)"
