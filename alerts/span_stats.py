"""Per-step span counts over several windows at once: the one query behind failure, latency, burn-rate and
dark rules of a blueprint.

A window is an `Interval` [now - older, now - newer) over span *end* times: a span counts once it has ended,
so evaluating at a past instant sees exactly what was known then. Every window, slow-span threshold and
percentile the rules need is one conditional aggregate of a single scan, grouped by step.
Durations in `otel_traces` are nanoseconds; everything here is returned in seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alerts.step_binding import row_filter, step_index
from blueprints.selectors import TRACE_COLUMNS, SpanColumns
from blueprints.sql_conditions import every
from collectors.schema import TRACES_TABLE

NS = 1_000_000_000
NEVER = 2**62  # a duration no span reaches: "no threshold here"


@dataclass(frozen=True, order=True)
class Interval:
    """The span ends in [now - older_s, now - newer_s), seconds back from the evaluation instant."""

    older_s: float
    newer_s: float = 0.0

    @classmethod
    def last(cls, window: timedelta, ago: timedelta = timedelta(0)) -> Interval:
        """The `window` ending `ago` before now."""
        return cls((window + ago).total_seconds(), ago.total_seconds())

    @property
    def length_s(self) -> float:
        return self.older_s - self.newer_s


@dataclass(frozen=True)
class SpanNeeds:
    """What a blueprint's span rules read: windows, slow-span thresholds per step, percentiles per window."""

    intervals: frozenset[Interval] = frozenset()
    slow_s: Mapping[str, frozenset[float]] = field(default_factory=dict)  # step -> thresholds (seconds)
    quantiles: frozenset[tuple[Interval, float]] = frozenset()  # (window, percentile 0..100)

    def with_intervals(self, intervals: frozenset[Interval]) -> SpanNeeds:
        return SpanNeeds(intervals, self.slow_s, self.quantiles)

    def __or__(self, other: SpanNeeds) -> SpanNeeds:
        slow = {
            k: self.slow_s.get(k, frozenset()) | other.slow_s.get(k, frozenset())
            for k in set(self.slow_s) | set(other.slow_s)
        }
        return SpanNeeds(self.intervals | other.intervals, slow, self.quantiles | other.quantiles)

    @property
    def oldest_s(self) -> float:
        return max((i.older_s for i in self.intervals | {q[0] for q in self.quantiles}), default=0.0)


@dataclass(frozen=True)
class StepWindow:
    """One step over one window: spans ended in it, how many failed, how many were slower than each limit."""

    count: int = 0
    errors: int = 0
    slow: Mapping[float, int] = field(default_factory=dict)

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.count if self.count else None

    def __add__(self, other: StepWindow) -> StepWindow:
        slow = {t: self.slow.get(t, 0) + other.slow.get(t, 0) for t in set(self.slow) | set(other.slow)}
        return StepWindow(self.count + other.count, self.errors + other.errors, slow)


EMPTY = StepWindow()


@dataclass(frozen=True)
class SpanStats:
    """The answer to one span query."""

    now: datetime
    windows: Mapping[tuple[str, Interval], StepWindow]
    quantiles_s: Mapping[tuple[str, Interval, float], float]
    last_end: Mapping[str, datetime]

    def window(self, step: str, interval: Interval) -> StepWindow:
        return self.windows.get((step, interval), EMPTY)

    def total(self, steps: Iterable[str], interval: Interval) -> StepWindow:
        """Several steps' windows added up (a touchpoint's steps)."""
        return sum((self.window(s, interval) for s in steps), EMPTY)

    def quantile_s(self, step: str, interval: Interval, percentile: float) -> float | None:
        return self.quantiles_s.get((step, interval, percentile))


