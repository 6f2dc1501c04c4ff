"""Hand-written journeys for the live-state tests: blueprints from YAML text and spans inserted into a real
engine, timed in seconds from a per-test origin so each test's expectations can be computed by hand."""

from __future__ import annotations

import hashlib
import textwrap
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ruamel.yaml import YAML

from blueprints.model import Blueprint
from collectors.schema import TRACES_TABLE

BASE = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
_COLUMNS = [
    "Timestamp", "TraceId", "SpanId", "ParentSpanId", "SpanName", "SpanKind", "ServiceName",
    "SpanAttributes", "Duration", "StatusCode", "StatusMessage",
]  # fmt: skip


# The smallest journey: a customer arrives (step a), then books with a person at the front (step b), bound by
# the blueprint.step attribute; journeys are traces.
TWO_STEP_LINE = """
id: line
name: Line
correlation: {key: trace_id, timeout: 10m}
stages: [{id: all, name: All}]
steps:
  - {id: a, name: Arrive, lane: customer, stage: all, actor: person, select: {step: a}}
  - {id: b, name: Book, lane: frontstage, stage: all, actor: person, select: {step: b}}
flows:
  - {from: a, to: b}
"""


def origin(day: int) -> datetime:
    """A separate day per test, so tests sharing a module's database never see each other's spans."""
    return BASE + timedelta(days=day)


def blueprint(text: str) -> Any:
    """A blueprint from YAML in the documented format, through the project's model."""
    document = YAML(typ="safe").load(textwrap.dedent(text))
    return Blueprint.model_validate(document)


@dataclass(frozen=True)
class Span:
    """One span: `start_s` and `duration_s` in seconds from the test's origin."""

    service: str
    name: str
    start_s: float
    duration_s: float
    trace: str = "t1"
    attributes: Mapping[str, str] = field(default_factory=dict)
    error: bool = False
    kind: str = "Internal"


def step_span(step: str, start_s: float, duration_s: float, trace: str, **kwargs: Any) -> Span:
    """A span binding to `step` through the `blueprint.step` convention (service `app`)."""
    attributes = {"blueprint.step": step, **kwargs.pop("attributes", {})}
    return Span("app", f"do {step}", start_s, duration_s, trace, attributes, **kwargs)


def insert(ch: Any, at: datetime, spans: Iterable[Span]) -> int:
    """Insert `spans` timed from `at`; returns how many."""
    rows = []
    for n, span in enumerate(spans):
        start = at + timedelta(seconds=span.start_s)
        rows.append(
            [
                start.replace(tzinfo=None),
                _hex(span.trace, 32),
                _hex(f"{span.trace}/{n}/{span.start_s}", 16),
                "",
                span.name,
                span.kind,
                span.service,
                dict(span.attributes),
                int(round(span.duration_s * 1e9)),
                "Error" if span.error else "Ok",
                "failed" if span.error else "",
            ]
        )
    ch.insert(TRACES_TABLE, rows, column_names=_COLUMNS)
    return len(rows)


class SideClients:
    """What a per-thread client pool hands out to compute_state's side reads: always `client`, remembering the
    name of every thread that asked."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.asked_from: list[str] = []

    def __call__(self) -> Any:
        self.asked_from.append(threading.current_thread().name)
        return self.client


def _hex(text: str, width: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:width]
