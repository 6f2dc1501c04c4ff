"""Imported event logs land in a real Touchpoint server's `otel_traces` as journeys of people steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.eventlog import ImportOptions, OtlpTraceSender, import_log
from collectors.eventlog.to_spans import span_id_for, trace_id_for

FIXTURES = Path(__file__).parent / "fixtures" / "eventlogs"
HELPDESK = Path(__file__).resolve().parents[2] / "shared" / "data" / "helpdesk.xes.gz"


@pytest.fixture(scope="module")
def imported(server, ch):  # noqa: ANN001, ANN201 - conftest's server and ClickHouse client
    tickets = import_log(FIXTURES / "tickets.good.csv", url=server.url, options=ImportOptions(service="desk"))
    repairs = import_log(
        FIXTURES / "lifecycle.good.xes", url=server.url, options=ImportOptions(service="repairs")
    )
    return tickets, repairs


def _rows(ch, service: str) -> list[dict]:  # noqa: ANN001
    return list(
        ch.query(
            "SELECT TraceId, SpanId, SpanName, Duration, toString(Timestamp) AS Start, StatusCode, "
            "StatusMessage, SpanAttributes FROM otel_traces WHERE ServiceName = {s:String} "
            "ORDER BY Timestamp, SpanName",
            parameters={"s": service},
        ).named_results()
    )


def test_every_span_is_stored_under_its_service_with_the_ids_derived_from_case_and_position(
    imported, ch
) -> None:
    rows = _rows(ch, "desk")
    assert imported[0].spans_sent == len(rows) == 6
    first = next(
        r for r in rows if r["SpanAttributes"]["journey.id"] == "T-1" and r["SpanName"] == "Open ticket"
    )
    assert first["Start"] == "2024-05-01 08:00:00.000000000"
    assert first["TraceId"] == trace_id_for("desk", "T-1").hex()
    assert first["SpanId"] == span_id_for("desk", "T-1", 0).hex()


def test_stored_spans_carry_the_journey_actor_channel_and_row_attributes(imported, ch) -> None:
    call = next(r for r in _rows(ch, "desk") if r["SpanName"] == "Call customer")
    assert call["Duration"] == 12 * 60 * 10**9
    assert {
        k: call["SpanAttributes"][k] for k in ("journey.id", "actor.type", "actor.id", "touchpoint.channel")
    } == {
        "journey.id": "T-1",
        "actor.type": "person",
        "actor.id": "dana",
        "touchpoint.channel": "phone",
    }
    assert call["SpanAttributes"]["Priority"] == "high"


def test_lifecycle_pairs_are_stored_as_durations_and_aborts_as_errors(imported, ch) -> None:
    rows = [
        (r["SpanName"], r["Duration"] // 10**9, r["StatusCode"], r["StatusMessage"])
        for r in _rows(ch, "repairs")
    ]
    assert rows == [
        ("Book visit", 330, "Unset", ""),
        ("Visit", 5400, "Unset", ""),
        ("Visit", 1200, "Error", "ate_abort"),
        ("Send invoice", 0, "Unset", ""),
    ]


def test_the_whole_helpdesk_log_is_stored_one_trace_per_case(server, ch) -> None:  # noqa: ANN001
    if not HELPDESK.exists():
        pytest.skip(f"{HELPDESK} is not here")
    report = import_log(HELPDESK, url=server.url, sender=OtlpTraceSender(server.url, max_attempts=2))
    (row,) = ch.query(
        "SELECT count(), uniqExact(TraceId), uniqExact(SpanAttributes['journey.id']) "
        "FROM otel_traces WHERE ServiceName = 'helpdesk'"
    ).result_rows
    assert (report.spans_sent, tuple(row)) == (21348, (21348, 4580, 4580))
