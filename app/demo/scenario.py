"""What a scenario is made of: its steps (which service emits which span), touchpoints and staffed pools.

A `StepSpec` is the generator's side of one blueprint step: the span it emits and how that span
behaves when nothing is wrong (latency, error rate). The blueprint map in blueprints/maps/ is the
monitor's side of the same step; the two must agree (tests check that every span the demo emits
binds to the step it was meant for).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from random import Random
from typing import TYPE_CHECKING, Any

from app.demo.spans import AttributeValue, SpanKindName

if TYPE_CHECKING:
    from app.demo.journey import Journey

_HTTP_NAME = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) (/\S*)$")
_Z95 = 1.6448536269514722


class Lane(StrEnum):
    """Blueprint lanes, top to bottom."""

    EVIDENCE = "evidence"
    CUSTOMER = "customer"
    FRONTSTAGE = "frontstage"
    BACKSTAGE = "backstage"
    SUPPORT = "support"


class Actor(StrEnum):
    """Who performs a step."""

    PERSON = "person"
    PROCESS = "process"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Latency:
    """A lognormal duration given by its median and 95th percentile, in seconds."""

    median: float
    p95: float

    def __post_init__(self) -> None:
        if not 0 < self.median <= self.p95:
            raise ValueError(f"latency needs 0 < median <= p95, got median={self.median} p95={self.p95}")

    def sample(self, rng: Random) -> float:
        """One duration in seconds."""
        sigma = math.log(self.p95 / self.median) / _Z95
        return rng.lognormvariate(math.log(self.median), sigma)


@dataclass(frozen=True, slots=True, kw_only=True)
class StepSpec:
    """One step as the generator plays it.

    `conventions` says whether the span carries the blueprint attribute conventions
    (`blueprint.step`, `blueprint.lane`, `touchpoint.*`, `actor.*`); steps without them bind
    only by service and span name, like spans from off-the-shelf instrumentation. Every journey
    span carries `journey.id`. `error_status` is the HTTP status of a failed server span.
    """

    id: str
    service: str
    span: str
    lane: Lane
    actor: Actor
    latency: Latency
    touchpoint: str | None = None
    conventions: bool = False
    kind: SpanKindName = SpanKindName.INTERNAL
    error_rate: float = 0.0
    error_message: str = "failed"
    error_status: int = 500
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    pool: str | None = None
    serves: tuple[str, ...] = ()

    @property
    def http(self) -> tuple[str, str] | None:
        """(method, route) when the span name is an HTTP `METHOD /route`, else None."""
        match = _HTTP_NAME.match(self.span)
        return (match.group(1), match.group(2)) if match else None

    @property
    def gating(self) -> bool:
        """Whether a customer who cannot reach this step stops there (customer and frontstage lanes)."""
        return self.lane in (Lane.CUSTOMER, Lane.FRONTSTAGE)


@dataclass(frozen=True, slots=True)
class PoolSpec:
    """A team that serves one or more steps; its size follows the load so queues stay realistic.

    `busy_s_per_journey` is the staff time one journey of this scenario costs on average (the share
    of journeys that need the team times the time it takes them), measured from no-fault runs.
    """

    name: str
    staff_prefix: str
    busy_s_per_journey: float
    utilization: float = 0.85
    minimum: int = 2

    def capacity_for(self, journeys_per_second: float) -> int:
        """Staff needed so that, on average, `utilization` of them are busy."""
        needed = journeys_per_second * self.busy_s_per_journey / self.utilization
        return max(self.minimum, math.ceil(needed))


JourneyBody = Callable[["Journey"], Generator[Any, Any, None]]


@dataclass(frozen=True)
class Scenario:
    """A customer journey the demo plays, bound to the blueprint of the same id."""

    id: str
    name: str
    journey_prefix: str
    touchpoints: Mapping[str, str]
    steps: Mapping[str, StepSpec]
    pools: Mapping[str, PoolSpec]
    play: JourneyBody

    @property
    def services(self) -> tuple[str, ...]:
        """The services that emit this scenario's spans, sorted."""
        return tuple(sorted({step.service for step in self.steps.values()}))

    def step(self, step_id: str) -> StepSpec:
        """The step `step_id`; KeyError names the scenario and its steps."""
        try:
            return self.steps[step_id]
        except KeyError:
            raise KeyError(f"{self.id} has no step {step_id!r}; steps: {', '.join(self.steps)}") from None


def steps_by_id(*steps: StepSpec) -> dict[str, StepSpec]:
    """A step table keyed by id, refusing duplicates."""
    table: dict[str, StepSpec] = {}
    for step in steps:
        if step.id in table:
            raise ValueError(f"step id {step.id!r} is defined twice")
        table[step.id] = step
    return table
