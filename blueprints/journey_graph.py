"""The designed journey as a graph: what the live state compares observed journeys against.

Built once per blueprint from its steps and flows; pure data, no I/O. Steps are referred to by id here and
by 1-based index in SQL (the order of `blueprint.steps`, as in :mod:`blueprints.selectors`).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

CUSTOMER_FACING = frozenset({"evidence", "customer", "frontstage"})
# The lanes the format names as the reach of a derived `serves`: "the nearest customer/frontstage steps".
SERVED_LANES = frozenset({"customer", "frontstage"})
BEHIND_THE_LINE = frozenset({"backstage", "support"})
LANES = ("evidence", "customer", "frontstage", "backstage", "support")
DEFAULT_TIMEOUT_S = 3600.0

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


@dataclass(frozen=True)
class StepDesign:
    """What the state needs to know about one designed step."""

    id: str
    name: str
    lane: str
    actor: str
    touchpoint: str | None
    optional: bool
    resolution: bool
    availability: float | None
    latency_percentile: int | None
    latency_threshold_s: float | None
    max_wait_s: float | None


@dataclass(frozen=True)
class TouchpointDesign:
    """A touchpoint as designed."""

    id: str
    name: str
    channel: str
    importance: float


@dataclass(frozen=True)
class JourneyGraph:
    """Steps, expected transitions, entry and exit steps, required predecessors and impact paths."""

    blueprint_id: str
    steps: tuple[StepDesign, ...]
    touchpoints: tuple[TouchpointDesign, ...]
    expected: frozenset[tuple[str, str]]
    start: frozenset[str]
    end: frozenset[str]
    required_before: Mapping[str, tuple[str, ...]]
    serves: Mapping[str, tuple[str, ...]]
    timeout_s: float

    @property
    def step_ids(self) -> tuple[str, ...]:
        return tuple(step.id for step in self.steps)

    def index(self, step_id: str) -> int:
        """1-based SQL index of a step."""
        return self.step_ids.index(step_id) + 1

    def step(self, step_id: str) -> StepDesign:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(f"blueprint {self.blueprint_id!r} has no step {step_id!r}")


def journey_graph(blueprint: Any) -> JourneyGraph:
    """The graph of a blueprint; `start`/`end` default to steps without incoming/outgoing flows."""
    steps = tuple(_step_design(step) for step in blueprint.steps)
    ids = [step.id for step in steps]
    edges = [
        (source, target)
        for flow in (getattr(blueprint, "flows", None) or [])
        for source, target in _flow_edges(flow)
    ]
    expected = frozenset(edges)
    start = frozenset(getattr(blueprint, "start", None) or [s for s in ids if all(t != s for _, t in edges)])
    end = frozenset(getattr(blueprint, "end", None) or [s for s in ids if all(f != s for f, _ in edges)])
    if not start:  # every step has a predecessor (a pure cycle): any step may begin a journey
        start = frozenset(ids)
    if not end:
        end = frozenset(ids)
    dominators = _dominators(ids, edges, start)
    optional = {step.id: step.optional for step in steps}
    required_before = {
        s: tuple(d for d in ids if d in dominators[s] and d != s and not optional[d]) for s in ids
    }
    return JourneyGraph(
        blueprint_id=str(blueprint.id),
        steps=steps,
        touchpoints=tuple(_touchpoint_design(t) for t in (getattr(blueprint, "touchpoints", None) or [])),
        expected=expected,
        start=start,
        end=end,
        required_before=required_before,
        serves=_serves(blueprint.steps, steps, edges),
        timeout_s=timeout_seconds(getattr(getattr(blueprint, "correlation", None), "timeout", None)),
    )


def timeout_seconds(value: Any) -> float:
    """A correlation timeout (`2h`, `90m`, seconds, or a timedelta) in seconds; the default when absent."""
    if value is None:
        return DEFAULT_TIMEOUT_S
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"correlation.timeout {value!r} is not a duration such as 30m, 2h or 1d")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def _flow_edges(flow: Any) -> Iterable[tuple[str, str]]:
    source = _first_attr(flow, ("from_", "from_step", "source", "from"))
    targets = _first_attr(flow, ("to", "to_steps", "targets"))
    if isinstance(targets, str):
        targets = [targets]
    return [(str(source), str(target)) for target in targets or []]


def _first_attr(obj: Any, names: tuple[str, ...]) -> Any:
    for name in names:
        if isinstance(obj, Mapping) and name in obj:
            return obj[name]
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return None


def _step_design(step: Any) -> StepDesign:
    objectives = getattr(step, "objectives", None)
    latency = getattr(objectives, "latency", None) if objectives is not None else None
    threshold_ms = getattr(latency, "threshold_ms", None) if latency is not None else None
    max_wait = getattr(objectives, "max_wait_s", None) if objectives is not None else None
    return StepDesign(
        id=str(step.id),
        name=str(getattr(step, "name", None) or step.id),
        lane=str(_enum_value(getattr(step, "lane", None)) or "frontstage"),
        actor=str(_enum_value(getattr(step, "actor", None)) or "system"),
        touchpoint=getattr(step, "touchpoint", None),
        optional=bool(getattr(step, "optional", False)),
        resolution=bool(getattr(step, "resolution", False)),
        availability=getattr(objectives, "availability", None) if objectives is not None else None,
        latency_percentile=int(latency.percentile) if latency is not None else None,
        latency_threshold_s=float(threshold_ms) / 1000.0 if threshold_ms is not None else None,
        max_wait_s=_seconds_or_none(max_wait),
    )


def _touchpoint_design(touchpoint: Any) -> TouchpointDesign:
    importance = getattr(touchpoint, "importance", None)
    return TouchpointDesign(
        id=str(touchpoint.id),
        name=str(getattr(touchpoint, "name", None) or touchpoint.id),
        channel=str(_enum_value(getattr(touchpoint, "channel", None)) or "other"),
        importance=float(importance) if importance is not None else 1.0,
    )


def _enum_value(value: Any) -> Any:
    return getattr(value, "value", value)


def _seconds_or_none(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def _dominators(ids: list[str], edges: list[tuple[str, str]], start: frozenset[str]) -> dict[str, set[str]]:
    """For each step, the steps every designed path from an entry step to it passes through (itself included).

    Steps no designed path reaches are dominated only by themselves.
    """
    predecessors: dict[str, set[str]] = {s: set() for s in ids}
    for source, target in edges:
        if source in predecessors and target in predecessors:
            predecessors[target].add(source)
    reachable = _reachable(ids, edges, start)
    everything = set(reachable)
    dom = {s: ({s} if s in start or s not in reachable else set(everything)) for s in ids}
    changed = True
    while changed:
        changed = False
        for s in ids:
            if s in start or s not in reachable:
                continue
            incoming = [dom[p] for p in predecessors[s] if p in reachable]
            new = {s} | (set.intersection(*incoming) if incoming else set())
            if new != dom[s]:
                dom[s] = new
                changed = True
    return dom


def _reachable(ids: list[str], edges: list[tuple[str, str]], start: frozenset[str]) -> set[str]:
    successors: dict[str, list[str]] = {s: [] for s in ids}
    for source, target in edges:
        if source in successors:
            successors[source].append(target)
    seen = {s for s in start if s in successors}
    queue = deque(seen)
    while queue:
        for nxt in successors[queue.popleft()]:
            if nxt in successors and nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def _serves(
    raw_steps: Iterable[Any], steps: tuple[StepDesign, ...], edges: list[tuple[str, str]]
) -> dict[str, tuple[str, ...]]:
    """Backstage/support step -> the customer-facing steps it serves: as declared, else the nearest
    customer/frontstage steps reachable downstream along the flows."""
    lanes = {step.id: step.lane for step in steps}
    successors: dict[str, list[str]] = {s: [] for s in lanes}
    for source, target in edges:
        if source in successors and target in lanes:
            successors[source].append(target)
    result: dict[str, tuple[str, ...]] = {}
    for raw, step in zip(raw_steps, steps, strict=True):
        if step.lane not in BEHIND_THE_LINE:
            continue
        declared = [str(s) for s in (getattr(raw, "serves", None) or [])]
        if declared:
            result[step.id] = tuple(declared)
            continue
        found: list[str] = []
        seen = {step.id}
        queue = deque(successors[step.id])
        while queue:
            current = queue.popleft()
            if current in seen:
                continue
            seen.add(current)
            if lanes[current] in SERVED_LANES:
                found.append(current)
            else:
                queue.extend(successors[current])
        result[step.id] = tuple(found)
    return result
