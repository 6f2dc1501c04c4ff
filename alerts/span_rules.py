"""Failure, latency and dark-touchpoint rules: what each reads from `SpanStats` and when it holds.

Each kind has `*_needs(rule, graph)` (the windows it reads) and `judge_*(rule, graph, stats)` returning the
active signals (none when the condition does not hold). Pure functions: no I/O, no clock.
"""

from __future__ import annotations

from datetime import timedelta
from statistics import fmean

from alerts.durations import format_duration
from alerts.model import Signal, signal_of
from alerts.rules import DarkRule, FailureRule, LatencyRule
from alerts.significance import significantly_above
from alerts.span_stats import Interval, SpanNeeds, SpanStats
from blueprints.journey_graph import JourneyGraph

DAY = timedelta(days=1)


def targets(rule: FailureRule | DarkRule, graph: JourneyGraph) -> tuple[str, ...]:
    """The steps a rule on a step or a touchpoint covers."""
    if rule.step is not None:
        return (rule.step,)
    return tuple(s.id for s in graph.steps if s.touchpoint == rule.touchpoint)


def _where(rule: FailureRule | DarkRule) -> str:
    return rule.step if rule.step is not None else f"touchpoint {rule.touchpoint}"


def failure_needs(rule: FailureRule, graph: JourneyGraph) -> SpanNeeds:
    return SpanNeeds(intervals=frozenset({Interval.last(rule.window)}))


def judge_failure(rule: FailureRule, graph: JourneyGraph, stats: SpanStats) -> list[Signal]:
    """Active when the error rate over the window is above the threshold, with enough spans and errors."""
    seen = stats.total(targets(rule, graph), Interval.last(rule.window))
    rate = seen.error_rate
    if rate is None or seen.count < rule.min_count or seen.errors < rule.min_errors or rate <= rule.threshold:
        return []
    summary = (
        f"{_where(rule)} error rate {rate:.1%} over {format_duration(rule.window)} "
        f"({seen.errors} of {seen.count} spans failed), above {rule.threshold:.1%}"
    )
    return [
        signal_of(
            rule,
            summary=summary,
            value=rate,
            threshold=rule.threshold,
            step=rule.step,
            touchpoint=rule.touchpoint,
        )
    ]


def latency_target(rule: LatencyRule, graph: JourneyGraph) -> tuple[float, float]:
    """(percentile, threshold in seconds): as the rule says, else the step's latency objective."""
    design = graph.step(rule.step)
    percentile = rule.percentile or design.latency_percentile or 95
    if rule.threshold_ms is not None:
        return float(percentile), rule.threshold_ms / 1000
    if design.latency_threshold_s is None:
        raise LookupError(f"rule {rule.id}: step {rule.step} has no latency objective; give threshold_ms")
    return float(percentile), design.latency_threshold_s


def latency_needs(rule: LatencyRule, graph: JourneyGraph) -> SpanNeeds:
    percentile, threshold = latency_target(rule, graph)
    interval = Interval.last(rule.window)
    return SpanNeeds(
        intervals=frozenset({interval}),
        slow_s={rule.step: frozenset({threshold})},
        quantiles=frozenset({(interval, percentile)}),
    )


def judge_latency(rule: LatencyRule, graph: JourneyGraph, stats: SpanStats) -> list[Signal]:
    """Active when the step's percentile latency over the window is above the threshold, and clearly so: more
    spans are slower than the threshold than the percentile allows, beyond what chance explains."""
    percentile, threshold = latency_target(rule, graph)
    interval = Interval.last(rule.window)
    observed = stats.quantile_s(rule.step, interval, percentile)
    seen = stats.window(rule.step, interval)
    slow = seen.slow.get(threshold, 0)
    if observed is None or seen.count < rule.min_count or observed <= threshold:
        return []
    if not significantly_above(slow, seen.count, 1 - percentile / 100):
        return []
    summary = (
        f"{rule.step} p{percentile:g} latency {_seconds(observed)} over {format_duration(rule.window)} "
        f"({slow} of {seen.count} spans slower than {_seconds(threshold)})"
    )
    return [signal_of(rule, summary=summary, value=observed, threshold=threshold, step=rule.step)]


def _dark_intervals(rule: DarkRule) -> tuple[Interval, Interval, tuple[Interval, ...]]:
    """(window, trailing baseline, same-hour baselines of previous days)."""
    days = (
        tuple(Interval.last(rule.baseline_window, ago=d * DAY) for d in range(1, rule.baseline_days + 1))
        if rule.baseline == "same_hour"
        else ()
    )
    return Interval.last(rule.window), Interval.last(rule.baseline_window, ago=rule.window), days


def dark_needs(rule: DarkRule, graph: JourneyGraph) -> SpanNeeds:
    window, trailing, days = _dark_intervals(rule)
    return SpanNeeds(intervals=frozenset({window, trailing, *days}))


def baseline_rate(rule: DarkRule, steps: tuple[str, ...], stats: SpanStats) -> tuple[float | None, str]:
    """Spans per second the baseline expects, and which baseline answered."""
    _, trailing, days = _dark_intervals(rule)
    rates = [stats.total(steps, d).count / d.length_s for d in days]
    with_data = [r for r in rates if r > 0]
    if with_data:
        return fmean(with_data), f"same hour over {len(with_data)} day(s)"
    seen = stats.total(steps, trailing).count
    if seen == 0:
        return None, "no baseline"
    return seen / trailing.length_s, f"previous {format_duration(rule.baseline_window)}"


def judge_dark(rule: DarkRule, graph: JourneyGraph, stats: SpanStats) -> list[Signal]:
    """Active when traffic stopped (silence the baseline makes implausible) or fell far below the baseline."""
    steps = targets(rule, graph)
    window = Interval.last(rule.window)
    observed = stats.total(steps, window).count
    rate, basis = baseline_rate(rule, steps, stats)
    last = max((stats.last_end[s] for s in steps if s in stats.last_end), default=None)
    silence_s = (stats.now - last).total_seconds() if last else None
    reasons = []
    expected = rate * window.length_s if rate else 0.0
    if rate and silence_s is not None and silence_s * rate >= rule.silence_expected:
        reasons.append(f"nothing for {_seconds(silence_s)} where {silence_s * rate:.0f} spans were expected")
    elif rate and silence_s is None and window.length_s * rate >= rule.silence_expected:
        reasons.append(
            f"nothing in the last {format_duration(rule.window)} where {expected:.0f} were expected"
        )
    if expected >= rule.min_expected and observed < rule.drop * expected and not reasons:
        reasons.append(
            f"{observed} spans in {format_duration(rule.window)}, under {rule.drop:.0%} of "
            f"the {expected:.0f} expected"
        )
    per_min = observed / (window.length_s / 60)
    if rule.min_rate_per_min is not None and per_min < rule.min_rate_per_min:
        reasons.append(f"{per_min:.1f} spans/min, under the minimum {rule.min_rate_per_min:g}/min")
    if not reasons:
        return []
    summary = f"{_where(rule)} went dark: " + "; ".join(reasons) + f" ({basis})"
    ratio = observed / expected if expected else 0.0
    return [
        signal_of(
            rule,
            summary=summary,
            value=ratio,
            threshold=rule.drop,
            step=rule.step,
            touchpoint=rule.touchpoint,
        )
    ]


def _seconds(value: float) -> str:
    if value < 10:
        return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.1f}s"
    return format_duration(timedelta(seconds=value))
