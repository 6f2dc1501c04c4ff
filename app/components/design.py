"""A blueprint as the dashboard draws it: stages, lanes, steps, touchpoints and flows as plain frozen values.

Read from whatever holds a blueprint — the store's model, attribute-access values, or the YAML document as a
dict (the editor's draft) — so every page draws from one shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.components.theme import LANES
from blueprints.journey_graph import TouchpointDesign


@dataclass(frozen=True)
class StepDesign:
    """One designed step, with where it sits on the map."""

    id: str
    name: str
    lane: str
    stage: str
    actor: str
    touchpoint: str | None = None
    owner: str | None = None


@dataclass(frozen=True)
class FlowDesign:
    """One designed edge (a flow to several alternatives gives several edges)."""

    from_step: str
    to_step: str
    optional: bool = False


@dataclass(frozen=True)
class MapDesign:
    """Everything the swimlane needs to know about a blueprint, nothing measured."""

    id: str
    name: str
    owner: str | None
    description: str | None
    stages: tuple[tuple[str, str], ...]  # (id, name), left to right
    steps: tuple[StepDesign, ...]
    touchpoints: tuple[TouchpointDesign, ...]
    flows: tuple[FlowDesign, ...]
    correlation_key: str = "trace_id"

    def step(self, step_id: str) -> StepDesign | None:
        """The step with this id, or None."""
        return next((s for s in self.steps if s.id == step_id), None)

    def step_name(self, step_id: str) -> str:
        """The step's name, or its id when the design does not know it."""
        found = self.step(step_id)
        return found.name if found else step_id

    @property
    def lanes_used(self) -> tuple[str, ...]:
        return tuple(lane for lane in LANES if any(s.lane == lane for s in self.steps))


def map_design(blueprint: Any) -> MapDesign:
    """The design of a blueprint model, attribute-access value or document dict.

    Unknown lanes fall back to frontstage and unknown stages to the first stage, so a draft with an error
    still draws (the editor reports the error separately).
    """
    raw_stages = _get(blueprint, "stages") or []
    stages = tuple((str(_get(s, "id")), str(_get(s, "name") or _get(s, "id"))) for s in raw_stages)
    stage_ids = {s for s, _ in stages}
    steps = []
    for raw in _get(blueprint, "steps") or []:
        lane = str(_value(_get(raw, "lane")) or "frontstage")
        stage = str(_get(raw, "stage") or "")
        if stage not in stage_ids:
            stage = stages[0][0] if stages else ""
        steps.append(
            StepDesign(
                id=str(_get(raw, "id")),
                name=str(_get(raw, "name") or _get(raw, "id")),
                lane=lane if lane in LANES else "frontstage",
                stage=stage,
                actor=str(_value(_get(raw, "actor")) or "system"),
                touchpoint=_get(raw, "touchpoint") or None,
                owner=_get(raw, "owner") or None,
            )
        )
    if not stages and steps:
        stages = (("", ""),)
    touchpoints = tuple(
        TouchpointDesign(
            id=str(_get(t, "id")),
            name=str(_get(t, "name") or _get(t, "id")),
            channel=str(_value(_get(t, "channel")) or "other"),
            importance=float(_get(t, "importance") or 1),
        )
        for t in _get(blueprint, "touchpoints") or []
    )
    flows = []
    for flow in _get(blueprint, "flows") or []:
        source = _first(flow, ("from", "from_", "from_step", "source"))
        targets = _first(flow, ("to", "to_steps", "targets"))
        for target in [targets] if isinstance(targets, str) else list(targets or []):
            flows.append(FlowDesign(str(source), str(target), bool(_get(flow, "optional") or False)))
    correlation = _get(blueprint, "correlation")
    return MapDesign(
        id=str(_get(blueprint, "id")),
        name=str(_get(blueprint, "name") or _get(blueprint, "id")),
        owner=_get(blueprint, "owner") or None,
        description=_get(blueprint, "description") or None,
        stages=stages,
        steps=tuple(steps),
        touchpoints=touchpoints,
        flows=tuple(flows),
        correlation_key=str(_get(correlation, "key") or "trace_id"),
    )


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _first(obj: Any, names: tuple[str, ...]) -> Any:
    for name in names:
        value = _get(obj, name)
        if value is not None:
            return value
    return None


def _value(value: Any) -> Any:
    return getattr(value, "value", value)
