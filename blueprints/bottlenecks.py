"""Bottleneck ranking: where journeys spend their waiting time, with a sentence of evidence each. Pure.

Steps are ranked by the total time journeys waited before them (mean wait x number of waits). A transition
is listed as well when its step is entered from more than one observed step, so the list says which way in
is slow without repeating a step's only transition. Utilisation follows Little's law: the spans in flight at
the window's end over the number the steady flow explains (throughput x mean duration); above 1 work is
piling up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from blueprints.figures import StepFigures
from blueprints.journey_graph import JourneyGraph
from blueprints.state_model import Bottleneck, EdgeState


def rank_bottlenecks(
    graph: JourneyGraph,
    steps: Mapping[str, StepFigures],
    edges: Sequence[EdgeState],
    window_s: float,
    limit: int = 8,
) -> list[Bottleneck]:
    """The `limit` steps and transitions with the most total waiting, most first."""
    totals = {step: f.wait_sum_s for step, f in steps.items() if f.waits and f.wait_sum_s > 0}
    all_waiting = sum(totals.values())
    ranked: list[Bottleneck] = []
    for step_id, total in totals.items():
        figures = steps[step_id]
        design = graph.step(step_id)
        utilisation = _utilisation(figures, window_s)
        evidence = (
            f"Journeys waited {duration_text(figures.wait_mean_s)} on average before {design.name} "
            f"({figures.waits} times, {duration_text(total)} in total, "
            f"{_share(total, all_waiting)} of all waiting)"
        )
        if design.max_wait_s is not None and figures.wait_p95_s is not None:
            allowed = duration_text(design.max_wait_s)
            evidence += f"; p95 {duration_text(figures.wait_p95_s)} against a {allowed} limit"
        if utilisation is not None and figures.in_flight:
            evidence += f"; {figures.in_flight} in flight, {utilisation:.1f}x what the steady flow explains"
        ranked.append(
            Bottleneck(
                kind="step",
                step_id=step_id,
                total_wait_s=round(total, 6),
                wait_mean_s=figures.wait_mean_s,
                count=figures.waits,
                utilisation=utilisation,
                evidence=evidence + ".",
            )
        )
    ways_in = Counter(edge.to_step for edge in edges)
    for edge in edges:
        if ways_in[edge.to_step] < 2 or not edge.wait_mean_s:
            continue
        total = edge.wait_mean_s * edge.count
        ranked.append(
            Bottleneck(
                kind="edge",
                from_step=edge.from_step,
                to_step=edge.to_step,
                total_wait_s=round(total, 6),
                wait_mean_s=edge.wait_mean_s,
                count=edge.count,
                utilisation=None,
                evidence=(
                    f"{edge.count} journeys went from {graph.step(edge.from_step).name} to "
                    f"{graph.step(edge.to_step).name} and waited "
                    f"{duration_text(edge.wait_mean_s)} on average "
                    f"({duration_text(total)} in total, {_share(total, all_waiting)} of all waiting)"
                    + ("" if edge.expected else "; this transition is not in the design")
                    + "."
                ),
            )
        )
    ranked.sort(
        key=lambda b: (-b.total_wait_s, b.kind != "step", b.step_id or "", b.from_step or "", b.to_step or "")
    )
    return ranked[:limit]


def duration_text(seconds: float | None) -> str:
    """A duration as a person reads it: 850 ms, 4.2 s, 3.5 min, 2.1 h, 1.5 d."""
    if seconds is None:
        return "unknown"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 90:
        return f"{seconds:.1f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _utilisation(figures: StepFigures, window_s: float) -> float | None:
    mean = figures.duration_mean_s
    if not figures.count or not mean or window_s <= 0:
        return None
    steady = figures.count / window_s * mean
    return round(figures.in_flight / steady, 4) if steady > 0 else None


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole > 0 else "0%"
