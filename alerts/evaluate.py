"""Evaluation: rules → SQL → signals, in at most two queries per blueprint whatever the number of rules.

Every rule kind says what it needs (windows, thresholds, percentiles, journey cohorts); the needs of all rules
on one blueprint are merged into one span query and one journey query; each rule then judges its own share
of the answer. A query that fails marks its rules as not evaluated: their alerts keep their state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alerts import burn_rate, journey_rules, span_rules
from alerts.journey_stats import JourneyNeeds, journey_stats_from_rows, journey_stats_query
from alerts.minutes import LONG, Counting, MinuteCounts, split
from alerts.model import Signal
from alerts.span_stats import EMPTY, SpanNeeds, SpanStats, span_stats_from_rows, span_stats_query
from blueprints.journey_graph import JourneyGraph, journey_graph
from blueprints.selectors import TRACE_COLUMNS, SpanColumns
from blueprints.trace_columns import trace_columns

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Detector:
    """How one rule kind is evaluated: which query family answers it, what it needs, how it judges."""

    family: str  # "spans" | "journeys"
    needs: Callable[[Any, JourneyGraph], Any]
    judge: Callable[[Any, JourneyGraph, Any], list[Signal]]


DETECTORS: Mapping[str, Detector] = {
    "failure": Detector("spans", span_rules.failure_needs, span_rules.judge_failure),
    "latency": Detector("spans", span_rules.latency_needs, span_rules.judge_latency),
    "dark": Detector("spans", span_rules.dark_needs, span_rules.judge_dark),
    "burn_rate": Detector("spans", burn_rate.burn_needs, burn_rate.judge_burn_rate),
    "bottleneck": Detector("journeys", journey_rules.bottleneck_needs, journey_rules.judge_bottleneck),
    "conformance": Detector("journeys", journey_rules.conformance_needs, journey_rules.judge_conformance),
    "drop_off": Detector("journeys", journey_rules.drop_off_needs, journey_rules.judge_drop_off),
}


@dataclass(frozen=True)
class Watched:
    """A blueprint model and its journey graph, built once per blueprint version."""

    blueprint: Any
    graph: JourneyGraph

    @classmethod
    def of(cls, blueprint: Any) -> Watched:
        return cls(blueprint, journey_graph(blueprint))

    @property
    def slack(self) -> timedelta:
        """How long before a window a span may have started and still end inside it: twice the slowest
        latency objective, at least 15 minutes, at most 2 hours."""
        slowest = max((s.latency_threshold_s or 0.0 for s in self.graph.steps), default=0.0)
        return min(timedelta(hours=2), max(timedelta(minutes=15), timedelta(seconds=2 * slowest)))


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation found."""

    now: datetime
    signals: tuple[Signal, ...] = ()
    evaluated: frozenset[str] = frozenset()
    failures: Mapping[str, str] = field(default_factory=dict)  # rule id -> why it was not evaluated
    queries: int = 0
    elapsed_ms: float = 0.0


