"""The service-blueprint model: typed, frozen values for the format in docs/blueprint-format.md.

Public names (other packages rely on them; keep them stable):

- Enums: :class:`Lane` (``LANE_ORDER``, ``.customer_facing``, ``.visible``, ``.line_below``),
  :class:`ActorType`, :class:`Channel`, :class:`PatternKind`.
- Values: :class:`Blueprint`, :class:`Stage`, :class:`Touchpoint`, :class:`Step`, :class:`Selector`,
  :class:`SpanPattern`, :class:`Objectives`, :class:`Latency`, :class:`Flow`, :class:`Correlation`.
- Derived views on :class:`Blueprint` (pure, computed once per instance): ``steps_by_id``, ``stages_by_id``,
  ``touchpoints_by_id``, ``edges``, ``required_edges``, ``successors``, ``predecessors``, ``required_steps``,
  ``start_steps``, ``end_steps``, ``lanes``, ``steps_in()``, ``impact_path``, ``served_by``,
  ``touchpoint_steps``; :meth:`Blueprint.to_document` gives the JSON/YAML shape back.
- :func:`reference_problems`: the cross-reference checks (ids that must exist, be unique, …) over plain data.

Units: ``threshold_ms`` is milliseconds, ``max_wait_s`` and ``Correlation.timeout`` are seconds/timedelta;
spans in ``otel_traces`` measure nanoseconds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    ValidationInfo,
    field_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from blueprints.errors import Problem
from blueprints.patterns import PatternKind as PatternKind
from blueprints.patterns import SpanPattern as SpanPattern  # re-exported: part of the model's surface
from blueprints.patterns import SpanPatternField, format_duration, parse_duration
from blueprints.references import reference_problems as reference_problems

SKIP_REFERENCE_CHECK = "skip_reference_check"
"""Validation-context flag: the caller (the loader) runs :func:`reference_problems` itself, with positions."""

DEFAULT_JOURNEY_TIMEOUT = timedelta(hours=1)


class Lane(StrEnum):
    """The blueprint's horizontal swimlanes, top to bottom."""

    evidence = "evidence"
    customer = "customer"
    frontstage = "frontstage"
    backstage = "backstage"
    support = "support"

    @property
    def customer_facing(self) -> bool:
        """True for the lanes whose steps the customer performs or meets (customer, frontstage)."""
        return self in (Lane.customer, Lane.frontstage)

    @property
    def visible(self) -> bool:
        """True above the line of visibility (evidence, customer, frontstage): what the customer sees."""
        return self in (Lane.evidence, Lane.customer, Lane.frontstage)

    @property
    def line_below(self) -> str | None:
        """The named line drawn under this lane, if any."""
        return _LINES_BELOW.get(self)


LANE_ORDER: tuple[Lane, ...] = tuple(Lane)
_LINES_BELOW = {
    Lane.customer: "line of interaction",
    Lane.frontstage: "line of visibility",
    Lane.backstage: "line of internal interaction",
}


class ActorType(StrEnum):
    """Who performs a step (the span attribute ``actor.type``)."""

    person = "person"
    process = "process"
    system = "system"


class Channel(StrEnum):
    """How the customer meets a touchpoint (the span attribute ``touchpoint.channel``)."""

    web = "web"
    mobile = "mobile"
    phone = "phone"
    store = "store"
    email = "email"
    chat = "chat"
    mail = "mail"
    other = "other"


def _id_checker(pattern: str, what: str, expected: str) -> Any:
    import re

    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise PydanticCustomError("invalid_id", f"is not a valid {what}: expected {expected}")
        return value

    return AfterValidator(check)


BlueprintId = Annotated[
    str,
    _id_checker(
        r"[a-z0-9][a-z0-9-]{0,62}",
        "blueprint id",
        "lowercase letters, digits and '-', starting with a letter or digit, at most 63 characters",
    ),
]
ElementId = Annotated[
    str,
    _id_checker(
        r"[a-z0-9][a-z0-9_-]*",
        "id",
        "lowercase letters, digits, '-' and '_', starting with a letter or digit",
    ),
]


