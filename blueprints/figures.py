"""What the state queries measured, as typed values in seconds: the rows of
:func:`blueprints.state_sql.journey_query` and of the rollup queries, parsed and merged. Pure."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from blueprints.state_sql import QUANTILES, SET_EDGE, SET_JOURNEYS, SET_SERIES, SET_STEP, WAIT_QUANTILES

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
    """Rows of journey_query (as name -> value) as typed figures; step index 0 never names a step."""
    steps: dict[str, StepFigures] = {}
    series: dict[tuple[str, int], BucketFigures] = {}
    edges: list[EdgeFigures] = []
    journeys = JourneyFigures()

    def name(index: Any) -> str:
        return step_ids[int(index) - 1]

    for row in rows:
        kind = row["set"]
        if kind == SET_STEP and row["step"]:
            steps[name(row["step"])] = StepFigures(
                count=int(row["spans"]),
                errors=int(row["errors"]),
                duration_sum_s=row["duration_sum_ns"] / _NS,
                percentiles_s=_percentiles(row["duration_q_ns"]),
                slow=int(row["slow"]),
                in_flight=int(row["in_flight"]),
                waits=int(row["waits"]),
                wait_sum_s=row["wait_sum_ns"] / _NS,
                wait_p50_s=_seconds(row["wait_q_ns"][0]),
                wait_p95_s=_seconds(row["wait_q_ns"][1]),
                long_waits=int(row["long_waits"]),
            )
        elif kind == SET_SERIES and row["step"]:
            series[(name(row["step"]), int(row["bucket"]))] = BucketFigures(
                count=int(row["spans"]),
                errors=int(row["errors"]),
                p95_s=_seconds(row["duration_q_ns"][QUANTILES.index(0.95)]),
                waits=int(row["waits"]),
                wait_sum_s=row["wait_sum_ns"] / _NS,
            )
        elif kind == SET_EDGE and row["step"] and row["prev"]:
            edges.append(
                EdgeFigures(
                    from_step=name(row["prev"]),
                    to_step=name(row["step"]),
                    count=int(row["spans"]),
                    wait_sum_s=row["wait_sum_ns"] / _NS,
                    wait_p50_s=_seconds(row["wait_q_ns"][WAIT_QUANTILES.index(0.5)]),
                    wait_p95_s=_seconds(row["wait_q_ns"][WAIT_QUANTILES.index(0.95)]),
                )
            )
        elif kind == SET_JOURNEYS:
            skipped_bits, skipped_counts = row["skipped_bits"]
            drop_keys, errors, abandoned, wrong = row["drop_off"]
            journeys = JourneyFigures(
                journeys=int(row["journeys"]),
                completed=int(row["completed_journeys"]),
                conforming=int(row["conforming"]),
                repeats=int(row["repeats"]),
                first_contact=int(row["first_contact"]),
                lead_sum_s=row["lead_sum_ns"] / _NS,
                busy_sum_s=row["busy_sum_ns"] / _NS,
                handoffs_sum=int(row["handoffs_sum"]),
                skipped={name(b + 1): int(v) for b, v in zip(skipped_bits, skipped_counts, strict=True) if v},
                drop_off={
                    name(k): (int(e), int(a), int(w))
                    for k, e, a, w in zip(drop_keys, errors, abandoned, wrong, strict=True)
                    if e or a or w
                },
            )
    edges.sort(key=lambda e: (step_ids.index(e.from_step), step_ids.index(e.to_step)))
    return Observed(steps=steps, series=series, edges=edges, journeys=journeys)


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
