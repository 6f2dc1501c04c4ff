"""The journey pass's cells summed into figures per step, bucket, transition and journey (pure)."""

from __future__ import annotations

import pytest

from blueprints.figures import parse_journey_rows
from blueprints.state_sql import CELL_FIGURES, SET_CELL, SET_EDGE, SET_SERIES, SET_STEP

NS = 1_000_000_000
NAN = float("nan")


def cell(step: int, prev: int, bucket: int, **figures: object) -> dict[str, object]:
    values = {name: 0 for name in CELL_FIGURES} | {"skipped_bits": ([], []), "drop_off": ([], [], [], [])}
    values.update(figures)
    row = {"set": SET_CELL, "step": step, "prev": prev, "bucket": bucket, "duration_q_ns": [], "wait_q_ns": []}
    return row | {"cell": tuple(values[name] for name in CELL_FIGURES)}


def merged(
    kind: str, step: int, prev: int = 0, bucket: int = 0, durations: tuple = (), waits: tuple = ()
) -> dict[str, object]:
    empty = (0,) * len(CELL_FIGURES)
    return {"set": kind, "step": step, "prev": prev, "bucket": bucket, "duration_q_ns": list(durations),
            "wait_q_ns": list(waits), "cell": empty}


ROWS = [
    # step 2 ("pay") after step 1 ("cart") in buckets 0 and 1, and once as a journey's first span in bucket 1
    cell(2, 1, 0, spans=3, errors=1, duration_sum_ns=6 * NS, waits=3, wait_sum_ns=9 * NS, long_waits=1),
    cell(2, 1, 1, spans=2, duration_sum_ns=2 * NS, waits=2, wait_sum_ns=4 * NS, in_flight=1),
    cell(2, 0, 1, spans=1, duration_sum_ns=1 * NS, journeys=1, drop_off=([2], [1], [0], [0])),
    cell(1, 0, 0, spans=5, duration_sum_ns=5 * NS, journeys=5, completed_journeys=4, conforming=3,
         lead_sum_ns=40 * NS, busy_sum_ns=20 * NS, handoffs_sum=7, skipped_bits=([1], [2])),
    merged(SET_STEP, 1, durations=(NS, NS, NS, NS), waits=(NAN, NAN)),
    merged(SET_STEP, 2, durations=(NS, 2 * NS, 3 * NS, 4 * NS), waits=(2 * NS, 3 * NS)),
    merged(SET_SERIES, 1, bucket=0, durations=(0, 0, NS, 0)),
    merged(SET_SERIES, 2, bucket=0, durations=(0, 0, 3 * NS, 0)),
    merged(SET_SERIES, 2, bucket=1, durations=(0, 0, 1.5 * NS, 0)),
    merged(SET_EDGE, 2, prev=1, waits=(2 * NS, 2.5 * NS)),
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
    assert journeys.lead_sum_s == pytest.approx(40.0)
    assert journeys.skipped == {"pay": 2}
    assert journeys.drop_off == {"pay": (1, 0, 0)}
    assert parse_journey_rows(ROWS, ["cart", "pay"]).steps["cart"].wait_p50_s is None
