"""Rules generated from each blueprint's objectives, so a new map is watched without writing any rule.

Per step: a failure rule and availability burn-rate rules (page and ticket) where it has an availability
objective; a latency rule and latency burn-rate rules where it has a latency objective; a bottleneck rule
where it has `max_wait_s`. Per touchpoint: a dark rule. Per blueprint: conformance and drop-off rules.
Ids are `<blueprint>.<step or touchpoint>.<what>`; a rule in a rules file with the same id replaces the
generated one (set `enabled: false` there to switch it off).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from alerts.model import Severity
from alerts.rules import (
    BottleneckRule,
    BurnRateRule,
    ConformanceRule,
    DarkRule,
    DropOffRule,
    FailureRule,
    LatencyRule,
    Origin,
    RuleBase,
    RuleSet,
)
from blueprints.journey_graph import JourneyGraph

# A failure burst: five times the error budget, and never under 5% (or over 50%) of spans.
FAILURE_BUDGET_MULTIPLE = 5.0
FAILURE_FLOOR, FAILURE_CEILING = 0.05, 0.5
# Generated rules fire at once (their thresholds and minimum volumes already demand a real change) and stay
# firing two minutes after the condition clears, so a flapping condition does not page twice.
KEEP_FIRING = timedelta(minutes=2)


def failure_threshold(availability: float) -> float:
    """The error rate a failure rule fires above for a step with this availability objective."""
    return min(FAILURE_CEILING, max(FAILURE_FLOOR, FAILURE_BUDGET_MULTIPLE * (1 - availability)))


def rules_for(graph: JourneyGraph) -> list[RuleBase]:
    """Every rule the blueprint's objectives imply, in step order."""
    bp = graph.blueprint_id
    common = {"blueprint": bp, "keep_firing_for": KEEP_FIRING, "labels": {"generated": "true"}}
    rules: list[RuleBase] = []
    for step in graph.steps:
        at = f"{bp}.{step.id}"
        if step.availability is not None:
            rules += [
                FailureRule(
                    id=f"{at}.failure", step=step.id, threshold=failure_threshold(step.availability), **common
                ),
                BurnRateRule(id=f"{at}.availability-burn-page", step=step.id, **common),
                BurnRateRule(
                    id=f"{at}.availability-burn-ticket", step=step.id, severity=Severity.TICKET, **common
                ),
            ]
        if step.latency_threshold_s is not None:
            rules += [
                LatencyRule(id=f"{at}.latency", step=step.id, **common),
                BurnRateRule(id=f"{at}.latency-burn-page", step=step.id, objective="latency", **common),
                BurnRateRule(
                    id=f"{at}.latency-burn-ticket",
                    step=step.id,
                    objective="latency",
                    severity=Severity.TICKET,
                    **common,
                ),
            ]
        if step.max_wait_s is not None:
            rules.append(BottleneckRule(id=f"{at}.bottleneck", step=step.id, **common))
    for touchpoint in graph.touchpoints:
        rules.append(DarkRule(id=f"{bp}.{touchpoint.id}.dark", touchpoint=touchpoint.id, **common))
    rules.append(ConformanceRule(id=f"{bp}.conformance", severity=Severity.TICKET, **common))
    rules.append(DropOffRule(id=f"{bp}.drop-off", severity=Severity.TICKET, **common))
    return rules


def generated_rules(graphs: Iterable[JourneyGraph]) -> RuleSet:
    """The generated rules of every blueprint, each with its origin."""
    rules: list[RuleBase] = []
    origins: dict[str, Origin] = {}
    for graph in graphs:
        for rule in rules_for(graph):
            rules.append(rule)
            origins[rule.id] = Origin(f"generated from blueprint {graph.blueprint_id}")
    return RuleSet(tuple(rules), (), origins)  # type: ignore[arg-type]
