"""Bottleneck, conformance and drop-off rules: what each reads from `JourneyStats` and when it holds.

Each kind has `*_needs(rule, graph)` and `judge_*(rule, graph, stats)` returning active signals. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from statistics import median

from alerts.durations import format_duration
from alerts.journey_stats import START, JourneyNeeds, JourneyStats, Waits
from alerts.model import Signal, signal_of
from alerts.rules import BottleneckRule, ConformanceRule, DropOffRule
from alerts.significance import significantly_above
from alerts.span_rules import _seconds
from alerts.span_stats import Interval
from blueprints.journey_graph import JourneyGraph

BASELINE_SAMPLES = 6
OVER_LIMIT_SHARE = 0.05  # more than 5% over the limit: the 95th percentile wait is above it


def predecessors(graph: JourneyGraph, step: str) -> tuple[str, ...]:
    """Steps whose flows lead into `step` (itself excluded: a retry is not a wait)."""
    return tuple(sorted(a for a, b in graph.expected if b == step and a != step))


def max_wait_s(rule: BottleneckRule, graph: JourneyGraph) -> float | None:
    if rule.max_wait is not None:
        return rule.max_wait.total_seconds()
    return graph.step(rule.step).max_wait_s


def _baseline_instants(rule: BottleneckRule) -> tuple[float, ...]:
    spacing = rule.baseline_window.total_seconds() / BASELINE_SAMPLES
    return tuple(rule.window.total_seconds() + k * spacing for k in range(BASELINE_SAMPLES))


def _wait_windows(rule: BottleneckRule) -> tuple[Interval, Interval]:
    """(recent window, the baseline window before it) over which served waits are compared."""
    return Interval.last(rule.window), Interval.last(rule.baseline_window, ago=rule.window)


def bottleneck_needs(rule: BottleneckRule, graph: JourneyGraph) -> JourneyNeeds:
    limit = max_wait_s(rule, graph)
    waiting_for = min(
        rule.waiting_limit(timedelta(seconds=limit) if limit else None).total_seconds(), graph.timeout_s
    )
    return JourneyNeeds(
        waits=frozenset(_wait_windows(rule)),
        wait_limit_s={rule.step: limit} if limit else {},
        waiting_for_s={p: waiting_for for p in predecessors(graph, rule.step)},
        instants_s=frozenset({0.0, *_baseline_instants(rule)}),
    )


def judge_bottleneck(rule: BottleneckRule, graph: JourneyGraph, stats: JourneyStats) -> list[Signal]:
    """Active when a queue builds before the step.

    Either clearly more than 5% of the journeys reaching it waited longer than its limit, or more journeys
    wait after its predecessors than usual (`growth` times the baseline plus `min_excess`) while those it
    serves waited longer than usual too (or none were served): the second test tells a queue from journeys
    that merely went elsewhere.
    """
    before = predecessors(graph, rule.step)
    recent, earlier = _wait_windows(rule)
    served = _sum_waits(stats.waits.get((p, rule.step, recent), Waits()) for p in before)
    usual_wait = _sum_waits(stats.waits.get((p, rule.step, earlier), Waits()) for p in before)
    waiting_now = sum(stats.waiting.get((p, 0.0), 0) for p in before)
    usual = median(sum(stats.waiting.get((p, t), 0) for p in before) for t in _baseline_instants(rule))
    bar = rule.growth * usual + rule.min_excess
    limit = max_wait_s(rule, graph)
    reasons = []
    # Served journeys wait longer than usual, and (where the step promises a wait) someone waited past it:
    # a queue that still serves everyone within the promise is busy, not broken.
    longer = (
        served.mean_s is not None
        and usual_wait.mean_s is not None
        and served.mean_s >= rule.growth * usual_wait.mean_s
        and (limit is None or served.max_s > limit)
    )
    if waiting_now >= bar and waiting_now > 0 and (served.count == 0 or longer):
        reasons.append(f"{waiting_now} journeys waiting (usually {usual:g})")
        if served.mean_s is not None and usual_wait.mean_s is not None:
            reasons.append(f"mean wait {_seconds(served.mean_s)} (usually {_seconds(usual_wait.mean_s)})")
    if (
        limit
        and served.count >= rule.min_count
        and significantly_above(served.over_limit, served.count, OVER_LIMIT_SHARE)
    ):
        reasons.append(
            f"{served.over_limit} of {served.count} waited longer than {_seconds(limit)} "
            f"(longest {_seconds(served.max_s)})"
        )
    if not reasons:
        return []
    summary = f"queue building before {rule.step}: " + "; ".join(reasons)
    return [signal_of(rule, summary=summary, value=float(waiting_now), threshold=bar, step=rule.step)]


def _sum_waits(parts: Iterable[Waits]) -> Waits:
    items = list(parts)
    return Waits(
        sum(w.count for w in items),
        sum(w.total_s for w in items),
        max((w.max_s for w in items), default=0.0),
        sum(w.over_limit for w in items),
    )


def conformance_needs(rule: ConformanceRule, graph: JourneyGraph) -> JourneyNeeds:
    return JourneyNeeds(lookback_s=graph.timeout_s, transitions=frozenset({Interval.last(rule.window)}))


def skipped_between(graph: JourneyGraph, a: str, b: str) -> tuple[str, ...]:
    """Required steps a journey must have skipped to go from `a` straight to `b` (START: from nothing)."""
    if (a, b) in graph.expected or (a == START and b in graph.start):
        return ()
    needed = set(graph.required_before.get(b, ()))
    if a != START:
        needed -= set(graph.required_before.get(a, ())) | {a}
    return tuple(s for s in graph.step_ids if s in needed)


def judge_conformance(rule: ConformanceRule, graph: JourneyGraph, stats: JourneyStats) -> list[Signal]:
    """Active per step where too many journeys skipped it, or reached it along no designed flow."""
    interval = Interval.last(rule.window)
    pairs = {(a, b): n for (a, b, i), n in stats.transitions.items() if i == interval}
    skipped: dict[str, int] = {}
    unexpected: dict[str, dict[str, int]] = {}
    into: dict[str, int] = {}
    out_of: dict[str, int] = {}
    for (a, b), n in pairs.items():
        into[b] = into.get(b, 0) + n
        out_of[a] = out_of.get(a, 0) + n
        if (a, b) in graph.expected or (a == START and b in graph.start):
            continue
        missing = skipped_between(graph, a, b)
        for step in missing:
            skipped[step] = skipped.get(step, 0) + n
        if not missing and a != START:
            unexpected.setdefault(b, {})[a] = n
    signals = []
    for step in graph.step_ids:
        if rule.step is not None and step != rule.step:
            continue
        passed = skipped.get(step, 0) + out_of.get(step, 0)
        if passed >= rule.min_journeys and skipped.get(step, 0) / passed > rule.skip_threshold:
            share = skipped[step] / passed
            summary = (
                f"{share:.0%} of {passed} journeys skipped required step {step} over "
                f"{format_duration(rule.window)} (alert above {rule.skip_threshold:.0%})"
            )
            signals.append(
                signal_of(
                    rule,
                    summary=summary,
                    value=share,
                    threshold=rule.skip_threshold,
                    step=step,
                    extra={"problem": "skipped"},
                )
            )
        wrong = unexpected.get(step, {})
        total = into.get(step, 0)
        if total >= rule.min_journeys and sum(wrong.values()) / total > rule.unexpected_threshold:
            share = sum(wrong.values()) / total
            worst = max(wrong, key=lambda a: wrong[a])
            summary = (
                f"{share:.0%} of {total} journeys reached {step} along no designed flow, most from "
                f"{worst} ({wrong[worst]}) over {format_duration(rule.window)}"
            )
            signals.append(
                signal_of(
                    rule,
                    summary=summary,
                    value=share,
                    threshold=rule.unexpected_threshold,
                    step=step,
                    extra={"problem": "unexpected"},
                )
            )
    return signals


def _cohorts(rule: DropOffRule) -> tuple[Interval, Interval, float]:
    settle = rule.settle.total_seconds()
    return (
        Interval.last(rule.window, ago=rule.settle),
        Interval.last(rule.baseline_window, ago=rule.settle + rule.window),
        settle,
    )


def drop_off_needs(rule: DropOffRule, graph: JourneyGraph) -> JourneyNeeds:
    current, baseline, settle = _cohorts(rule)
    evidence = frozenset(s.id for s in graph.steps if s.lane == "evidence")
    return JourneyNeeds(cohorts=frozenset({(current, settle), (baseline, settle)}), not_going_on=evidence)


def judge_drop_off(rule: DropOffRule, graph: JourneyGraph, stats: JourneyStats) -> list[Signal]:
    """Active per step where the share of journeys going on after it fell well below its baseline."""
    current, baseline, settle = _cohorts(rule)
    signals = []
    lanes = {s.id: s.lane for s in graph.steps}
    for step in graph.step_ids:
        if step in graph.end or (rule.step is not None and step != rule.step):
            continue
        following = {b for a, b in graph.expected if a == step}
        if lanes.get(step) == "evidence" or (
            following and all(lanes.get(b) == "evidence" for b in following)
        ):
            continue  # evidence (an email, a receipt) is not where customers leave, nor how they go on
        did, went_on = stats.cohorts.get((step, current, settle), (0, 0))
        base_did, base_went_on = stats.cohorts.get((step, baseline, settle), (0, 0))
        if did < rule.min_journeys or base_did < rule.min_journeys:
            continue
        share, usual = went_on / did, base_went_on / base_did
        if usual - share > rule.drop:
            summary = (
                f"only {share:.0%} of {did} journeys went on after {step} within "
                f"{format_duration(rule.settle)} (usually {usual:.0%})"
            )
            signals.append(
                signal_of(rule, summary=summary, value=share, threshold=usual - rule.drop, step=step)
            )
    return signals
