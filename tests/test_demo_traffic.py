"""The simulated traffic itself, before any SDK: queues, reproducibility, and journeys that look real."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Generator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from test_demo_maps import two_hours

from app.demo.faults import FaultSpec
from app.demo.kernel import Delay, Kernel, Pool
from app.demo.runner import DemoConfig, generate
from app.demo.scenarios import SCENARIOS
from app.demo.traffic import Traffic

START = datetime(2024, 5, 1, 8, tzinfo=UTC)


def customer(
    pool: Pool,
    log: list[tuple[str, float, str | None]],
    name: str,
    patience: float,
    serve_s: float,
    arrive_at: float,
) -> Generator[Any, Any, None]:
    yield Delay(arrive_at)
    staff = yield pool.request(patience)
    log.append((name, pool.kernel.now, staff))
    if staff is not None:
        yield Delay(serve_s)
        pool.release(staff)


def test_a_busy_team_serves_waiting_customers_first_come_first_served() -> None:
    kernel = Kernel()
    pool = Pool(kernel, "agents", "agent", capacity=1)
    log: list[tuple[str, float, str | None]] = []
    for name, arrive in (("ann", 0.0), ("bob", 1.0), ("cy", 2.0)):
        kernel.spawn(customer(pool, log, name, patience=1000, serve_s=10, arrive_at=arrive))
    kernel.run_until(100)
    assert log == [("ann", 0.0, "agent-001"), ("bob", 10.0, "agent-001"), ("cy", 20.0, "agent-001")]


def test_a_customer_whose_patience_runs_out_leaves_the_queue() -> None:
    kernel = Kernel()
    pool = Pool(kernel, "agents", "agent", capacity=1)
    log: list[tuple[str, float, str | None]] = []
    kernel.spawn(customer(pool, log, "ann", patience=1000, serve_s=60, arrive_at=0))
    kernel.spawn(customer(pool, log, "bob", patience=30, serve_s=10, arrive_at=1))
    kernel.spawn(customer(pool, log, "cy", patience=1000, serve_s=10, arrive_at=2))
    kernel.run_until(200)
    assert log == [("ann", 0.0, "agent-001"), ("bob", 31.0, None), ("cy", 60.0, "agent-001")]


def test_sending_staff_away_stops_new_work_until_few_enough_are_busy() -> None:
    kernel = Kernel()
    pool = Pool(kernel, "clerks", "clerk", capacity=2)
    log: list[tuple[str, float, str | None]] = []
    for name, arrive in (("ann", 0.0), ("bob", 0.0), ("cy", 5.0)):
        kernel.spawn(customer(pool, log, name, patience=1000, serve_s=20, arrive_at=arrive))
    kernel.at(1.0, lambda: pool.set_capacity(1))
    kernel.run_until(100)
    # ann and bob are served at once; cy waits until both are done, not just the first.
    assert [(name, at) for name, at, _ in log] == [("ann", 0.0), ("bob", 0.0), ("cy", 20.0)]
    assert pool.busy == 0


def test_the_same_seed_plays_the_same_spans_with_the_same_ids() -> None:
    config = DemoConfig(start=START, duration=timedelta(minutes=20), rate=1.0, seed=99)
    assert list(generate(config)) == list(generate(config))


def test_another_seed_plays_other_journeys() -> None:
    first = {
        r.journey_id for r in generate(DemoConfig(start=START, duration=timedelta(minutes=5), seed=1))
    } - {None}
    second = {
        r.journey_id for r in generate(DemoConfig(start=START, duration=timedelta(minutes=5), seed=2))
    } - {None}
    assert first and second and not first & second


def test_how_simulated_time_is_sliced_does_not_change_the_spans() -> None:
    config = DemoConfig(start=START, duration=timedelta(minutes=20), rate=1.0, seed=5)
    coarse = list(generate(config, slice_s=600))
    fine = list(generate(config, slice_s=0.5))
    assert coarse == fine


def test_a_fault_leaves_the_traffic_before_it_exactly_as_without_it() -> None:
    plain = DemoConfig(start=START, duration=timedelta(minutes=30), rate=1.0, seed=8)
    faulted = replace(plain, faults=(FaultSpec.parse("failure:online-order/payment@+15m"),))
    fault_start = (START + timedelta(minutes=15)).timestamp() * 1e9
    before = [r for r in generate(plain) if r.end_ns < fault_start]
    assert before and before == [r for r in generate(faulted) if r.end_ns < fault_start]
    after = [r for r in generate(faulted) if r.step == "payment" and r.start_ns >= fault_start]
    assert sum(r.error is not None for r in after) > len(after) / 4


def test_step_durations_are_skewed_like_real_latencies() -> None:
    lookups = [r.duration_s for r in two_hours() if r.step == "crm-lookup"]
    median = statistics.median(lookups)
    p95 = statistics.quantiles(lookups, n=20)[-1]
    assert 0.2 < median < 0.3  # the step's median is 0.25 s
    assert 3.5 < p95 / median < 6.5  # a long right tail, as configured (p95 1.2 s)
    assert statistics.fmean(lookups) > median


def test_some_callers_hang_up_in_the_queue_and_some_shoppers_abandon_checkout() -> None:
    steps_by_journey: dict[str, set[str]] = defaultdict(set)
    for record in two_hours():
        if record.journey_id:
            steps_by_journey[record.journey_id].add(record.step or "")
    hung_up = [s for s in steps_by_journey.values() if "hang-up" in s]
    carts = [s for s in steps_by_journey.values() if "review-cart" in s]
    abandoned = [s for s in carts if "checkout" not in s]
    assert hung_up
    assert 0.1 < len(abandoned) / len(carts) < 0.5


def test_some_calls_continue_later_as_a_web_visit_in_a_separate_trace() -> None:
    calls = {r.journey_id: r for r in two_hours() if r.step == "call"}
    visits = [r for r in two_hours() if r.step == "check-bill-online" and r.journey_id in calls]
    assert visits
    for visit in visits:
        call = calls[visit.journey_id]
        assert visit.trace_id != call.trace_id
        assert visit.start_ns > call.end_ns


def test_a_failed_crm_lookup_is_retried_within_the_same_greeting() -> None:
    lookups: dict[int, list[Any]] = defaultdict(list)
    for record in two_hours():
        if record.step == "crm-lookup":
            lookups[record.parent_span_id or 0].append(record)
    retried = [spans for spans in lookups.values() if len(spans) > 1]
    assert retried
    for spans in retried:
        assert [s.attributes["http.request.resend_count"] for s in spans] == list(range(len(spans)))
        assert all(s.error for s in spans[:-1])


def test_teams_are_sized_to_the_load_so_more_journeys_need_more_staff() -> None:
    small = Traffic(scenarios=list(SCENARIOS.values()), rate=0.1, seed=1, origin_ns=0)
    large = Traffic(scenarios=list(SCENARIOS.values()), rate=2.0, seed=1, origin_ns=0)
    assert small.pools["support-line"]["agents"].capacity < large.pools["support-line"]["agents"].capacity
