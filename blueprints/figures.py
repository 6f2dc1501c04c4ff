"""What the state queries measured, as typed values in seconds: the rows of
:func:`blueprints.state_sql.journey_query` and of the rollup queries, parsed and merged. Pure."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from blueprints.state_sql import (
    QUANTILES,
    SET_EDGE,
    SET_OUTCOME,
    SET_SERIES,
    SET_STEP,
    SUMMED_FIGURES,
    WAIT_QUANTILES,
    head_outcome,
)

_NS = 1e9


@dataclass(frozen=True)
class StepFigures:
    """One step's spans over the window (durations and waits in seconds)."""

    count: int = 0
    errors: int = 0
    duration_sum_s: float = 0.0
    percentiles_s: Mapping[int, float | None] = field(default_factory=dict)  # 50, 90, 95, 99
    slow: int | None = None  # spans over the latency threshold; None when unknown (rollup)
    in_flight: int = 0
    waits: int = 0
    wait_sum_s: float = 0.0
    wait_p50_s: float | None = None
    wait_p95_s: float | None = None
    long_waits: int = 0  # waits over max_wait_s

    @property
    def wait_mean_s(self) -> float | None:
        return self.wait_sum_s / self.waits if self.waits else None

    @property
    def duration_mean_s(self) -> float | None:
        return self.duration_sum_s / self.count if self.count else None


@dataclass(frozen=True)
class BucketFigures:
    """One step in one series bucket; `waits`/`wait_sum_s` only where journeys were walked."""

    count: int = 0
    errors: int = 0
    p95_s: float | None = None
    waits: int = 0
    wait_sum_s: float = 0.0


@dataclass(frozen=True)
class EdgeFigures:
    """One observed transition `from_step` -> `to_step`."""

    from_step: str
    to_step: str
    count: int
    wait_sum_s: float
    wait_p50_s: float | None
    wait_p95_s: float | None


@dataclass(frozen=True)
class JourneyFigures:
    """Journeys that began (first observed step is an entry step) in the walked period."""

    journeys: int = 0
    completed: int = 0
    conforming: int = 0
    repeats: int = 0
    first_contact: int = 0
    lead_sum_s: float = 0.0
    busy_sum_s: float = 0.0
    handoffs_sum: int = 0
    skipped: Mapping[str, int] = field(default_factory=dict)
    drop_off: Mapping[str, tuple[int, int, int]] = field(
        default_factory=dict
    )  # (error, abandoned, wrong path)


@dataclass(frozen=True)
class Observed:
    """Everything measured for one state, keyed by step id."""

    steps: Mapping[str, StepFigures]
    series: Mapping[tuple[str, int], BucketFigures]
    edges: Sequence[EdgeFigures]
    journeys: JourneyFigures
    unmapped: Sequence[tuple[str, str, int]] = ()


def parse_journey_rows(rows: Iterable[Mapping[str, Any]], step_ids: Sequence[str]) -> Observed:
    """Rows of journey_query (as name -> value) as typed figures per step, per step and bucket, per transition
    and for all journeys (counted by outcome); step index 0 never names a step."""
    steps: dict[int, tuple[Sequence[float], Any, Any]] = {}
    series: dict[tuple[int, int], tuple[Sequence[float], Any]] = {}
    edges: dict[tuple[int, int], tuple[Sequence[float], Any]] = {}
    journeys = dict.fromkeys(("journeys", "completed", "conforming", "repeats", "first_contact"), 0)
    lead_sum = busy_sum = 0.0
    skipped: dict[int, int] = {}
    drop_off: dict[int, list[int]] = {}
    for row in rows:
        kind, step = row["set"], int(row["step"])
        if not step:
            continue
        figures = row["figures"]
        if kind == SET_STEP:
            steps[step] = (figures, row["duration_q_ns"], row["wait_q_ns"])
        elif kind == SET_SERIES:
            series[(step, int(row["bucket"]))] = (figures, row["duration_q_ns"][_P95])
        elif kind == SET_EDGE:
            edges[(int(row["prev"]), step)] = (figures, row["wait_q_ns"])
        elif kind == SET_OUTCOME:
            outcome = head_outcome(int(row["prev"]))
            if outcome is None:
                continue
            count = int(figures[_SPANS])
            for bit, skips in zip(*row["skipped_bits"], strict=True):
                skipped[int(bit)] = skipped.get(int(bit), 0) + int(skips)
            if outcome.began:
                journeys["journeys"] += count
                journeys["conforming"] += count if outcome.conforming else 0
                journeys["repeats"] += count if outcome.repeated else 0
                if outcome.completed:
                    journeys["completed"] += count
                    journeys["first_contact"] += count if outcome.first_contact else 0
                    lead_sum += figures[_LEAD_SUM]
                    busy_sum += figures[_BUSY_SUM]
            if outcome.dropped_at:
                drop_off.setdefault(outcome.dropped_at, [0, 0, 0])[outcome.cause - 1] += count

    def name(index: int) -> str:
        return step_ids[index - 1]

    def step_figures(figures: Sequence[float], durations: Any, waits: Any) -> StepFigures:
        return StepFigures(
            count=int(figures[_SPANS]),
            errors=int(figures[_ERRORS]),
            duration_sum_s=figures[_DURATION_SUM] / _NS,
            percentiles_s=_percentiles(durations),
            slow=int(figures[_SLOW]),
            in_flight=int(figures[_IN_FLIGHT]),
            waits=int(figures[_WAITS]),
            wait_sum_s=figures[_WAIT_SUM] / _NS,
            wait_p50_s=_seconds(waits[_WAIT_P50]),
            wait_p95_s=_seconds(waits[_WAIT_P95]),
            long_waits=int(figures[_LONG_WAITS]),
        )

    return Observed(
        steps={name(step): step_figures(*figures) for step, figures in steps.items()},
        series={
            (name(step), bucket): BucketFigures(
                count=int(figures[_SPANS]),
                errors=int(figures[_ERRORS]),
                p95_s=_seconds(p95),
                waits=int(figures[_WAITS]),
                wait_sum_s=figures[_WAIT_SUM] / _NS,
            )
            for (step, bucket), (figures, p95) in series.items()
        },
        edges=[
            EdgeFigures(
                from_step=name(prev),
                to_step=name(step),
                count=int(figures[_SPANS]),
                wait_sum_s=figures[_WAIT_SUM] / _NS,
                wait_p50_s=_seconds(waits[_WAIT_P50]),
                wait_p95_s=_seconds(waits[_WAIT_P95]),
            )
            for (prev, step), (figures, waits) in sorted(edges.items())
        ],
        journeys=JourneyFigures(
            journeys=journeys["journeys"],
            completed=journeys["completed"],
            conforming=journeys["conforming"],
            repeats=journeys["repeats"],
            first_contact=journeys["first_contact"],
            lead_sum_s=lead_sum / _NS,
            busy_sum_s=busy_sum / _NS,
            handoffs_sum=int(sum(figures[_HANDOFFS] for figures, _, _ in steps.values())),
            skipped={name(bit + 1): count for bit, count in sorted(skipped.items()) if count},
            drop_off={name(last): (e, a, w) for last, (e, a, w) in sorted(drop_off.items()) if e or a or w},
        ),
    )


