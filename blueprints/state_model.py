"""The live state of a blueprint, as typed values: what /api/v1/blueprints/{id}/state returns, what the
dashboard draws and what alert rules read.

Units: durations and waits in seconds (float), rates per minute, shares in 0..1, health scores 0..100.
(`otel_traces` stores nanoseconds; conversion happens in the SQL that fills these.)
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Health(StrEnum):
    """A step's, touchpoint's or journey's health; always shown with its label, never by colour alone."""

    OK = "ok"
    WARN = "warn"
    CRITICAL = "critical"
    NO_DATA = "no_data"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Window(_Frozen):
    """The period a state covers, [start, end), timezone-aware UTC."""

    start: datetime
    end: datetime
    bucket_s: int = Field(description="width of one sparkline point, seconds")
    origin: datetime | None = Field(
        default=None,
        description="start of the first sparkline point when points are aligned to the clock (long windows "
        "answered from rollups: hour-wide points start on the hour); the window's start otherwise",
    )


class Point(_Frozen):
    """One sparkline point."""

    t: datetime
    count: int
    errors: int
    p95_s: float | None = None
    wait_mean_s: float | None = None


class ObjectiveStatus(_Frozen):
    """How a step does against one of its objectives over the window."""

    kind: str = Field(description="availability | latency | wait")
    target: float = Field(description="availability share, or the latency/wait threshold in seconds")
    actual: float | None = Field(description="availability share achieved, or the percentile/wait observed in seconds")
    met: bool | None
    budget_burn: float | None = Field(
        None, description="error-budget burn rate over the window: 1.0 spends the budget exactly at the allowed pace"
    )
    budget_remaining: float | None = Field(None, description="share of the window's error budget left, may be < 0")


class StepState(_Frozen):
    """One step over the window."""

    step_id: str
    count: int
    throughput_per_min: float
    errors: int
    error_rate: float | None
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    wait_mean_s: float | None = Field(description="mean gap since the journey's previous step ended")
    wait_p95_s: float | None
    in_flight: int = Field(description="started and not finished at the window's end")
    objectives: list[ObjectiveStatus] = []
    health: Health
    health_reason: str = ""
    series: list[Point] = []


class EdgeState(_Frozen):
    """One observed transition between consecutive steps of journeys."""

    from_step: str = Field(alias="from", serialization_alias="from")
    to_step: str = Field(alias="to", serialization_alias="to")
    count: int
    wait_mean_s: float | None
    wait_p50_s: float | None
    wait_p95_s: float | None
    expected: bool

    model_config = ConfigDict(frozen=True, populate_by_name=True)


class ImpactPath(_Frozen):
    """A failing backstage/support step and the customer-facing steps it hurts, across the line of visibility."""

    cause_step: str
    affected_steps: list[str]
    touchpoints: list[str]


class TouchpointState(_Frozen):
    """A touchpoint: where the customer meets the company."""

    touchpoint_id: str
    name: str
    channel: str
    importance: float
    health: Health
    score: float | None = Field(description="0..100")
    impacted_by: list[ImpactPath] = []


class DropOff(_Frozen):
    """Journeys whose last step was this one and that did not complete, by cause."""

    step_id: str
    journeys: int
    error: int
    abandoned: int = Field(description="abandoned or timed out")
    wrong_path: int


class JourneyState(_Frozen):
    """The journey as a whole over the window."""

    journeys: int
    completed: int
    completion_rate: float | None
    score: float | None = Field(description="health score 0..100, weighted by touchpoint importance")
    health: Health
    lead_time_mean_s: float | None = Field(description="first step start to last step end")
    process_time_mean_s: float | None = Field(description="sum of step durations")
    flow_efficiency: float | None = Field(description="process time / lead time")
    handoffs_mean: float | None = Field(description="changes of actor per journey")
    repeats: int = Field(description="journeys doing the same step twice")
    first_contact_resolution: float | None = Field(None, description="share resolved at the first resolution step")
    drop_off: list[DropOff] = []


class Bottleneck(_Frozen):
    """A step or edge ranked by how much it limits flow, with its evidence."""

    kind: str = Field(description="step | edge")
    step_id: str | None = None
    from_step: str | None = None
    to_step: str | None = None
    total_wait_s: float = Field(description="mean wait x count")
    wait_mean_s: float | None
    count: int
    utilisation: float | None = Field(None, description="Little's law: in-flight / (throughput x mean duration)")
    evidence: str = Field(description="one sentence a person can read")


class Unmapped(_Frozen):
    """Spans that match no step: candidates for binding."""

    service: str
    span_name: str
    count: int


class Conformance(_Frozen):
    """How journeys follow the designed path."""

    journeys: int
    conforming: int
    rate: float | None
    skipped: dict[str, int] = Field(default_factory=dict, description="required step id -> journeys that skipped it")
    unexpected: list[EdgeState] = []
    unmapped: list[Unmapped] = []


class BlueprintState(_Frozen):
    """Everything /api/v1/blueprints/{id}/state returns."""

    blueprint_id: str
    window: Window
    journey_window: Window | None = Field(
        None,
        description="the period journeys, transitions, waits and in-flight spans were walked over, when "
        "shorter than `window` (long windows count spans from the rollup and walk journeys over their "
        "last minutes only)",
    )
    generated_at: datetime
    source: str = Field(description="raw | rollup: which tables answered")
    steps: list[StepState]
    edges: list[EdgeState]
    touchpoints: list[TouchpointState]
    journey: JourneyState
    bottleneck: list[Bottleneck]
    conformance: Conformance
    query_ms: float
