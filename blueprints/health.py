"""Scoring: how steps do against their objectives, how that reaches the customer's touchpoints across the
line of visibility, and the journey's health score. Pure functions over measured figures.

The rules, in one place:

- An objective's *burn* is the share of bad events over the share its target allows (1.0 spends the error
  budget exactly at the allowed pace). Availability: errors over 1 - target. Latency: spans slower than the
  threshold over 1 - percentile/100. Wait: waits longer than `max_wait_s` over `policy.wait_allowance`.
- A step is *ok* while every burn is at most `policy.warn_burn`, *warn* up to `policy.critical_burn`,
  *critical* beyond; where a burn cannot be known (latency on the rollup) an unmet objective means warn.
  A step without spans has *no_data*.
- A step's score is 100 / max(1, worst burn): it halves each time the budget burns twice as fast as allowed.
  Without objectives it is 100 x (1 - error rate).
- A backstage or support step that is warn or critical *impacts* the customer-facing steps it serves: their
  effective score is at most its score and their effective health at best its health.
- A touchpoint's score is the mean effective score of its steps with data; its health is their worst.
- The journey's score is the touchpoint scores averaged by importance (all customer-facing steps when the
  blueprint names no touchpoints); its health follows the score bands `ok_score` / `warn_score`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from blueprints.figures import StepFigures
from blueprints.journey_graph import CUSTOMER_FACING, JourneyGraph, StepDesign
from blueprints.state_model import Health, ImpactPath, ObjectiveStatus, TouchpointState

_RANK = {Health.NO_DATA: 0, Health.OK: 1, Health.WARN: 2, Health.CRITICAL: 3}


@dataclass(frozen=True)
class HealthPolicy:
    """Where ok ends and warn and critical begin."""

    warn_burn: float = 1.0
    critical_burn: float = 2.0
    wait_allowance: float = 0.05  # share of waits allowed over max_wait_s
    ok_score: float = 90.0
    warn_score: float = 60.0


@dataclass(frozen=True)
class StepVerdict:
    """A step's objectives, health and score, before impacts are applied."""

    objectives: list[ObjectiveStatus]
    health: Health
    reason: str
    score: float | None


def objective_statuses(
    design: StepDesign, figures: StepFigures, policy: HealthPolicy
) -> list[ObjectiveStatus]:
    """The step's availability, latency and wait objectives against what was measured."""
    statuses: list[ObjectiveStatus] = []
    count = figures.count
    if design.availability is not None:
        actual = 1.0 - figures.errors / count if count else None
        burn = (figures.errors / count) / (1.0 - design.availability) if count else None
        statuses.append(
            _status(
                "availability",
                design.availability,
                actual,
                actual is not None and actual >= design.availability,
                burn,
            )
        )
    if design.latency_threshold_s is not None and design.latency_percentile is not None:
        observed = figures.percentiles_s.get(design.latency_percentile) if count else None
        allowed = 1.0 - design.latency_percentile / 100.0
        burn = (figures.slow / count) / allowed if count and figures.slow is not None else None
        met = observed <= design.latency_threshold_s if observed is not None else None
        statuses.append(_status("latency", design.latency_threshold_s, observed, met, burn))
    if design.max_wait_s is not None:
        observed = figures.wait_p95_s if figures.waits else None
        burn = (figures.long_waits / figures.waits) / policy.wait_allowance if figures.waits else None
        met = observed <= design.max_wait_s if observed is not None else None
        statuses.append(_status("wait", design.max_wait_s, observed, met, burn))
    return statuses


def step_verdict(design: StepDesign, figures: StepFigures, policy: HealthPolicy) -> StepVerdict:
    """Objectives, health with its reason, and score of one step."""
    statuses = objective_statuses(design, figures, policy)
    if figures.count == 0:
        return StepVerdict(statuses, Health.NO_DATA, "no spans in the window", None)
    if not statuses:
        rate = figures.errors / figures.count
        return StepVerdict(statuses, Health.OK, "no objectives set", round(100.0 * (1.0 - rate), 2))
    judged = [(_objective_health(s, policy), _burn(s, policy), s) for s in statuses]
    health, _, status = max(judged, key=lambda j: (_RANK[j[0]], j[1]))
    reason = _describe(status) if health != Health.OK else "all objectives met"
    worst_burn = max(burn for _, burn, _ in judged)
    return StepVerdict(statuses, health, reason, round(100.0 / max(1.0, worst_burn), 2))


