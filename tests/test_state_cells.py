"""The journey pass's cells summed into figures per step, bucket, transition and journey (pure)."""

from __future__ import annotations

import pytest

from blueprints.figures import parse_journey_rows
from blueprints.state_sql import (
    CAUSE_UNIT,
    CELL_FIGURES,
    HEAD_PREV,
    LAST_STEP_UNIT,
    SET_CELL,
    SET_EDGE,
    SET_SERIES,
    SET_STEP,
    VERDICT_BITS,
    head_outcome,
)

NS = 1_000_000_000
NAN = float("nan")


def cell(step: int, prev: int, bucket: int, **figures: object) -> dict[str, object]:
    values = {name: 0 for name in CELL_FIGURES} | {"skipped_bits": ([], [])}
    values.update(figures)
    row = {"set": SET_CELL, "step": step, "prev": prev, "bucket": bucket, "duration_q_ns": [], "wait_q_ns": []}
    return row | {"cell": tuple(values[name] for name in CELL_FIGURES)}


def merged(
    kind: str, step: int, prev: int = 0, bucket: int = 0, durations: tuple = (), waits: tuple = ()
) -> dict[str, object]:
    empty = (0,) * len(CELL_FIGURES)
    return {"set": kind, "step": step, "prev": prev, "bucket": bucket, "duration_q_ns": list(durations),
            "wait_q_ns": list(waits), "cell": empty}


def first(*verdicts: str, dropped_at: int = 0, cause: int = 0) -> int:
    """The `prev` of a cell of journeys' first spans, as journey_query encodes their outcome."""
    verdict = sum(VERDICT_BITS[name] for name in verdicts)
    if dropped_at:
        return HEAD_PREV + verdict + VERDICT_BITS["dropped"] + CAUSE_UNIT * cause + LAST_STEP_UNIT * dropped_at
    return HEAD_PREV + verdict


ROWS = [
    # step 2 ("pay") after step 1 ("cart") in buckets 0 and 1, and once as a journey's first span in bucket 1
    cell(2, 1, 0, spans=3, errors=1, duration_sum_ns=6 * NS, waits=3, wait_sum_ns=9 * NS, long_waits=1),
    cell(2, 1, 1, spans=2, duration_sum_ns=2 * NS, waits=2, wait_sum_ns=4 * NS, in_flight=1),
    # a journey that began at "pay" and dropped off after it with an error
    cell(2, first("began", dropped_at=2, cause=1), 1, spans=1, duration_sum_ns=1 * NS),
    # five journeys that began at "cart": three completed on the designed path, one completed off it, one
    # still going; lead and busy time count for the completed ones only
    cell(1, first("began", "completed", "conforming"), 0, spans=3, duration_sum_ns=3 * NS,
         lead_sum_ns=30 * NS, busy_sum_ns=15 * NS),
    cell(1, first("began", "completed"), 0, spans=1, duration_sum_ns=1 * NS, lead_sum_ns=10 * NS,
         busy_sum_ns=5 * NS, skipped_bits=([1], [1])),
    cell(1, first("began"), 0, spans=1, duration_sum_ns=1 * NS, lead_sum_ns=99 * NS, skipped_bits=([1], [1])),
    cell(2, 1, 1, spans=0, handoffs_sum=7),
    merged(SET_STEP, 1, durations=(NS, NS, NS, NS), waits=(NAN, NAN)),
    merged(SET_STEP, 2, durations=(NS, 2 * NS, 3 * NS, 4 * NS), waits=(2 * NS, 3 * NS)),
    merged(SET_SERIES, 1, bucket=0, durations=(0, 0, NS, 0)),
    merged(SET_SERIES, 2, bucket=0, durations=(0, 0, 3 * NS, 0)),
    merged(SET_SERIES, 2, bucket=1, durations=(0, 0, 1.5 * NS, 0)),
    merged(SET_EDGE, 2, prev=1, waits=(2 * NS, 2.5 * NS)),
    merged(SET_EDGE, 1, prev=first("began"), waits=(NAN, NAN)),
]


def test_a_steps_figures_are_the_sums_of_its_cells_with_the_percentiles_merged_per_step() -> None:
    pay = parse_journey_rows(ROWS, ["cart", "pay"]).steps["pay"]
    assert (pay.count, pay.errors, pay.duration_sum_s, pay.in_flight) == (6, 1, 9.0, 1)
    assert (pay.waits, pay.wait_sum_s, pay.long_waits) == (5, 13.0, 1)
    assert pay.percentiles_s == {50: 1.0, 90: 2.0, 95: 3.0, 99: 4.0}
    assert (pay.wait_p50_s, pay.wait_p95_s) == (2.0, 3.0)


def test_buckets_and_transitions_sum_the_cells_they_cover() -> None:
    observed = parse_journey_rows(ROWS, ["cart", "pay"])
    assert observed.series[("pay", 1)].count == 3 and observed.series[("pay", 1)].p95_s == 1.5
    assert observed.series[("pay", 0)].wait_sum_s == 9.0
    (edge,) = observed.edges
    assert (edge.from_step, edge.to_step, edge.count, edge.wait_sum_s) == ("cart", "pay", 5, 13.0)
    assert (edge.wait_p50_s, edge.wait_p95_s) == (2.0, 2.5)


def test_journey_figures_add_up_over_every_cell() -> None:
    journeys = parse_journey_rows(ROWS, ["cart", "pay"]).journeys
    assert (journeys.journeys, journeys.completed, journeys.conforming, journeys.handoffs_sum) == (6, 4, 3, 7)
    assert (journeys.lead_sum_s, journeys.busy_sum_s) == (pytest.approx(40.0), pytest.approx(20.0))
    assert journeys.skipped == {"pay": 2}
    assert journeys.drop_off == {"pay": (1, 0, 0)}
    assert parse_journey_rows(ROWS, ["cart", "pay"]).steps["cart"].wait_p50_s is None


def test_first_span_cells_are_no_transitions() -> None:
    observed = parse_journey_rows(ROWS, ["cart", "pay"])
    assert [(e.from_step, e.to_step) for e in observed.edges] == [("cart", "pay")]
    assert observed.steps["cart"].count == 5 and observed.steps["cart"].waits == 0


def test_a_dropped_journeys_outcome_keeps_its_last_step_and_cause() -> None:
    outcome = head_outcome(first("began", "repeated", dropped_at=200, cause=3))
    assert outcome is not None
    assert (outcome.began, outcome.completed, outcome.repeated) == (True, False, True)
    assert (outcome.dropped_at, outcome.cause) == (200, 3)
    assert head_outcome(255) is None