# Positions in journey_query's `figures` and percentile arrays.
(_SPANS, _ERRORS, _DURATION_SUM, _SLOW, _IN_FLIGHT, _WAITS, _WAIT_SUM, _LONG_WAITS, _LEAD_SUM, _BUSY_SUM,
 _HANDOFFS) = map(SUMMED_FIGURES.index, (
    "spans", "errors", "duration_sum_ns", "slow", "in_flight", "waits", "wait_sum_ns", "long_waits", "lead_sum_ns",
    "busy_sum_ns", "handoffs_sum"))
_P95 = QUANTILES.index(0.95)
_WAIT_P50, _WAIT_P95 = WAIT_QUANTILES.index(0.5), WAIT_QUANTILES.index(0.95)


def parse_rollup_rows(rows: Iterable[Mapping[str, Any]], step_ids: Sequence[str]) -> Observed:
    """Rows of rollup_step_query as figures (no waits, journeys or edges: the rollup cannot know them)."""
    steps: dict[str, StepFigures] = {}
    series: dict[tuple[str, int], BucketFigures] = {}
    for row in rows:
        step = step_ids[int(row["step"]) - 1]
        quantiles = row["duration_q_ns"]
        if row["set"] == SET_STEP:
            steps[step] = StepFigures(
                count=int(row["spans"]),
                errors=int(row["errors"]),
                duration_sum_s=row["duration_sum_ns"] / _NS,
                percentiles_s=_percentiles(quantiles),
            )
        else:
            series[(step, int(row["bucket"]))] = BucketFigures(
                count=int(row["spans"]),
                errors=int(row["errors"]),
                p95_s=_seconds(quantiles[QUANTILES.index(0.95)]),
            )
    return Observed(steps=steps, series=series, edges=(), journeys=JourneyFigures())


def merge_walked(counted: Observed, walked: Observed) -> Observed:
    """Counts, errors and durations from `counted` (the rollup, whole window); waits, in-flight spans,
    transitions and journeys from `walked` (raw spans over the journey horizon)."""
    steps = {
        step: replace(
            figures,
            in_flight=walked.steps[step].in_flight if step in walked.steps else 0,
            waits=walked.steps[step].waits if step in walked.steps else 0,
            wait_sum_s=walked.steps[step].wait_sum_s if step in walked.steps else 0.0,
            wait_p50_s=walked.steps[step].wait_p50_s if step in walked.steps else None,
            wait_p95_s=walked.steps[step].wait_p95_s if step in walked.steps else None,
            long_waits=walked.steps[step].long_waits if step in walked.steps else 0,
        )
        for step, figures in counted.steps.items()
    }
    series = {
        key: replace(
            figures,
            waits=walked.series[key].waits if key in walked.series else 0,
            wait_sum_s=walked.series[key].wait_sum_s if key in walked.series else 0.0,
        )
        for key, figures in counted.series.items()
    }
    return Observed(
        steps=steps, series=series, edges=walked.edges, journeys=walked.journeys, unmapped=counted.unmapped
    )


def _percentiles(values: Sequence[float]) -> dict[int, float | None]:
    return {round(q * 100): _seconds(v) for q, v in zip(QUANTILES, values, strict=True)}


def _seconds(nanoseconds: float | None) -> float | None:
    if nanoseconds is None or (isinstance(nanoseconds, float) and math.isnan(nanoseconds)):
        return None
    return float(nanoseconds) / _NS