def impact_paths(graph: JourneyGraph, healths: Mapping[str, Health]) -> list[ImpactPath]:
    """For each backstage/support step at warn or critical, the customer-facing steps it serves and their
    touchpoints."""
    paths = []
    for cause, served in graph.serves.items():
        if healths.get(cause) not in (Health.WARN, Health.CRITICAL) or not served:
            continue
        affected = [s for s in served if s in graph.step_ids and graph.step(s).lane in CUSTOMER_FACING]
        touchpoints = sorted({t for s in affected if (t := graph.step(s).touchpoint)})
        if affected:
            paths.append(ImpactPath(cause_step=cause, affected_steps=affected, touchpoints=touchpoints))
    return paths


def effective(
    verdicts: Mapping[str, StepVerdict], paths: Sequence[ImpactPath]
) -> dict[str, tuple[Health, float | None]]:
    """Each step's health and score once the impacts of failing steps behind the line are applied."""
    result = {step: (v.health, v.score) for step, v in verdicts.items()}
    for path in paths:
        cause = verdicts[path.cause_step]
        for step in path.affected_steps:
            health, score = result[step]
            if health != Health.NO_DATA and _RANK[cause.health] > _RANK[health]:
                health = cause.health
            if score is not None and cause.score is not None:
                score = min(score, cause.score)
            result[step] = (health, score)
    return result


def touchpoint_states(
    graph: JourneyGraph,
    effective_steps: Mapping[str, tuple[Health, float | None]],
    paths: Sequence[ImpactPath],
) -> list[TouchpointState]:
    """Each touchpoint with its score, health and the impact paths reaching it."""
    states = []
    for touchpoint in graph.touchpoints:
        members = [effective_steps[s.id] for s in graph.steps if s.touchpoint == touchpoint.id]
        scores = [score for _, score in members if score is not None]
        health = max((h for h, _ in members), key=_RANK.__getitem__, default=Health.NO_DATA)
        states.append(
            TouchpointState(
                touchpoint_id=touchpoint.id,
                name=touchpoint.name,
                channel=touchpoint.channel,
                importance=touchpoint.importance,
                health=health,
                score=round(sum(scores) / len(scores), 2) if scores else None,
                impacted_by=[p for p in paths if touchpoint.id in p.touchpoints],
            )
        )
    return states


def journey_score(
    graph: JourneyGraph,
    touchpoints: Sequence[TouchpointState],
    effective_steps: Mapping[str, tuple[Health, float | None]],
    policy: HealthPolicy,
) -> tuple[float | None, Health]:
    """The journey's score (touchpoints weighted by importance) and the health its band gives."""
    if touchpoints:
        weighted = [(t.score, t.importance) for t in touchpoints if t.score is not None]
    else:
        weighted = [
            (score, 1.0)
            for s in graph.steps
            if s.lane in CUSTOMER_FACING and (score := effective_steps[s.id][1]) is not None
        ]
    total = sum(weight for _, weight in weighted)
    if not weighted or total <= 0:
        return None, Health.NO_DATA
    score = round(sum(score * weight for score, weight in weighted) / total, 2)
    if score >= policy.ok_score:
        return score, Health.OK
    return score, Health.WARN if score >= policy.warn_score else Health.CRITICAL


def worst(healths: Sequence[Health]) -> Health:
    """The worst of several healths (no_data when there are none)."""
    return max(healths, key=_RANK.__getitem__, default=Health.NO_DATA)


def _status(
    kind: str, target: float, actual: float | None, met: bool | None, burn: float | None
) -> ObjectiveStatus:
    return ObjectiveStatus(
        kind=kind,
        target=target,
        actual=actual,
        met=met if actual is not None else None,
        budget_burn=round(burn, 4) if burn is not None else None,
        budget_remaining=round(1.0 - burn, 4) if burn is not None else None,
    )


def _objective_health(status: ObjectiveStatus, policy: HealthPolicy) -> Health:
    if status.budget_burn is not None:
        if status.budget_burn > policy.critical_burn:
            return Health.CRITICAL
        return Health.WARN if status.budget_burn > policy.warn_burn else Health.OK
    return Health.WARN if status.met is False else Health.OK


def _burn(status: ObjectiveStatus, policy: HealthPolicy) -> float:
    # An unmet objective whose burn cannot be measured counts as burning at the critical pace for the score.
    if status.budget_burn is not None:
        return status.budget_burn
    return policy.critical_burn if status.met is False else 0.0


def _describe(status: ObjectiveStatus) -> str:
    burn = f" (budget burning {status.budget_burn:.1f}x)" if status.budget_burn is not None else ""
    if status.kind == "availability":
        return f"availability {_pct(status.actual)} below {_pct(status.target)}{burn}"
    what = "latency" if status.kind == "latency" else "wait p95"
    actual = f"{status.actual:.3g} s" if status.actual is not None else "unknown"
    return f"{what} {actual} over {status.target:.3g} s{burn}"


def _pct(value: float | None) -> str:
    return f"{100 * value:.2f}%" if value is not None else "unknown"
