"""The dashboard's own questions to ClickHouse, against a real embedded engine: a step's drill-down
aggregates, one journey's spans, and the editor's match counts and unmapped spans."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from state_scenario import blueprint

from app.pages._editor_sql import as_blueprint, match_counts, unmapped
from app.pages._edits import load
from app.pages._journey_sql import read_journey, read_recent_journeys
from app.pages._step_sql import read_step_detail
from collectors.schema import TRACES_TABLE

AT = datetime(2025, 4, 2, 9, 0, tzinfo=UTC)
MAP = """
id: shop
name: Shop
correlation: {key: journey.id, timeout: 30m}
stages: [{id: all, name: All}]
steps:
  - {id: browse, name: Browse, lane: customer, stage: all, actor: person,
     select: {service: web, span: "GET /p/*"}}
  - {id: pay, name: Pay, lane: support, stage: all, actor: system, select: {service: payments, span: charge}}
flows:
  - {from: browse, to: pay}
"""
COLUMNS = [
    "Timestamp",
    "TraceId",
    "SpanId",
    "SpanName",
    "ServiceName",
    "SpanAttributes",
    "Duration",
    "StatusCode",
    "StatusMessage",
]


def row(
    service: str,
    name: str,
    second: float,
    duration_s: float,
    trace: str,
    attributes: dict[str, str],
    failed: bool = False,
    message: str = "",
) -> list[Any]:
    span_id = hashlib.sha256(f"{trace}{second}{name}".encode()).hexdigest()[:16]
    return [
        (AT + timedelta(seconds=second)).replace(tzinfo=None),
        hashlib.sha256(trace.encode()).hexdigest()[:32],
        span_id,
        name,
        service,
        attributes,
        int(duration_s * 1e9),
        "Error" if failed else "Ok",
        message,
    ]


@pytest.fixture(scope="module")
def shop(ch: Any) -> Any:
    rows = []
    for n in range(20):  # 20 journeys: browse, then pay; journeys 0-4 fail at pay in region eu
        journey = f"j{n}"
        rows.append(row("web", f"GET /p/{n}", n * 60, 0.1, f"{journey}-a", {"journey.id": journey}))
        failed = n < 5
        rows.append(
            row(
                "payments",
                "charge",
                n * 60 + 10,
                1.0 + n / 10,
                f"{journey}-b",
                {"journey.id": journey, "region": "eu" if failed else ["us", "eu", "ap"][n % 3]},
                failed,
                "card declined" if n < 4 else "timeout" if failed else "",
            )
        )
        rows.append(row("payments", "audit", n * 60 + 12, 0.01, f"{journey}-b", {}))  # same trace, no key
    rows.append(row("batch", "nightly", 5, 3.0, "cron", {}))
    ch.insert(TRACES_TABLE, rows, column_names=COLUMNS)
    return blueprint(MAP)


def test_the_trend_counts_spans_and_errors_per_bucket(ch: Any, shop: Any) -> None:
    detail = read_step_detail(ch, shop, 2, AT, AT + timedelta(minutes=20), 300)

    assert [(p.spans, p.errors) for p in detail.trend] == [(5, 5), (5, 0), (5, 0), (5, 0)]
    assert detail.trend[0].t == AT and detail.trend[0].p95_s is not None


def test_top_error_messages_come_most_frequent_first(ch: Any, shop: Any) -> None:
    detail = read_step_detail(ch, shop, 2, AT, AT + timedelta(minutes=20), 300)

    assert [(e.message, e.spans) for e in detail.errors] == [("card declined", 4), ("timeout", 1)]


def test_examples_name_their_journeys_slowest_and_latest_failed_first(ch: Any, shop: Any) -> None:
    detail = read_step_detail(ch, shop, 2, AT, AT + timedelta(minutes=20), 300)

    assert detail.slowest[0].journey == "j19" and detail.slowest[0].duration_s == pytest.approx(2.9)
    assert [e.journey for e in detail.failed] == ["j4", "j3", "j2", "j1", "j0"]


def test_the_attribute_that_sets_failing_spans_apart_is_found(ch: Any, shop: Any) -> None:
    detail = read_step_detail(ch, shop, 2, AT, AT + timedelta(minutes=20), 300)

    top = detail.telltales[0]
    assert (top.key, top.value, top.failing) == ("region", "eu", 5)
    assert top.failing_share == 1.0 and top.passing_share == pytest.approx(5 / 15)


def test_a_journey_is_every_span_of_the_traces_carrying_its_key(ch: Any, shop: Any) -> None:
    spans = read_journey(ch, shop, "j3", AT - timedelta(hours=1), AT + timedelta(hours=1))

    assert [(s.step, s.name) for s in spans] == [("browse", "GET /p/3"), ("pay", "charge"), ("", "audit")]
    assert spans[1].failed and spans[1].message == "card declined"


def test_an_unknown_journey_has_no_spans(ch: Any, shop: Any) -> None:
    assert read_journey(ch, shop, "nobody", AT - timedelta(hours=1), AT + timedelta(hours=1)) == []


def test_the_editor_counts_what_each_draft_step_matches_and_what_nothing_does(ch: Any, shop: Any) -> None:
    draft = as_blueprint(load(MAP))
    window = (AT, AT + timedelta(minutes=30))

    assert match_counts(ch, draft, *window) == {"browse": 20, "pay": 20}
    assert unmapped(ch, draft, *window) == [("payments", "audit", 20), ("batch", "nightly", 1)]


def test_the_editor_leaves_out_of_the_candidates_the_spans_another_blueprint_binds(ch: Any, shop: Any) -> None:
    draft = as_blueprint(load(MAP))
    audits = as_blueprint(
        load(
            MAP.replace("id: shop", "id: audit").replace(
                'service: web, span: "GET /p/*"', "service: payments, span: audit"
            )
        )
    )
    window = (AT, AT + timedelta(minutes=30))

    assert unmapped(ch, draft, *window, others=[audits]) == [("batch", "nightly", 1)]


def test_the_latest_journeys_come_newest_first_with_their_spans_and_failures(ch: Any, shop: Any) -> None:
    recent = read_recent_journeys(ch, shop, AT, AT + timedelta(minutes=30), limit=3)

    assert [(r.key, r.spans, r.failed) for r in recent] == [("j19", 2, 0), ("j18", 2, 0), ("j17", 2, 0)]
    assert recent[0].started == AT + timedelta(minutes=19)
    failing = read_recent_journeys(ch, shop, AT, AT + timedelta(minutes=4, seconds=30))
    other = blueprint(MAP.replace("id: shop", "id: other").replace("service: web", "service: nowhere"))
    assert read_recent_journeys(ch, other, AT, AT + timedelta(minutes=4, seconds=30))[0].key == "j4"
    elsewhere = blueprint(MAP.replace("service: web", "service: nowhere").replace("service: payments", "service: x"))
    assert read_recent_journeys(ch, elsewhere, AT, AT + timedelta(minutes=30)) == []
    assert [(r.key, r.failed) for r in failing] == [("j4", 1), ("j3", 1), ("j2", 1), ("j1", 1), ("j0", 1)]
