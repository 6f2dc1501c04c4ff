"""The engine's edges: long windows from per-minute counts (same answers, counted once, resumed after a
restart, old days dropped), and the background evaluator (runs on its interval, survives a failing cycle)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from alert_journeys import FIXTURES, USUAL, Shape, insert, shop, traffic

from alerts.book import AlertBook
from alerts.engine import AlertEngine
from alerts.evaluate import Watched, evaluate
from alerts.minutes import MINUTES, Counting, MinuteCounts
from alerts.rule_source import RuleSource, directory_blueprints
from alerts.rules import BurnRateRule, DarkRule
from alerts.store import AlertStore

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def spans(ch):  # noqa: ANN001, ANN201 - the module's client, with empty otel_traces and minute counts
    ch.command("TRUNCATE TABLE otel_traces")
    ch.command(f"TRUNCATE TABLE {MINUTES}")
    return ch


def failing_auth_for_the_last_hour(at: datetime, n: int) -> Shape:
    return Shape(fail=frozenset({"auth"})) if at >= NOW - HOUR else USUAL


def test_long_windows_from_minute_counts_give_the_raw_answer(spans) -> None:  # noqa: ANN001
    insert(spans, traffic(NOW - 3 * HOUR, NOW, 5, failing_auth_for_the_last_hour))
    watched = {"shop": Watched.of(shop())}
    rules = [
        BurnRateRule(id="auth-burn", blueprint="shop", step="auth"),
        BurnRateRule(
            id="browse-slow-burn", blueprint="shop", step="browse", objective="latency", severity="ticket"
        ),
        DarkRule(id="web-dark", blueprint="shop", touchpoint="web"),
    ]

    raw = evaluate(spans, watched, rules, NOW)
    counted = evaluate(spans, watched, rules, NOW, MinuteCounts())

    assert [s.rule_id for s in counted.signals] == [s.rule_id for s in raw.signals] == ["auth-burn"]
    assert counted.signals[0].value == pytest.approx(raw.signals[0].value, rel=0.02)
    assert counted.queries == raw.queries + 2  # counting the new minutes, and reading them


def minute_total(client) -> int:  # noqa: ANN001
    return int(client.query(f"SELECT sum(spans) FROM {MINUTES}").result_rows[0][0])


def test_minutes_waiting_for_their_batch_are_answered_from_raw_spans(spans) -> None:  # noqa: ANN001
    def failing_auth_from_15_minutes_before_now(at: datetime, n: int) -> Shape:
        return Shape(fail=frozenset({"auth"})) if at >= NOW - 15 * MINUTE else USUAL

    insert(spans, traffic(NOW - 3 * HOUR, NOW + 10 * MINUTE, 5, failing_auth_from_15_minutes_before_now))
    watched = {"shop": Watched.of(shop())}
    rules = [BurnRateRule(id="auth-burn", blueprint="shop", step="auth")]
    minutes = MinuteCounts()
    evaluate(spans, watched, rules, NOW, minutes)
    counted_at_now = minute_total(spans)

    later = evaluate(spans, watched, rules, NOW + 3 * MINUTE, minutes)  # 3 settled minutes: not a batch yet
    counted_later = minute_total(spans)
    raw = evaluate(spans, watched, rules, NOW + 3 * MINUTE)
    evaluate(spans, watched, rules, NOW + 5 * MINUTE, minutes)  # 5 settled minutes: counted

    assert counted_later == counted_at_now
    assert later.signals[0].value == pytest.approx(raw.signals[0].value, rel=0.02)
    assert minute_total(spans) > counted_at_now


def test_each_minute_is_counted_once_even_across_a_restart(spans) -> None:  # noqa: ANN001
    insert(spans, traffic(NOW - 2 * HOUR, NOW, 5))
    counting = Counting(shop(), {})
    minutes = MinuteCounts()

    minutes.fill(spans, counting, NOW - HOUR)
    minutes.fill(spans, counting, NOW - HOUR)  # nothing new: nothing added
    MinuteCounts().fill(spans, counting, NOW)  # a restarted engine carries on where the table ends

    settled = spans.query(
        "SELECT count() FROM otel_traces WHERE toUnixTimestamp64Nano(Timestamp) + Duration < {edge:Int64}",
        parameters={"edge": int((NOW - timedelta(minutes=5)).timestamp() * 1e9)},
    ).result_rows[0][0]
    assert minute_total(spans) == settled


def test_days_older_than_a_week_before_the_evaluation_are_dropped(spans) -> None:  # noqa: ANN001
    insert(spans, traffic(NOW - timedelta(days=9), NOW - timedelta(days=9) + HOUR, 60))
    insert(spans, traffic(NOW - HOUR, NOW, 60, first=10_000))
    counting = Counting(shop(), {})
    MinuteCounts().fill(spans, counting, NOW - timedelta(days=8, hours=12))
    old = minute_total(spans)

    MinuteCounts().fill(spans, counting, NOW)

    days = spans.query(f"SELECT DISTINCT toDate(minute) FROM {MINUTES}").result_rows
    assert old > 0
    assert [d[0].isoformat() for d in days] == ["2024-05-01"]


def engine_on(client, clock) -> AlertEngine:  # noqa: ANN001
    source = RuleSource(None, directory_blueprints(FIXTURES / "blueprints"))
    return AlertEngine(
        AlertBook(AlertStore(lambda: client)), source, lambda: client, interval_s=0.2, clock=clock
    )


def test_the_engine_evaluates_every_interval_until_stopped(spans) -> None:  # noqa: ANN001
    now = datetime.now(UTC)
    insert(
        spans,
        traffic(
            now - HOUR,
            now,
            5,
            lambda at, n: Shape(fail=frozenset({"pay"})) if at > now - timedelta(minutes=4) else USUAL,
        ),
    )
    engine = engine_on(spans, lambda: datetime.now(UTC))

    engine.start()
    deadline = time.monotonic() + 30
    seen = set()
    while time.monotonic() < deadline and len(seen) < 3:
        if engine.status.at is not None:
            seen.add(engine.status.at)
        time.sleep(0.05)
    engine.stop()
    stopped_at = engine.status.at
    time.sleep(0.5)

    assert len(seen) >= 3
    assert engine.status.at == stopped_at
    assert engine.status.error is None and engine.status.rules >= 10
    assert "shop.pay.failure" in {a.rule_id for a in engine.book.open_alerts()}


def test_a_failing_cycle_is_reported_and_the_next_one_runs(spans) -> None:  # noqa: ANN001
    calls = []

    def flaky_client():  # noqa: ANN202
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("ClickHouse went away")
        return spans

    source = RuleSource(None, directory_blueprints(FIXTURES / "blueprints"))
    engine = AlertEngine(AlertBook(AlertStore(lambda: spans)), source, flaky_client, interval_s=0.1)

    engine.start()
    deadline = time.monotonic() + 30
    errors = []
    while time.monotonic() < deadline:
        errors.append(engine.status.error)
        if len(calls) >= 3 and engine.status.error is None and engine.status.at is not None:
            break
        time.sleep(0.02)
    engine.stop()

    assert "ConnectionError: ClickHouse went away" in errors
    assert engine.status.error is None


def test_journey_rules_are_evaluated_at_most_every_thirty_seconds(spans) -> None:  # noqa: ANN001
    insert(spans, traffic(NOW - HOUR, NOW, 10))
    engine = engine_on(spans, lambda: NOW)

    engine.run_once(NOW)
    assert engine.status.queries == 4  # spans: raw, minute fill, minute read; journeys: one
    engine.run_once(NOW + timedelta(seconds=10))
    assert engine.status.queries == 3
    engine.run_once(NOW + timedelta(seconds=40))

    assert engine.status.queries == 4
