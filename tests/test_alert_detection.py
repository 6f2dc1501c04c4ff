"""Each rule kind against real spans in the embedded ClickHouse: it fires on the trouble it is for, names the
right step, and stays quiet on ordinary traffic and on too little of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alert_journeys import USUAL, Shape, insert, shop, traffic

from alerts.evaluate import Watched, evaluate
from alerts.generated import generated_rules
from alerts.journey_stats import journey_stats_query
from alerts.rules import (
    BottleneckRule,
    BurnRateRule,
    ConformanceRule,
    DarkRule,
    DropOffRule,
    FailureRule,
    LatencyRule,
)
from alerts.span_stats import span_stats_query

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
MIN = timedelta(minutes=1)


@pytest.fixture
def spans(ch):  # noqa: ANN001, ANN201 - the module's client, with an empty otel_traces
    ch.command("TRUNCATE TABLE otel_traces")
    return ch


def signals(client, *rules, now=NOW):  # noqa: ANN001, ANN201
    result = evaluate(client, {"shop": Watched.of(shop())}, rules, now)
    assert result.failures == {}
    assert result.evaluated == {r.id for r in rules}
    return result.signals


def during(start: datetime, end: datetime, shape: Shape):  # noqa: ANN201
    return lambda at, n: shape if start <= at < end else USUAL


def test_a_failure_burst_fires_on_the_failing_step_only(spans) -> None:  # noqa: ANN001
    insert(spans, traffic(NOW - HOUR, NOW, 5, during(NOW - 3 * MIN, NOW, Shape(fail=frozenset({"pay"})))))
    rules = [
        FailureRule(id=f"{s}-failing", blueprint="shop", step=s, threshold=0.05) for s in ("pay", "browse")
    ]

    [found] = signals(spans, *rules)

    assert (found.rule_id, found.step) == ("pay-failing", "pay")
    assert found.summary.startswith("pay error rate ")
    assert signals(spans, *rules, now=NOW - 5 * MIN) == ()


def test_a_few_failures_on_a_quiet_step_are_not_an_incident(spans) -> None:  # noqa: ANN001
    insert(
        spans, traffic(NOW - 10 * MIN, NOW, 60, during(NOW - 3 * MIN, NOW, Shape(fail=frozenset({"pay"}))))
    )

    assert signals(spans, FailureRule(id="f", blueprint="shop", step="pay", threshold=0.05)) == ()


def test_a_failure_rule_on_a_touchpoint_counts_every_step_there(spans) -> None:  # noqa: ANN001
    insert(
        spans, traffic(NOW - 30 * MIN, NOW, 5, during(NOW - 4 * MIN, NOW, Shape(fail=frozenset({"cart"}))))
    )

    [found] = signals(spans, FailureRule(id="web", blueprint="shop", touchpoint="web", threshold=0.1))

    assert (found.touchpoint, found.step) == ("web", None)


def test_a_latency_regression_fires_against_the_steps_objective(spans) -> None:  # noqa: ANN001
    slow = Shape(seconds={"browse": 2.0})
    insert(spans, traffic(NOW - HOUR, NOW, 5, during(NOW - 4 * MIN, NOW, slow)))
    rule = LatencyRule(id="browse-slow", blueprint="shop", step="browse")

    [found] = signals(spans, rule)

    assert found.step == "browse"
    assert found.value == pytest.approx(2.0)
    assert found.threshold == pytest.approx(0.5)
    assert signals(spans, rule, now=NOW - 5 * MIN) == ()


def test_a_handful_of_slow_spans_is_within_chance(spans) -> None:  # noqa: ANN001
    insert(
        spans,
        traffic(NOW - HOUR, NOW, 5, lambda at, n: Shape(seconds={"browse": 2.0}) if n % 12 == 0 else USUAL),
    )

    assert signals(spans, LatencyRule(id="browse-slow", blueprint="shop", step="browse", percentile=90)) == ()


def test_the_availability_budget_burning_fast_over_both_windows_pages(spans) -> None:  # noqa: ANN001
    insert(spans, traffic(NOW - 2 * HOUR, NOW, 5, during(NOW - HOUR, NOW, Shape(fail=frozenset({"auth"})))))
    rule = BurnRateRule(id="auth-burn", blueprint="shop", step="auth")

    [found] = signals(spans, rule)

    assert found.value == pytest.approx(100.0, rel=0.02)  # every span failed: 100% against 1% allowed
    assert "over 1h" in found.summary and "over 5m" in found.summary


def test_a_burn_that_stopped_half_an_hour_ago_no_longer_pages_though_the_long_window_remembers_it(
    spans,
) -> None:  # noqa: ANN001
    insert(
        spans,
        traffic(NOW - 2 * HOUR, NOW, 5, during(NOW - HOUR, NOW - 40 * MIN, Shape(fail=frozenset({"auth"})))),
    )

    # 6h: 17x, 1h: 33x, but the short windows (5m, 30m) are clean: it is over
    assert signals(spans, BurnRateRule(id="auth-burn", blueprint="shop", step="auth")) == ()


def test_a_latency_burn_counts_spans_slower_than_the_objective(spans) -> None:  # noqa: ANN001
    insert(spans, traffic(NOW - 2 * HOUR, NOW, 5, during(NOW - HOUR, NOW, Shape(seconds={"browse": 1.0}))))

    [found] = signals(
        spans, BurnRateRule(id="browse-burn", blueprint="shop", step="browse", objective="latency")
    )

    assert found.value == pytest.approx(20.0, rel=0.02)  # all slow, against the 5% a p95 objective allows


def test_a_touchpoint_going_dark_fires_against_the_hour_before(spans) -> None:  # noqa: ANN001
    insert(spans, traffic(NOW - 2 * HOUR, NOW - 3 * MIN, 5))
    rule = DarkRule(id="web-dark", blueprint="shop", touchpoint="web")

    [found] = signals(spans, rule)

    assert found.touchpoint == "web"
    assert "nothing for 2m" in found.summary and "previous 1h" in found.summary
    assert signals(spans, rule, now=NOW - 4 * MIN) == ()


def test_dark_compares_with_the_same_hour_of_the_days_before_when_there_is_history(spans) -> None:  # noqa: ANN001
    for day in (1, 2):
        insert(
            spans,
            traffic(
                NOW - day * timedelta(days=1) - HOUR, NOW - day * timedelta(days=1), 5, first=day * 100_000
            ),
        )
    insert(spans, traffic(NOW - HOUR, NOW, 50))  # a tenth of the usual traffic today
    rule = DarkRule(id="web-dark", blueprint="shop", touchpoint="web", window="10m", drop=0.3)

    [found] = signals(spans, rule)

    assert "same hour over 2 day(s)" in found.summary
    assert found.value == pytest.approx(0.1, abs=0.05)


def test_a_queue_building_before_a_step_names_that_step(spans) -> None:  # noqa: ANN001
    queued = Shape(wait_before_pack_s=20 * 60)
    insert(spans, traffic(NOW - 3 * HOUR, NOW, 10, during(NOW - 40 * MIN, NOW, queued)))
    rule = BottleneckRule(id="pack-queue", blueprint="shop", step="pack")

    [found] = signals(spans, rule)

    assert found.step == "pack"
    assert "queue building before pack" in found.summary and "waited longer than 10m" in found.summary
    assert signals(spans, rule, now=NOW - 41 * MIN) == ()


def test_more_journeys_waiting_than_usual_and_one_served_past_the_limit_is_a_queue(spans) -> None:  # noqa: ANN001
    queued = Shape(wait_before_pack_s=12 * 60)
    insert(spans, traffic(NOW - 3 * HOUR, NOW, 10, during(NOW - 14 * MIN, NOW, queued)))
    rule = BottleneckRule(id="pack-queue", blueprint="shop", step="pack", window="3m")

    [found] = signals(spans, rule)

    assert "journeys waiting (usually" in found.summary and "mean wait 12m" in found.summary


def test_a_queue_that_still_serves_within_its_limit_is_busy_not_broken(spans) -> None:  # noqa: ANN001
    queued = Shape(wait_before_pack_s=8 * 60)
    insert(spans, traffic(NOW - 3 * HOUR, NOW, 10, during(NOW - 12 * MIN, NOW, queued)))

    assert signals(spans, BottleneckRule(id="pack-queue", blueprint="shop", step="pack", window="10m")) == ()


def test_journeys_skipping_a_required_step_fire_on_that_step(spans) -> None:  # noqa: ANN001
    insert(spans, traffic(NOW - HOUR, NOW, 10, during(NOW - 10 * MIN, NOW, Shape(skip=frozenset({"cart"})))))

    found = signals(spans, ConformanceRule(id="path", blueprint="shop"))

    assert [(s.step, s.labels["problem"]) for s in found] == [("cart", "skipped")]


def test_transitions_no_flow_allows_fire_on_the_step_reached(spans) -> None:  # noqa: ANN001
    reorder = Shape(skip=frozenset({"email"}), seconds={})
    rows = traffic(NOW - HOUR, NOW, 10, during(NOW - 10 * MIN, NOW, reorder))
    # journeys that went back to browsing after paying
    extra = [
        [r[0] + timedelta(seconds=200), r[1] + "-again", r[2] + "-again", r[3], r[4], r[5], r[6], r[7]]
        for r in rows
        if r[3] == "GET /browse" and r[0] >= NOW - 9 * MIN
    ]
    insert(spans, rows + extra)

    found = signals(spans, ConformanceRule(id="path", blueprint="shop"))

    assert ("browse", "unexpected") in [(s.step, s.labels["problem"]) for s in found]


def test_ordinary_journeys_conform(spans) -> None:  # noqa: ANN001
    insert(spans, traffic(NOW - HOUR, NOW, 10))

    assert signals(spans, ConformanceRule(id="path", blueprint="shop")) == ()


def test_fewer_journeys_going_on_after_a_step_is_a_drop_off_there(spans) -> None:  # noqa: ANN001
    insert(spans, traffic(NOW - 3 * HOUR, NOW, 10, during(NOW - HOUR, NOW, Shape(stop_after="cart"))))
    rule = DropOffRule(id="drop", blueprint="shop")

    [found] = signals(spans, rule)

    assert found.step == "cart"
    assert "went on after cart" in found.summary


def test_every_rule_of_a_blueprint_is_answered_by_at_most_two_queries(spans) -> None:  # noqa: ANN001
    insert(spans, traffic(NOW - HOUR, NOW, 10))
    watched = Watched.of(shop())
    rules = generated_rules([watched.graph]).rules

    result = evaluate(spans, {"shop": watched}, rules, NOW)

    assert len(rules) >= 15
    assert result.queries == 2
    assert result.failures == {}
    assert result.signals == ()


def test_span_values_travel_as_bound_parameters_not_sql_text() -> None:
    watched = Watched.of(shop())
    from alerts.journey_stats import JourneyNeeds
    from alerts.span_stats import Interval, SpanNeeds

    span_sql, span_params = span_stats_query(
        shop(), SpanNeeds(intervals=frozenset({Interval(300)})), NOW, watched.slack
    )
    journey_sql, _ = journey_stats_query(
        shop(), JourneyNeeds(transitions=frozenset({Interval(300)})), NOW, watched.slack
    )

    for sql in (span_sql, journey_sql):
        assert "GET /browse" not in sql and "journey.id" not in sql and "warehouse" not in sql
    assert any(("web", "GET /browse") == value or "GET /browse" == value for value in bound(span_params))


def bound(params: dict) -> list:
    """Every parameter value, the members of arrays included."""
    values: list = []
    for value in params.values():
        values += value if isinstance(value, list) else [value]
    return values


def test_a_rule_on_a_blueprint_that_is_not_loaded_is_reported_not_raised(spans) -> None:  # noqa: ANN001
    result = evaluate(spans, {}, [FailureRule(id="x", blueprint="nowhere", step="pay", threshold=0.1)], NOW)

    assert result.failures == {"x": "blueprint 'nowhere' is not loaded"}
    assert result.evaluated == frozenset()