def _scalar_to_text(value: Any) -> Any:
    # Span attributes are stored as strings in otel_traces, so `http.status_code: 200` means "200".
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return value


AttributeValue = Annotated[str, BeforeValidator(_scalar_to_text)]


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    else:
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise PydanticCustomError("duration", str(exc)) from None
    if seconds <= 0:
        raise PydanticCustomError("duration", "must be longer than zero")
    return timedelta(seconds=seconds)


Duration = Annotated[
    timedelta,
    BeforeValidator(_duration),
    PlainSerializer(lambda d: format_duration(d.total_seconds()), return_type=str),
]


def _share(value: float) -> float:
    if not 0 < value < 1:
        raise PydanticCustomError("share", "is out of range: expected a share between 0 and 1, e.g. 0.995")
    return value


def _positive(value: float) -> float:
    if not 0 < value < float("inf"):
        raise PydanticCustomError("positive", "is out of range: expected a number greater than 0")
    return value


Share = Annotated[float, AfterValidator(_share)]
Positive = Annotated[float, AfterValidator(_positive)]


def _name_defaults_to_id(data: Any) -> Any:
    if isinstance(data, Mapping) and "name" not in data and isinstance(data.get("id"), str):
        return {**data, "name": data["id"]}
    return data


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Stage(_Value):
    """One of the customer's ordered phases (a column of the blueprint). ``name`` defaults to the id."""

    id: ElementId
    name: str
    description: str = ""

    _defaults = model_validator(mode="before")(_name_defaults_to_id)


class Touchpoint(_Value):
    """Where the customer meets the company; ``importance`` weights its health in the journey score."""

    id: ElementId
    name: str
    channel: Channel = Channel.other
    importance: Positive = 1.0
    description: str = ""

    _defaults = model_validator(mode="before")(_name_defaults_to_id)


class Selector(_Value):
    """Which spans perform a step: every given condition must hold.

    ``service`` is the resource ``service.name`` (exact); ``span`` the span name (exact, glob or ``re:``
    regex); ``attributes`` span-attribute equalities (values compared as strings); ``step`` matches spans
    carrying ``blueprint.step`` = that value.
    """

    service: str | None = None
    span: SpanPatternField | None = None
    attributes: dict[str, AttributeValue] = Field(default_factory=dict)
    step: str | None = None

    @model_validator(mode="after")
    def _has_a_condition(self) -> Selector:
        if self.service is None and self.span is None and not self.attributes and self.step is None:
            raise PydanticCustomError(
                "empty_selector", "has no condition: expected at least one of service, span, attributes, step"
            )
        return self


class Latency(_Value):
    """A latency objective: the ``percentile`` of span durations stays at or under ``threshold_ms``."""

    percentile: Literal[50, 90, 95, 99]
    threshold_ms: Positive


class Objectives(_Value):
    """What good looks like for a step; every objective is optional."""

    availability: Share | None = None  # share of spans without error status
    latency: Latency | None = None
    max_wait_s: Positive | None = None  # longest acceptable wait before this step, seconds


