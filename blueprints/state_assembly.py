"""From measured figures to the typed live state: steps with their series and health, transitions,
touchpoints with impact paths, the journey as a whole, bottlenecks and conformance. Pure.

Journey figures count the journeys that *began* in the walked period (their first observed step is an entry
step); journeys seen only from the middle still contribute their transitions and waits. A journey that
reached an end step is completed; one that did not and has been idle for the correlation timeout at the
window's end has dropped off at its last step, by error (that step failed), wrong path (it took a transition
the design does not have) or abandonment. Completion rate is completed / (completed + dropped off): journeys
still under way are not judged yet. Lead time, process time (the sum of the journey's step durations),
flow efficiency (process / lead time: above 1 when steps ran in parallel) and handoffs are over completed
journeys.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from blueprints.bottlenecks import rank_bottlenecks
from blueprints.figures import BucketFigures, Observed, StepFigures
from blueprints.health import (
    HealthPolicy,
    StepVerdict,
    effective,
    impact_paths,
    journey_score,
    step_verdict,
    touchpoint_states,
)
from blueprints.journey_graph import JourneyGraph
from blueprints.state_model import (
    BlueprintState,
    Conformance,
    DropOff,
    EdgeState,
    Health,
    JourneyState,
    Point,
    StepState,
    Unmapped,
    Window,
)
from blueprints.state_sql import Scan


def assemble_state(
    graph: JourneyGraph,
    source: str,
    window: Window,
    walk: Scan,
    observed: Observed,
    now: datetime,
    query_ms: float,
    policy: HealthPolicy | None = None,
    bottleneck_limit: int = 8,
) -> BlueprintState:
    """The BlueprintState of `observed` over `window` (journeys walked over `walk`)."""
    policy = policy or HealthPolicy()
    window_s = (window.end - window.start).total_seconds()
    verdicts = {s.id: step_verdict(s, observed.steps.get(s.id, StepFigures()), policy) for s in graph.steps}
    paths = impact_paths(graph, {step: v.health for step, v in verdicts.items()})
    effective_steps = effective(verdicts, paths)
    causes: dict[str, list[str]] = {}
    for path in paths:
        for step in path.affected_steps:
            causes.setdefault(step, []).append(path.cause_step)
    steps = [
        _step_state(graph, s.id, observed, verdicts[s.id], window, window_s, causes.get(s.id, [])) for s in graph.steps
    ]
    edges = [
        EdgeState.model_validate(
            {
                "from": e.from_step,
                "to": e.to_step,
                "count": e.count,
                "wait_mean_s": e.wait_sum_s / e.count if e.count else None,
                "wait_p50_s": e.wait_p50_s,
                "wait_p95_s": e.wait_p95_s,
                "expected": (e.from_step, e.to_step) in graph.expected,
            }
        )
        for e in observed.edges
    ]
    touchpoints = touchpoint_states(graph, effective_steps, paths)
    score, health = journey_score(graph, touchpoints, effective_steps, policy)
    journeys = observed.journeys
    return BlueprintState(
        blueprint_id=graph.blueprint_id,
        window=window,
        journey_window=None
        if walk.start == window.start and walk.end == window.end
        else Window(start=walk.start, end=walk.end, bucket_s=window.bucket_s),
        generated_at=now,
        source=source,
        steps=steps,
        edges=edges,
        touchpoints=touchpoints,
        journey=_journey_state(graph, observed, score, health),
        bottleneck=rank_bottlenecks(graph, observed.steps, edges, window_s, bottleneck_limit),
        conformance=Conformance(
            journeys=journeys.journeys,
            conforming=journeys.conforming,
            rate=_ratio(journeys.conforming, journeys.journeys),
            skipped={step: journeys.skipped[step] for step in graph.step_ids if journeys.skipped.get(step)},
            unexpected=[e for e in edges if not e.expected],
            unmapped=[Unmapped(service=s, span_name=n, count=c) for s, n, c in observed.unmapped],
        ),
        query_ms=round(query_ms, 3),
    )


def _step_state(
    graph: JourneyGraph,
    step_id: str,
    observed: Observed,
    verdict: StepVerdict,
    window: Window,
    window_s: float,
    impacted_by: list[str],
) -> StepState:
    figures = observed.steps.get(step_id, StepFigures())
    reason = verdict.reason
    if impacted_by:
        names = ", ".join(graph.step(cause).name for cause in impacted_by)
        reason = f"{reason}; impacted by {names}"
    return StepState(
        step_id=step_id,
        count=figures.count,
        throughput_per_min=round(figures.count / (window_s / 60.0), 6) if window_s > 0 else 0.0,
        errors=figures.errors,
        error_rate=_ratio(figures.errors, figures.count),
        p50_s=figures.percentiles_s.get(50),
        p95_s=figures.percentiles_s.get(95),
        p99_s=figures.percentiles_s.get(99),
        wait_mean_s=figures.wait_mean_s,
        wait_p95_s=figures.wait_p95_s,
        in_flight=figures.in_flight,
        objectives=verdict.objectives,
        health=verdict.health,
        health_reason=reason,
        series=_series(step_id, observed, window, window_s),
    )


def _series(step_id: str, observed: Observed, window: Window, window_s: float) -> list[Point]:
    points = []
    origin = window.origin or window.start
    covered_s = window_s + (window.start - origin).total_seconds()
    for bucket in range(max(1, math.ceil(covered_s / window.bucket_s))):
        cell = observed.series.get((step_id, bucket), BucketFigures())
        points.append(
            Point(
                t=origin + timedelta(seconds=bucket * window.bucket_s),
                count=cell.count,
                errors=cell.errors,
                p95_s=cell.p95_s,
                wait_mean_s=cell.wait_sum_s / cell.waits if cell.waits else None,
            )
        )
    return points


def _journey_state(graph: JourneyGraph, observed: Observed, score: float | None, health: Health) -> JourneyState:
    figures = observed.journeys
    drop_off = sorted(
        (
            DropOff(step_id=step, journeys=e + a + w, error=e, abandoned=a, wrong_path=w)
            for step, (e, a, w) in figures.drop_off.items()
        ),
        key=lambda d: (-d.journeys, graph.step_ids.index(d.step_id)),
    )
    dropped = sum(d.journeys for d in drop_off)
    completed = figures.completed
    has_resolution = any(step.resolution for step in graph.steps)
    return JourneyState(
        journeys=figures.journeys,
        completed=completed,
        completion_rate=_ratio(completed, completed + dropped),
        score=score,
        health=health,
        lead_time_mean_s=figures.lead_sum_s / completed if completed else None,
        process_time_mean_s=figures.busy_sum_s / completed if completed else None,
        flow_efficiency=figures.busy_sum_s / figures.lead_sum_s if figures.lead_sum_s > 0 else None,
        handoffs_mean=figures.handoffs_sum / completed if completed else None,
        repeats=figures.repeats,
        first_contact_resolution=_ratio(figures.first_contact, completed) if has_resolution else None,
        drop_off=drop_off,
    )


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None
