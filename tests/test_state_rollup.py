"""Long windows from the per-minute rollup: the same counts as raw spans, percentiles within tolerance, and
raw spans whenever the rollup does not keep an attribute a selector needs."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from state_scenario import SideClients, Span, blueprint, insert, origin, step_span

from blueprints.rollup_sql import rollup_step_query
from blueprints.rollups import (
    HOURLY_TABLE,
    ROLLUP_TABLE,
    ensure_rollup_keys,
    hourly_migration_statements,
    migration_statements,
    read_coverage,
)
from blueprints.state import StateOptions, compute_state
from blueprints.walk_store import WalkStore
from collectors.db import connect
from collectors.schema import SchemaOptions

FLOW = """
id: flow
name: Flow
correlation: {key: trace_id, timeout: 10m}
stages: [{id: all, name: All}]
steps:
  - {id: browse, name: Browse, lane: customer, stage: all, actor: person,
     select: {service: web, span: "GET /p/*"}}
  - {id: pay, name: Pay, lane: frontstage, stage: all, actor: system, select: {step: pay},
     objectives: {availability: 0.99, latency: {percentile: 95, threshold_ms: 800}}}
  - {id: ship, name: Ship, lane: backstage, stage: all, actor: process, select: {service: wms, span: ship}}
flows:
  - {from: browse, to: pay}
  - {from: pay, to: ship}
