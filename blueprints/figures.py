"""What the state queries measured, as typed values in seconds: the rows of
:func:`blueprints.state_sql.journey_query` and of the rollup queries, parsed and merged. Pure."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from blueprints.state_sql import (
    CELL_FIGURES,
    QUANTILES,
    SET_CELL,
    SET_EDGE,
    SET_SERIES,
    SET_STEP,
    STEP_FIGURES,
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
    """Rows of journey_query (as name -> value) as typed figures: its cells summed per step, per step and
    bucket, per transition and for all journeys, with the percentiles it merged; step index 0 never names a
    step."""
    steps: dict[int, list[Any]] = {}
    series: dict[tuple[int, int], list[Any]] = {}
    edges: dict[tuple[int, int], list[Any]] = {}
    journeys = dict.fromkeys(("journeys", "completed", "conforming", "repeats", "first_contact", "handoffs"), 0)
    lead_sum = busy_sum = 0.0
    skipped: dict[int, int] = {}
    drop_off: dict[int, list[int]] = {}
    step_quantiles: dict[int, tuple[Any, Any]] = {}
    bucket_p95: dict[tuple[int, int], Any] = {}
    edge_quantiles: dict[tuple[int, int], Any] = {}
    for row in rows:
        kind, step, prev, bucket = row["set"], int(row["step"]), int(row["prev"]), int(row["bucket"])
        if not step:
            continue
        if kind == SET_STEP:
            step_quantiles[step] = (row["duration_q_ns"], row["wait_q_ns"])
        elif kind == SET_SERIES:
            bucket_p95[(step, bucket)] = row["duration_q_ns"][QUANTILES.index(0.95)]
        elif kind == SET_EDGE:
            if head_outcome(prev) is None:
                edge_quantiles[(prev, step)] = row["wait_q_ns"]
        elif kind == SET_CELL:
            cell = row["cell"]
            sums = steps.setdefault(step, [0] * len(_STEP_SUMS))
            for n, position in enumerate(_STEP_SUMS):
                sums[n] += cell[position]
            spans, errors, waits, wait_sum = cell[_SPANS], cell[_ERRORS], cell[_WAITS], cell[_WAIT_SUM]
            figures = series.setdefault((step, bucket), [0, 0, 0, 0.0])
            figures[0] += spans
            figures[1] += errors
            figures[2] += waits
            figures[3] += wait_sum
            journeys["handoffs"] += cell[_HANDOFFS]
            for bit, count in zip(*cell[_SKIPPED], strict=True):
                skipped[int(bit)] = skipped.get(int(bit), 0) + int(count)
            outcome = head_outcome(prev)
            if outcome is None:
                if prev:
                    edge = edges.setdefault((prev, step), [0, 0.0])
                    edge[0] += spans
                    edge[1] += wait_sum
                continue
            # a first-span cell: `spans` journeys that started here and ended as `outcome` says
            if outcome.began:
                journeys["journeys"] += spans
                journeys["conforming"] += spans if outcome.conforming else 0
                journeys["repeats"] += spans if outcome.repeated else 0
                if outcome.completed:
                    journeys["completed"] += spans
                    journeys["first_contact"] += spans if outcome.first_contact else 0
                    lead_sum += cell[_LEAD_SUM]
                    busy_sum += cell[_BUSY_SUM]
            if outcome.dropped_at:
                drop_off.setdefault(outcome.dropped_at, [0, 0, 0])[outcome.cause - 1] += spans

    def name(index: int) -> str:
        return step_ids[index - 1]

    def step_figures(step: int, sums: list[Any]) -> StepFigures:
        count, errors, duration_sum, slow, in_flight, waits, wait_sum, long_waits = sums
        durations, wait_quantiles = step_quantiles[step]
        return StepFigures(
            count=int(count),
            errors=int(errors),
            duration_sum_s=duration_sum / _NS,
            percentiles_s=_percentiles(durations),
            slow=int(slow),
            in_flight=int(in_flight),
            waits=int(waits),
            wait_sum_s=wait_sum / _NS,
            wait_p50_s=_seconds(wait_quantiles[WAIT_QUANTILES.index(0.5)]),
            wait_p95_s=_seconds(wait_quantiles[WAIT_QUANTILES.index(0.95)]),
            long_waits=int(long_waits),
        )

    return Observed(
        steps={name(step): step_figures(step, sums) for step, sums in steps.items()},
        series={
            (name(step), bucket): BucketFigures(
                count=int(count),
                errors=int(errors),
                p95_s=_seconds(bucket_p95[(step, bucket)]),
                waits=int(waits),
                wait_sum_s=wait_sum / _NS,
            )
            for (step, bucket), (count, errors, waits, wait_sum) in series.items()
        },
        edges=[
            EdgeFigures(
                from_step=name(prev),
                to_step=name(step),
                count=int(count),
                wait_sum_s=wait_sum / _NS,
                wait_p50_s=_seconds(edge_quantiles[(prev, step)][WAIT_QUANTILES.index(0.5)]),
                wait_p95_s=_seconds(edge_quantiles[(prev, step)][WAIT_QUANTILES.index(0.95)]),
            )
            for (prev, step), (count, wait_sum) in sorted(edges.items())
        ],
        journeys=JourneyFigures(
            journeys=int(journeys["journeys"]),
            completed=int(journeys["completed"]),
            conforming=int(journeys["conforming"]),
            repeats=int(journeys["repeats"]),
            first_contact=int(journeys["first_contact"]),
            lead_sum_s=lead_sum / _NS,
            busy_sum_s=busy_sum / _NS,
            handoffs_sum=int(journeys["handoffs"]),
            skipped={name(bit + 1): count for bit, count in sorted(skipped.items()) if count},
            drop_off={name(last): (e, a, w) for last, (e, a, w) in sorted(drop_off.items()) if e or a or w},
        ),
    )


# Positions in journey_query's cell tuple of the figures summed per step and over all journeys.
_STEP_SUMS = tuple(map(CELL_FIGURES.index, STEP_FIGURES))
_SPANS, _ERRORS, _WAITS, _WAIT_SUM, _LEAD_SUM, _BUSY_SUM, _HANDOFFS, _SKIPPED = map(
    CELL_FIGURES.index,
    ("spans", "errors", "waits", "wait_sum_ns", "lead_sum_ns", "busy_sum_ns", "handoffs_sum", "skipped_bits"),
)


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