def _one_or_many(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


class Flow(_Value):
    """An expected edge: after ``source`` (YAML ``from``) comes one of ``to``."""

    source: ElementId = Field(alias="from")
    to: Annotated[tuple[ElementId, ...], BeforeValidator(_one_or_many), Field(min_length=1)]
    optional: StrictBool = False

    @field_serializer("to")
    def _to_as_written(self, to: tuple[str, ...]) -> str | list[str]:
        return to[0] if len(to) == 1 else list(to)


class Correlation(_Value):
    """How one journey's spans are joined: by TraceId (``key: trace_id``) or by a span attribute."""

    key: str = "trace_id"
    timeout: Duration = DEFAULT_JOURNEY_TIMEOUT

    @property
    def by_trace(self) -> bool:
        return self.key == "trace_id"

    @property
    def timeout_s(self) -> float:
        return self.timeout.total_seconds()


class Step(_Value):
    """One action in one lane and stage. ``name`` defaults to the id.

    A step without ``select`` binds spans carrying ``blueprint.step`` = its id (see :attr:`selector`).
    """

    id: ElementId
    name: str
    lane: Lane
    stage: ElementId
    actor: ActorType | None = None
    owner: str | None = None
    touchpoint: ElementId | None = None
    description: str = ""
    select: Selector | None = None
    objectives: Objectives = Field(default_factory=Objectives)
    optional: StrictBool = False
    resolution: StrictBool = False
    serves: tuple[ElementId, ...] = ()

    _defaults = model_validator(mode="before")(_name_defaults_to_id)

    @property
    def selector(self) -> Selector:
        """The selector in force: ``select`` as written, or ``blueprint.step`` = this step's id."""
        return self.select if self.select is not None else Selector(step=self.id)

    @property
    def customer_facing(self) -> bool:
        return self.lane.customer_facing


class Blueprint(_Value):
    """One service blueprint: a customer journey's stages, touchpoints, steps in lanes, and expected flows.

    Valid by construction: unknown or duplicate ids raise (see :func:`reference_problems`).
    """

    id: BlueprintId
    name: str
    owner: str | None = None
    description: str = ""
    correlation: Correlation = Field(default_factory=Correlation)
    stages: Annotated[tuple[Stage, ...], Field(min_length=1)]
    touchpoints: tuple[Touchpoint, ...] = ()
    steps: Annotated[tuple[Step, ...], Field(min_length=1)]
    flows: tuple[Flow, ...] = ()
    start: tuple[ElementId, ...] | None = None
    end: tuple[ElementId, ...] | None = None

    _defaults = model_validator(mode="before")(_name_defaults_to_id)

    @model_validator(mode="after")
    def _references_resolve(self, info: ValidationInfo) -> Blueprint:
        if info.context and info.context.get(SKIP_REFERENCE_CHECK):
            return self
        problems = reference_problems(self.to_document(), source=self.id)
        if problems:
            raise ValueError("; ".join(str(p) for p in problems))
        return self

    def to_document(self) -> dict[str, Any]:
        """The blueprint as plain JSON-ready data in the file's shape (``from``, durations as ``2h``)."""
        return self.model_dump(mode="json", by_alias=True)

    # -- derived views: pure functions of the fields, computed once ------------------------------------

    @cached_property
    def steps_by_id(self) -> dict[str, Step]:
        """Steps keyed by id, in file order."""
        return {s.id: s for s in self.steps}

    @cached_property
    def stages_by_id(self) -> dict[str, Stage]:
        return {s.id: s for s in self.stages}

    @cached_property
    def touchpoints_by_id(self) -> dict[str, Touchpoint]:
        return {t.id: t for t in self.touchpoints}

    @cached_property
    def edges(self) -> frozenset[tuple[str, str]]:
        """Every expected (from, to) step pair, alternatives and optional flows included."""
        return frozenset((f.source, to) for f in self.flows for to in f.to)

    @cached_property
    def required_edges(self) -> frozenset[tuple[str, str]]:
        """The expected edges of flows not marked optional."""
        return frozenset((f.source, to) for f in self.flows if not f.optional for to in f.to)

    @cached_property
    def successors(self) -> dict[str, tuple[str, ...]]:
        """For every step, the steps an expected flow leads to (file order, no repeats)."""
        return _adjacency(self.steps, ((f.source, to) for f in self.flows for to in f.to))

    @cached_property
    def predecessors(self) -> dict[str, tuple[str, ...]]:
        """For every step, the steps an expected flow comes from."""
        return _adjacency(self.steps, ((to, f.source) for f in self.flows for to in f.to))

    @cached_property
    def required_steps(self) -> tuple[str, ...]:
        """Ids of the steps a conforming journey must pass (not ``optional``), in file order."""
        return tuple(s.id for s in self.steps if not s.optional)

    @cached_property
    def start_steps(self) -> tuple[str, ...]:
        """``start`` as written, else the steps no flow leads into (self-loops aside), else the first step."""
        if self.start is not None:
            return self.start
        found = tuple(s.id for s in self.steps if not set(self.predecessors[s.id]) - {s.id})
        return found or (self.steps[0].id,)

    @cached_property
    def end_steps(self) -> tuple[str, ...]:
        """``end`` as written, else the steps no flow leaves (self-loops aside), else the last step."""
        if self.end is not None:
            return self.end
        found = tuple(s.id for s in self.steps if not set(self.successors[s.id]) - {s.id})
        return found or (self.steps[-1].id,)

    @cached_property
    def lanes(self) -> tuple[Lane, ...]:
        """The lanes this blueprint uses, top to bottom (see ``LANE_ORDER`` for all of them)."""
        used = {s.lane for s in self.steps}
        return tuple(lane for lane in LANE_ORDER if lane in used)

    def steps_in(self, lane: Lane | str | None = None, stage: str | None = None) -> tuple[Step, ...]:
        """The steps in one lane and/or stage (one cell of the grid), in file order."""
        return tuple(
            s for s in self.steps if (lane is None or s.lane == lane) and (stage is None or s.stage == stage)
        )

    @cached_property
    def impact_path(self) -> dict[str, tuple[str, ...]]:
        """For each backstage/support step, the customer-facing steps it serves.

        ``serves`` when given (it may also name evidence steps: what the customer sees); otherwise the
        nearest customer/frontstage steps reachable downstream along the flows (the search stops at the
        first customer-facing step on each path). May be empty.
        """
        out: dict[str, tuple[str, ...]] = {}
        for step in self.steps:
            if step.lane in (Lane.backstage, Lane.support):
                out[step.id] = step.serves or self._nearest_customer_facing(step.id)
        return out

    @cached_property
    def served_by(self) -> dict[str, tuple[str, ...]]:
        """The impact path reversed: for each customer-facing step, the behind-the-line steps serving it."""
        out: dict[str, list[str]] = {s.id: [] for s in self.steps if s.customer_facing}
        for behind, served in self.impact_path.items():
            for step_id in served:
                out.setdefault(step_id, []).append(behind)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def touchpoint_steps(self) -> dict[str, tuple[str, ...]]:
        """For every touchpoint, the ids of its steps (file order); touchpoints without steps map to ()."""
        out: dict[str, list[str]] = {t.id: [] for t in self.touchpoints}
        for step in self.steps:
            if step.touchpoint is not None:
                out.setdefault(step.touchpoint, []).append(step.id)
        return {k: tuple(v) for k, v in out.items()}

    def _nearest_customer_facing(self, origin: str) -> tuple[str, ...]:
        found: list[str] = []
        seen = {origin}
        queue = deque(self.successors.get(origin, ()))
        while queue:
            step_id = queue.popleft()
            if step_id in seen or step_id not in self.steps_by_id:
                continue
            seen.add(step_id)
            if self.steps_by_id[step_id].customer_facing:
                found.append(step_id)
            else:
                queue.extend(self.successors.get(step_id, ()))
        return tuple(found)


def _adjacency(steps: tuple[Step, ...], pairs: Any) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {s.id: [] for s in steps}
    for a, b in pairs:
        bucket = out.setdefault(a, [])
        if b not in bucket:
            bucket.append(b)
    return {k: tuple(v) for k, v in out.items()}


__all__ = [
    "LANE_ORDER",
    "ActorType",
    "Blueprint",
    "Channel",
    "Correlation",
    "Flow",
    "Lane",
    "Latency",
    "Objectives",
    "PatternKind",
    "Problem",
    "Selector",
    "SpanPattern",
    "Stage",
    "Step",
    "Touchpoint",
    "reference_problems",
]