def evaluate(
    client: Any,
    watched: Mapping[str, Watched],
    rules: Sequence[Any],
    now: datetime,
    minutes: MinuteCounts | None = None,
    families: frozenset[str] = frozenset({"spans", "journeys"}),
) -> Evaluation:
    """Evaluate every enabled rule at `now` (timezone-aware) against ClickHouse through `client`.

    `families` limits the evaluation to span rules or journey rules (the others count as not evaluated).
    With `minutes`, windows of an hour or more are read from the per-minute counts (alerts/minutes.py)
    instead of raw spans: the same answer to within a minute at each edge, at a cost that does not grow
    with the window.
    """
    started = time.perf_counter()
    signals: list[Signal] = []
    evaluated: set[str] = set()
    failures: dict[str, str] = {}
    queries = 0
    by_blueprint: dict[str, list[Any]] = {}
    columns = trace_columns(client) if rules else TRACE_COLUMNS
    for rule in rules:
        if not rule.enabled:
            continue
        if rule.blueprint not in watched:
            failures[rule.id] = f"blueprint {rule.blueprint!r} is not loaded"
            continue
        by_blueprint.setdefault(rule.blueprint, []).append(rule)
    for blueprint_id, blueprint_rules in by_blueprint.items():
        target = watched[blueprint_id]
        for family, empty in (("spans", SpanNeeds()), ("journeys", JourneyNeeds())):
            if family not in families:
                continue  # not evaluated this time: their alerts keep their state
            needs, usable = empty, []
            for rule in (r for r in blueprint_rules if DETECTORS[r.kind].family == family):
                try:
                    needs = needs | DETECTORS[rule.kind].needs(rule, target.graph)
                    usable.append(rule)
                except (LookupError, ValueError) as exc:
                    failures[rule.id] = str(exc)
            if not usable:
                continue
            try:
                if family == "spans":
                    stats, used = _span_stats(client, target, needs, now, minutes, columns)
                else:
                    # a journey's earlier steps are looked for over the rules' own lookbacks: no slack
                    sql, params = journey_stats_query(target.blueprint, needs, now, timedelta(0), columns)
                    stats = journey_stats_from_rows(
                        client.query(sql, parameters=params).result_rows, target.blueprint, needs, now
                    )
                    used = 1
                queries += used
            except Exception as exc:  # noqa: BLE001 - a failed query must not stop the other blueprints
                log.warning(
                    "alert query failed",
                    extra={"blueprint": blueprint_id, "family": family, "error": str(exc)},
                )
                failures.update({r.id: f"{family} query failed: {exc}" for r in usable})
                continue
            for rule in usable:
                try:
                    signals += DETECTORS[rule.kind].judge(rule, target.graph, stats)
                    evaluated.add(rule.id)
                except (LookupError, ValueError, ZeroDivisionError) as exc:
                    failures[rule.id] = str(exc)
    return Evaluation(
        now,
        tuple(signals),
        frozenset(evaluated),
        failures,
        queries,
        round((time.perf_counter() - started) * 1000, 1),
    )


def _span_stats(
    client: Any,
    target: Watched,
    needs: SpanNeeds,
    now: datetime,
    minutes: MinuteCounts | None,
    columns: SpanColumns,
) -> tuple[SpanStats, int]:
    """The span figures for `needs` (long windows from the minute counts when given) and the queries taken."""
    long = {i for i in needs.intervals if minutes is not None and i.length_s >= LONG.total_seconds()}
    counting, counted_to = None, None
    if long and minutes is not None:
        thresholds = {s: tuple(sorted(t)) for s, t in needs.slow_s.items()}
        counting = Counting(target.blueprint, thresholds, columns, target.slack)
        counted_to = minutes.fill(client, counting, now)  # the raw query answers every minute after this
    parts = {i: split(i, now, counted_to) for i in long}
    raw_intervals = (needs.intervals - long) | {raw for _, raw in parts.values() if raw is not None}
    raw_needs = needs.with_intervals(frozenset(raw_intervals))
    sql, params = span_stats_query(target.blueprint, raw_needs, now, target.slack, columns)
    raw = span_stats_from_rows(
        client.query(sql, parameters=params).result_rows, target.blueprint, raw_needs, now
    )
    if counting is None or minutes is None:
        return raw, 1
    ranges = sorted({span for span, _ in parts.values() if span is not None})
    counted = minutes.windows(client, counting, ranges)
    windows = dict(raw.windows)
    for interval, (span, raw_part) in parts.items():
        for step in target.graph.step_ids:
            total = counted.get((step, span), EMPTY) if span else EMPTY
            if raw_part is not None:
                total = total + raw.window(step, raw_part)
            windows[(step, interval)] = total
    return SpanStats(now, windows, raw.quantiles_s, raw.last_end), 3
