"""Error-budget burn rates, multi-window and multi-burn-rate, as in the SRE workbook (chapter 5).

The burn rate over a window is the share of bad events divided by the share the objective allows: 1.0 spends
the budget exactly over the objective's period, 14.4 spends a 30-day budget's 2% in one hour. An alert holds
when both the long and the short window of a pair burn faster than the pair's factor: the long window proves
it matters, the short one that it is still happening (so the alert resolves soon after the fix).
Bad events: failed spans (availability), or spans slower than the latency threshold (latency).
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts.durations import format_duration
from alerts.model import Signal, signal_of
from alerts.rules import BurnRateRule, BurnWindow
from alerts.significance import significantly_above
from alerts.span_stats import Interval, SpanNeeds, SpanStats, StepWindow
from blueprints.journey_graph import JourneyGraph


@dataclass(frozen=True)
class Objective:
    """What a burn-rate rule measures against: the allowed share of bad events, and what counts as bad."""

    budget: float  # allowed bad share, 0..1
    slow_s: float | None  # latency threshold in seconds; None counts errors instead

    def bad(self, window: StepWindow) -> int:
        return window.errors if self.slow_s is None else window.slow.get(self.slow_s, 0)


def objective_of(rule: BurnRateRule, graph: JourneyGraph) -> Objective:
    """The rule's objective, filled in from the step's objectives where the rule leaves it out."""
    design = graph.step(rule.step)
    if rule.objective == "availability":
        target = rule.target if rule.target is not None else design.availability
        if target is None:
            raise LookupError(f"rule {rule.id}: step {rule.step} has no availability objective; give target")
        return Objective(budget=1 - target, slow_s=None)
    percentile = rule.percentile or design.latency_percentile
    threshold_s = rule.threshold_ms / 1000 if rule.threshold_ms is not None else design.latency_threshold_s
    if threshold_s is None or (percentile is None and rule.target is None):
        raise LookupError(
            f"rule {rule.id}: step {rule.step} has no latency objective; give threshold_ms and percentile"
        )
    target = rule.target if rule.target is not None else (percentile or 95) / 100
    return Objective(budget=1 - target, slow_s=threshold_s)


def burn_rate(window: StepWindow, objective: Objective) -> float | None:
    """Bad share over the window divided by the allowed share; None without spans."""
    if not window.count:
        return None
    return objective.bad(window) / window.count / objective.budget


def burn_needs(rule: BurnRateRule, graph: JourneyGraph) -> SpanNeeds:
    objective = objective_of(rule, graph)
    intervals = {Interval.last(w.long) for w in rule.burn_windows} | {Interval.last(w.short) for w in rule.burn_windows}
    slow = {rule.step: frozenset({objective.slow_s})} if objective.slow_s is not None else {}
    return SpanNeeds(intervals=frozenset(intervals), slow_s=slow)


def pair_burns(
    rule: BurnRateRule, pair: BurnWindow, objective: Objective, stats: SpanStats
) -> tuple[float | None, float | None, int]:
    """(long burn, short burn, spans in the short window) for one window pair."""
    long = stats.window(rule.step, Interval.last(pair.long))
    short = stats.window(rule.step, Interval.last(pair.short))
    return burn_rate(long, objective), burn_rate(short, objective), short.count


def burns_beyond_chance(window: StepWindow, objective: Objective, factor: float) -> bool:
    """Whether the window's bad events are clearly more than `factor` times the budget allows, not noise.

    A step whose usual bad share sits at its objective burns near 1x, a little above or below by chance;
    without this test a 1x ticket would open and close on that wobble, more often the less history there is.
    """
    return significantly_above(objective.bad(window), window.count, min(1.0, factor * objective.budget))


def judge_burn_rate(rule: BurnRateRule, graph: JourneyGraph, stats: SpanStats) -> list[Signal]:
    """Active when some window pair burns faster than its factor over both windows, beyond chance."""
    objective = objective_of(rule, graph)
    for pair in rule.burn_windows:
        long, short, count = pair_burns(rule, pair, objective, stats)
        if long is None or short is None or count < rule.min_count:
            continue
        beyond_chance = all(
            burns_beyond_chance(stats.window(rule.step, Interval.last(w)), objective, pair.factor)
            for w in (pair.long, pair.short)
        )
        if long > pair.factor and short > pair.factor and beyond_chance:
            what = "availability" if objective.slow_s is None else f"latency (>{objective.slow_s * 1000:g}ms)"
            summary = (
                f"{rule.step} {what} budget burning {long:.1f}x over {format_duration(pair.long)} and "
                f"{short:.1f}x over {format_duration(pair.short)} (alert above {pair.factor:g}x; "
                f"{objective.budget:.2%} bad allowed)"
            )
            return [signal_of(rule, summary=summary, value=long, threshold=pair.factor, step=rule.step)]
    return []
