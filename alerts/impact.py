"""The impact paths of blueprints, as plain data: which customer-facing steps each backstage step serves.

A backstage or support step's `serves` names the customer/frontstage steps it serves across the line of
visibility; when it is empty they are derived from the flows: the nearest customer or frontstage steps
reachable downstream. Inhibition reads this map; it is built once per blueprint version.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from blueprints.journey_graph import JourneyGraph, journey_graph


@dataclass(frozen=True)
class BlueprintImpact:
    """One blueprint's lanes, touchpoints and impact paths."""

    lanes: Mapping[str, str] = field(default_factory=dict)  # step -> lane
    touchpoint_of: Mapping[str, str] = field(default_factory=dict)  # step -> touchpoint
    serves: Mapping[str, frozenset[str]] = field(
        default_factory=dict
    )  # backstage step -> customer-facing steps
    downstream: Mapping[str, frozenset[str]] = field(default_factory=dict)  # step -> steps reachable after it

    def steps_at(self, touchpoint: str) -> frozenset[str]:
        return frozenset(s for s, t in self.touchpoint_of.items() if t == touchpoint)

    def touchpoint_downstream(self, upstream: str, downstream: str) -> bool:
        """Whether journeys reach touchpoint `downstream` only after passing touchpoint `upstream`."""
        before = self.steps_at(upstream)
        after = self.steps_at(downstream)
        return (
            bool(before and after)
            and upstream != downstream
            and all(any(a in self.downstream.get(b, ()) for b in before) for a in after)
        )


@dataclass(frozen=True)
class ImpactMap:
    """Every watched blueprint's impact, by blueprint id."""

    blueprints: Mapping[str, BlueprintImpact] = field(default_factory=dict)

    def of(self, blueprint: str) -> BlueprintImpact:
        return self.blueprints.get(blueprint, BlueprintImpact())


def graph_impact(graph: JourneyGraph) -> BlueprintImpact:
    """Lanes, touchpoints, downstream reach and impact paths of one blueprint's journey graph."""
    following: dict[str, set[str]] = {step_id: set() for step_id in graph.step_ids}
    for source, target in graph.expected:
        following.setdefault(source, set()).add(target)
    return BlueprintImpact(
        lanes={s.id: s.lane for s in graph.steps},
        touchpoint_of={s.id: s.touchpoint for s in graph.steps if s.touchpoint},
        serves={cause: frozenset(served) for cause, served in graph.serves.items()},
        downstream={s: frozenset(_reachable(s, following)) for s in following},
    )


def impact_map(blueprints: Iterable[Any]) -> ImpactMap:
    """The impact of each blueprint model, by id."""
    return ImpactMap({str(bp.id): graph_impact(journey_graph(bp)) for bp in blueprints})


def _reachable(start: str, following: Mapping[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    queue = deque(following.get(start, ()))
    while queue:
        step = queue.popleft()
        if step in seen:
            continue
        seen.add(step)
        queue.extend(following.get(step, ()))
    return seen
