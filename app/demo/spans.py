"""Finished spans of simulated traffic, as plain values, before any SDK sees them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from random import Random

AttributeValue = str | int | float | bool


class SpanKindName(StrEnum):
    """The OpenTelemetry span kind, by name."""

    SERVER = "server"
    CLIENT = "client"
    INTERNAL = "internal"
    PRODUCER = "producer"
    CONSUMER = "consumer"


@dataclass(frozen=True, slots=True)
class SpanEventRecord:
    """A timestamped event on a span (an `exception` for failures)."""

    name: str
    time_ns: int
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One finished span: ids, timing in Unix nanoseconds, attributes and outcome.

    `scenario` and `step` say what the generator meant the span to be (the ground truth a
    blueprint's selectors should recover); they are not sent unless the span carries the
    `blueprint.step` convention. Both are None for noise such as health checks.
    """

    trace_id: int
    span_id: int
    parent_span_id: int | None
    service: str
    name: str
    kind: SpanKindName
    start_ns: int
    end_ns: int
    attributes: Mapping[str, AttributeValue]
    error: str | None = None
    events: tuple[SpanEventRecord, ...] = ()
    scenario: str | None = None
    step: str | None = None
    journey_id: str | None = None

    @property
    def duration_s(self) -> float:
        """Seconds from start to end."""
        return (self.end_ns - self.start_ns) / 1e9


class IdSource:
    """Trace and span ids drawn from one seeded stream: same seed, same ids."""

    def __init__(self, rng: Random) -> None:
        self._rng = rng

    def trace_id(self) -> int:
        """A non-zero 128-bit trace id."""
        return self._rng.getrandbits(128) or 1

    def span_id(self) -> int:
        """A non-zero 64-bit span id."""
        return self._rng.getrandbits(64) or 1
