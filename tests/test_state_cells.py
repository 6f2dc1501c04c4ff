"""journey_query's rows (figures summed and percentiles merged per step, bucket and transition; journeys'
first-span cells by outcome) as typed figures (pure)."""

from __future__ import annotations

import pytest

from blueprints.figures import parse_journey_rows
from blueprints.state_sql import (
    CAUSE_UNIT,
    HEAD_PREV,
    LAST_STEP_UNIT,
    SET_EDGE,
    SET_OUTCOME,
    SET_SERIES,
    SET_STEP,
    SUMMED_FIGURES,
    VERDICT_BITS,
    head_outcome,
)

NS = 1_000_000_000
NAN = float("nan")


def row(kind: str, step: int, prev: int = 0, bucket: int = 0, duration_q: tuple = (), wait_q: tuple = (),
        skipped: tuple = ([], []), **figures: float) -> dict[str, object]:
    return {"set": kind, "step": step, "prev": prev, "bucket": bucket, "duration_q_ns": list(duration_q),
            "wait_q_ns": list(wait_q), "figures": [float(figures.get(name, 0)) for name in SUMMED_FIGURES],
            "skipped_bits": skipped}


def first(*verdicts: str, dropped_at: int = 0, cause: int = 0) -> int:
    """The `prev` of a cell of journeys' first spans, as journey_query encodes their outcome."""
    verdict = sum(VERDICT_BITS[name] for name in verdicts)
    if dropped_at:
        return HEAD_PREV + verdict + VERDICT_BITS["dropped"] + CAUSE_UNIT * cause + LAST_STEP_UNIT * dropped_at
    return HEAD_PREV + verdict


ROWS = [
    # step 1 ("cart") began every journey; step 2 ("pay") followed it
    row(SET_STEP, 1, duration_q=(NS, NS, NS, NS), wait_q=(NAN, NAN), spans=5, duration_sum_ns=5 * NS),
    row(SET_STEP, 2, duration_q=(NS, 2 * NS, 3 * NS, 4 * NS), wait_q=(2 * NS, 3 * NS), spans=6, errors=1,
        duration_sum_ns=9 * NS, in_flight=1, waits=5, wait_sum_ns=13 * NS, long_waits=1, handoffs_sum=7),
    row(SET_SERIES, 1, bucket=0, duration_q=(0, 0, NS, 0), spans=5),
    row(SET_SERIES, 2, bucket=0, duration_q=(0, 0, 3 * NS, 0), spans=3, waits=3, wait_sum_ns=9 * NS),
    row(SET_SERIES, 2, bucket=1, duration_q=(0, 0, 1.5 * NS, 0), spans=3, waits=2, wait_sum_ns=4 * NS),
    row(SET_EDGE, 2, prev=1, wait_q=(2 * NS, 2.5 * NS), spans=5, wait_sum_ns=13 * NS),
    # a journey that began at "pay" and dropped off after it with an error
    row(SET_OUTCOME, 2, prev=first("began", dropped_at=2, cause=1), bucket=1, spans=1),
    # five journeys that began at "cart": three completed on the designed path, one completed off it, one
    # still going; lead and busy time count for the completed ones only
    row(SET_OUTCOME, 1, prev=first("began", "completed", "conforming"), spans=3, lead_sum_ns=30 * NS,
        busy_sum_ns=15 * NS),
    row(SET_OUTCOME, 1, prev=first("began", "completed"), skipped=([1], [1]), spans=1, lead_sum_ns=10 * NS,
        busy_sum_ns=5 * NS),
    row(SET_OUTCOME, 1, prev=first("began"), skipped=([1], [1]), spans=1, lead_sum_ns=99 * NS),
]


def test_a_steps_figures_come_in_seconds_with_its_percentiles() -> None:
    pay = parse_journey_rows(ROWS, ["cart", "pay"]).steps["pay"]
    assert (pay.count, pay.errors, pay.duration_sum_s, pay.in_flight) == (6, 1, 9.0, 1)
    assert (pay.waits, pay.wait_sum_s, pay.long_waits) == (5, 13.0, 1)
    assert pay.percentiles_s == {50: 1.0, 90: 2.0, 95: 3.0, 99: 4.0}
    assert (pay.wait_p50_s, pay.wait_p95_s) == (2.0, 3.0)


def test_buckets_and_transitions_keep_their_sums_and_percentiles() -> None:
    observed = parse_journey_rows(ROWS, ["cart", "pay"])
    assert observed.series[("pay", 1)].count == 3 and observed.series[("pay", 1)].p95_s == 1.5
    assert observed.series[("pay", 0)].wait_sum_s == 9.0
    (edge,) = observed.edges
    assert (edge.from_step, edge.to_step, edge.count, edge.wait_sum_s) == ("cart", "pay", 5, 13.0)
    assert (edge.wait_p50_s, edge.wait_p95_s) == (2.0, 2.5)


def test_journeys_are_counted_by_the_outcome_of_their_first_span_cells() -> None:
    journeys = parse_journey_rows(ROWS, ["cart", "pay"]).journeys
    assert (journeys.journeys, journeys.completed, journeys.conforming, journeys.handoffs_sum) == (6, 4, 3, 7)
    assert (journeys.lead_sum_s, journeys.busy_sum_s) == (pytest.approx(40.0), pytest.approx(20.0))
    assert journeys.skipped == {"pay": 2}
    assert journeys.drop_off == {"pay": (1, 0, 0)}


def test_a_step_nobody_waited_for_has_no_wait_percentiles() -> None:
    cart = parse_journey_rows(ROWS, ["cart", "pay"]).steps["cart"]
    assert (cart.count, cart.waits, cart.wait_p50_s, cart.wait_p95_s) == (5, 0, None, None)


def test_a_dropped_journeys_outcome_keeps_its_last_step_and_cause() -> None:
    outcome = head_outcome(first("began", "repeated", dropped_at=200, cause=3))
    assert outcome is not None
    assert (outcome.began, outcome.completed, outcome.repeated) == (True, False, True)
    assert (outcome.dropped_at, outcome.cause) == (200, 3)
    assert head_outcome(255) is None