def span_stats_query(
    blueprint: Any, needs: SpanNeeds, now: datetime, slack: timedelta, columns: SpanColumns = TRACE_COLUMNS
) -> tuple[str, dict[str, Any]]:
    """The SQL and parameters answering `needs` for `blueprint` at `now`.

    `slack` is how long before its window a span may have started and still count (the longest span expected);
    `columns` says where the convention attributes live (blueprints.trace_columns).
    """
    steps = [step.id for step in blueprint.steps]
    index = step_index(blueprint, columns)
    now_ns = _ns(now)
    intervals = sorted(needs.intervals)
    slots = _slots(needs, steps)
    params: dict[str, Any] = {
        **index.params,
        "now_ns": now_ns,
        "scan_from": now - timedelta(seconds=needs.oldest_s) - slack,
        "scan_to": now,
    }
    limits = []
    for k, per_step in enumerate(slots):  # the k-th threshold of each step, never-slow where it has none
        params[f"slow{k}"] = [round(t * NS) if t is not None else NEVER for t in per_step] or [NEVER]
        limits.append(f"arrayElement({{slow{k}:Array(Int64)}}, step_idx) AS thr{k}")
    aggregates = ["step_idx", "max(end_ns) AS last_end_ns"]
    for n, interval in enumerate(intervals):
        params[f"from{n}"], params[f"to{n}"] = (
            now_ns - round(interval.older_s * NS),
            now_ns - round(interval.newer_s * NS),
        )
        inside = every(f"end_ns >= {{from{n}:Int64}}", f"end_ns < {{to{n}:Int64}}")
        aggregates += [f"countIf({inside}) AS n{n}", f"countIf({every(inside, 'failed')}) AS e{n}"]
        aggregates += [f"countIf({every(inside, f'dur > thr{k}')})" for k in range(len(slots))]
    quantiles = sorted(needs.quantiles)
    for n, (interval, percentile) in enumerate(quantiles):
        lo, hi = now_ns - round(interval.older_s * NS), now_ns - round(interval.newer_s * NS)
        params[f"qfrom{n}"], params[f"qto{n}"] = lo, hi
        inside = every(f"end_ns >= {{qfrom{n}:Int64}}", f"end_ns < {{qto{n}:Int64}}")
        aggregates.append(f"quantileExactIf({percentile / 100:.4f})(dur, {inside}) AS q{n}")
        aggregates.append(f"countIf({inside}) AS qn{n}")
    service_filter = row_filter(blueprint, params, columns)
    sql = f"""
SELECT {", ".join(aggregates)}
FROM (
    SELECT {index.sql} AS step_idx,
           toUnixTimestamp64Nano(Timestamp) + toInt64(Duration) AS end_ns,
           toInt64(Duration) AS dur,
           StatusCode = 'Error' AS failed{"".join(", " + limit for limit in limits)}
    FROM {TRACES_TABLE}
    WHERE Timestamp >= {{scan_from:DateTime64(9)}} AND Timestamp <= {{scan_to:DateTime64(9)}} {service_filter}
)
WHERE step_idx > 0 AND end_ns < {{now_ns:Int64}}
GROUP BY step_idx
"""
    return sql, params


def span_stats_from_rows(
    rows: Sequence[Sequence[Any]], blueprint: Any, needs: SpanNeeds, now: datetime
) -> SpanStats:
    """Read the query's rows back into `SpanStats`."""
    steps = [step.id for step in blueprint.steps]
    intervals = sorted(needs.intervals)
    quantiles = sorted(needs.quantiles)
    slots = _slots(needs, steps)
    windows: dict[tuple[str, Interval], StepWindow] = {}
    quantile_s: dict[tuple[str, Interval, float], float] = {}
    last_end: dict[str, datetime] = {}
    for row in rows:
        step = steps[int(row[0]) - 1]
        if row[1]:
            last_end[step] = now - timedelta(microseconds=(_ns(now) - int(row[1])) / 1000)
        thresholds = sorted(needs.slow_s.get(step, ()))
        width = 2 + len(slots)
        for n, interval in enumerate(intervals):
            count, errors, *slow = row[2 + width * n : 2 + width * (n + 1)]
            windows[(step, interval)] = StepWindow(
                int(count), int(errors), {t: int(c) for t, c in zip(thresholds, slow, strict=False)}
            )
        base = 2 + width * len(intervals)
        for n, (interval, percentile) in enumerate(quantiles):
            value, count = row[base + 2 * n], row[base + 2 * n + 1]
            if count:
                quantile_s[(step, interval, percentile)] = float(value) / NS
    return SpanStats(now, windows, quantile_s, last_end)


def _slots(needs: SpanNeeds, steps: Sequence[str]) -> list[list[float | None]]:
    """Thresholds by slot: slot k holds each step's k-th threshold (None where it has fewer)."""
    per_step = [sorted(needs.slow_s.get(step, ())) for step in steps]
    width = max((len(t) for t in per_step), default=0)
    return [[t[k] if k < len(t) else None for t in per_step] for k in range(width)]


def _ns(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=moment.tzinfo)
    return (delta.days * 86_400 + delta.seconds) * NS + delta.microseconds * 1000