"""
HOURS = 2


@pytest.fixture(scope="module")
def journeys(ch) -> None:  # noqa: ANN001
    rng = random.Random(7)
    spans = []
    for n in range(400):
        t = rng.uniform(0, HOURS * 3600 - 120)
        j = f"j{n}"
        spans += [
            Span("web", f"GET /p/{n % 7}", t, rng.lognormvariate(-1.5, 0.6), j),
            step_span(
                "pay", t + rng.uniform(5, 30), rng.lognormvariate(-0.7, 0.5), j, error=rng.random() < 0.03
            ),
            Span("wms", "ship", t + rng.uniform(40, 90), rng.uniform(1, 4), j),
        ]
    spans += [Span("web", "GET /health", i * 60.0, 0.001, f"h{i}") for i in range(HOURS * 60)]
    insert(ch, origin(1), spans)


def both(ch, **options):  # noqa: ANN001, ANN003, ANN201 - test helper
    start = origin(1)
    end = start + timedelta(hours=HOURS)
    bp = blueprint(FLOW)
    raw = compute_state(ch, bp, start, end, end, StateOptions(source="raw", **options))
    rolled = compute_state(ch, bp, start, end, end, StateOptions(source="rollup", **options))
    return raw, rolled


def test_rollup_counts_equal_raw_counts(ch, journeys) -> None:  # noqa: ANN001
    raw, rolled = both(ch, journey_horizon_s=HOURS * 3600)
    assert (raw.source, rolled.source) == ("raw", "rollup")
    assert [(s.step_id, s.count, s.errors) for s in rolled.steps] == [
        (s.step_id, s.count, s.errors) for s in raw.steps
    ]
    assert [s.count for s in raw.steps] == [400, 400, 400]
    for r, o in zip(raw.steps, rolled.steps, strict=True):
        assert [(p.t, p.count, p.errors) for p in o.series] == [(p.t, p.count, p.errors) for p in r.series]
    assert rolled.conformance.unmapped == raw.conformance.unmapped


def test_rollup_percentiles_agree_with_raw_within_tolerance(ch, journeys) -> None:  # noqa: ANN001
    raw, rolled = both(ch, journey_horizon_s=HOURS * 3600)
    for r, o in zip(raw.steps, rolled.steps, strict=True):
        assert o.p50_s == pytest.approx(r.p50_s, rel=0.05)
        assert o.p95_s == pytest.approx(r.p95_s, rel=0.05)
        assert o.p99_s == pytest.approx(r.p99_s, rel=0.08)


def test_rollup_walks_journeys_over_the_horizon_only(ch, journeys) -> None:  # noqa: ANN001
    raw, whole = both(ch, journey_horizon_s=HOURS * 3600)
    assert whole.edges == raw.edges and whole.journey_window is None
    scoring = {"score", "health"}  # latency burn is unknown on the rollup, so scores may differ
    assert whole.journey.model_dump(exclude=scoring) == raw.journey.model_dump(exclude=scoring)
    _, recent = both(ch, journey_horizon_s=1800)
    assert recent.journey_window is not None
    assert recent.journey_window.start == recent.window.end - timedelta(minutes=30)
    assert sum(e.count for e in recent.edges) < sum(e.count for e in raw.edges)
    assert [s.count for s in recent.steps] == [400, 400, 400]  # counts still cover the whole window


def test_a_side_client_reads_the_rollup_on_another_thread_and_changes_no_figure(ch, dsn, journeys) -> None:  # noqa: ANN001
    start = origin(1)
    end = start + timedelta(hours=HOURS)
    bp = blueprint(FLOW)
    options = StateOptions(source="rollup", journey_horizon_s=1800)
    alone = compute_state(ch, bp, start, end, end, options)
    side = SideClients(connect(dsn))
    try:
        beside = compute_state(ch, bp, start, end, end, options, side_client=side)
    finally:
        side.client.close()
    assert side.asked_from and all(name.startswith("touchpoint-state-side") for name in side.asked_from)
    assert beside.model_dump(exclude={"query_ms"}) == alone.model_dump(exclude={"query_ms"})


def test_auto_picks_the_rollup_for_long_windows_only(ch, journeys) -> None:  # noqa: ANN001
    start = origin(1)
    bp = blueprint(FLOW)
    long = compute_state(ch, bp, start, start + timedelta(hours=HOURS), start + timedelta(hours=HOURS),
                         StateOptions(rollup_after_s=3600))  # fmt: skip
    short = compute_state(ch, bp, start, start + timedelta(minutes=30), start + timedelta(minutes=30),
                          StateOptions(rollup_after_s=3600))  # fmt: skip
    assert (long.source, short.source) == ("rollup", "raw")


ROLE = FLOW.replace(
    "select: {service: wms, span: ship}", "select: {service: wms, span: ship, attributes: {site: north}}"
)


def test_selector_on_an_attribute_the_rollup_does_not_keep_is_answered_from_raw(ch) -> None:  # noqa: ANN001
    start = origin(2)
    insert(
        ch,
        start,
        [
            Span("wms", "ship", 60, 1, "a", {"site": "north"}),
            Span("wms", "ship", 61, 1, "b", {"site": "south"}),
        ],
    )
    end = start + timedelta(hours=2)
    options = StateOptions(rollup_after_s=3600)
    state = compute_state(ch, blueprint(ROLE), start, end, end, options)
    assert state.source == "raw"
    assert next(s.count for s in state.steps if s.step_id == "ship") == 1

    added = ensure_rollup_keys(ch, {"site"}, now=start + timedelta(hours=1))
    assert added == {"site"} and ensure_rollup_keys(ch, {"site"}, now=end) == set()
    assert read_coverage(ch).since["site"] == start + timedelta(hours=1)
    later = start + timedelta(hours=2)
    insert(ch, later, [Span("wms", "ship", 60, 1, "c", {"site": "north"})])
    rolled = compute_state(
        ch, blueprint(ROLE), later, later + timedelta(hours=2), later + timedelta(hours=2), options
    )
    assert rolled.source == "rollup"
    assert next(s.count for s in rolled.steps if s.step_id == "ship") == 1


def test_rerunning_the_migrations_does_not_fill_the_rollups_twice(ch, journeys) -> None:  # noqa: ANN001
    def totals() -> list[int]:
        return [ch.query(f"SELECT sum(Spans) FROM {t}").result_rows[0][0] for t in (ROLLUP_TABLE, HOURLY_TABLE)]

    before = totals()
    for statement in migration_statements(SchemaOptions()) + hourly_migration_statements(SchemaOptions()):
        ch.command(statement)
    assert totals() == before


def test_the_hourly_rollup_holds_the_minutes_folded_into_hours(ch, journeys) -> None:  # noqa: ANN001
    fold = "toStartOfHour(Minute) AS h, sum(Spans), sum(Errors), sum(DurationSum)"
    minutes = ch.query(f"SELECT {fold} FROM {ROLLUP_TABLE} GROUP BY h ORDER BY h").result_rows
    hours = ch.query(
        f"SELECT Hour AS h, sum(Spans), sum(Errors), sum(DurationSum) FROM {HOURLY_TABLE} GROUP BY h ORDER BY h"
    ).result_rows
    assert hours == minutes and len(hours) >= HOURS


DAY_LONG = timedelta(hours=20)


def test_a_day_long_window_reads_whole_hours_and_counts_as_raw_spans_do(ch, journeys) -> None:  # noqa: ANN001
    start = origin(1) + timedelta(minutes=37)  # 00:37-01:00 from minutes, whole hours from the hourly rollup
    end = start + DAY_LONG
    bp = blueprint(FLOW)
    query = rollup_step_query(bp, start, end, origin(1), 3600)
    assert (query.params["q_hours_from"], query.params["q_hours_to"]) == (
        origin(1) + timedelta(hours=1),
        origin(1) + timedelta(hours=20),
    )
    raw = compute_state(ch, bp, start, end, end, StateOptions(source="raw"))
    rolled = compute_state(ch, bp, start, end, end, StateOptions(source="rollup"))
    assert [(s.step_id, s.count, s.errors) for s in rolled.steps] == [
        (s.step_id, s.count, s.errors) for s in raw.steps
    ]
    assert rolled.conformance.unmapped == raw.conformance.unmapped
    ship = next(s for s in rolled.steps if s.step_id == "ship")
    assert rolled.window.bucket_s == 3600 and rolled.window.origin == origin(1)
    assert [p.t for p in ship.series] == [origin(1) + timedelta(hours=h) for h in range(21)]
    per_hour = dict(
        ch.query(
            "SELECT toStartOfHour(Timestamp) AS h, count() FROM otel_traces WHERE ServiceName = 'wms' "
            "AND SpanName = 'ship' AND Timestamp >= {s:DateTime64(9)} AND Timestamp < {e:DateTime64(9)} GROUP BY h",
            parameters={"s": start, "e": end},
        ).result_rows
    )
    assert [p.count for p in ship.series] == [
        per_hour.get(p.t.replace(tzinfo=None), 0) for p in ship.series
    ]
    assert ship.series[0].count > 0  # the partial first hour holds only the spans after 00:37


def test_a_late_span_reaches_the_hour_it_belongs_to(ch) -> None:  # noqa: ANN001
    start = origin(3)
    end = start + DAY_LONG
    bp = blueprint(FLOW)
    insert(ch, start, [Span("wms", "ship", 5 * 3600 + 10, 1, "a")])
    insert(ch, start, [Span("wms", "ship", 3600 + 10, 1, "late")])  # written after a later hour's span
    state = compute_state(ch, bp, start, end, end, StateOptions(source="rollup"))
    ship = next(s for s in state.steps if s.step_id == "ship")
    assert ship.count == 2
    assert [p.count for p in ship.series[:6]] == [0, 1, 0, 0, 0, 1]


def test_journeys_walked_ahead_answer_the_rollups_last_half_hour_as_a_live_walk_does(ch, journeys) -> None:  # noqa: ANN001
    start = origin(1)
    end = start + timedelta(hours=HOURS)
    bp = blueprint(FLOW)
    options = StateOptions(source="rollup", journey_horizon_s=1800)
    walks = WalkStore()
    walks.refresh(ch, bp, end, start=end - timedelta(minutes=40), watermark=end)
    ahead = compute_state(ch, bp, start, end, end, options, walks=walks)
    assert walks.stats.answered == 1
    live = compute_state(ch, bp, start, end, end, options)
    assert ahead.model_dump(exclude={"query_ms"}) == live.model_dump(exclude={"query_ms"})
