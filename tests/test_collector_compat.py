"""otel_traces is shared with the OpenTelemetry Collector's ClickHouse exporter: rows either side writes must be
indistinguishable, so a stock collector can write where Touchpoint reads and the other way round."""

from __future__ import annotations

import requests

from collectors.schema import TRACES_COLUMNS

# The exporter's INSERT: column for column what its Go code binds for one span (ids hex, kinds and status codes
# as words, attribute values as strings, Duration in nanoseconds).
EXPORTER_INSERT = """
INSERT INTO otel_traces (
    Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName,
    ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, StatusMessage,
    `Events.Timestamp`, `Events.Name`, `Events.Attributes`,
    `Links.TraceId`, `Links.SpanId`, `Links.TraceState`, `Links.Attributes`
) VALUES (
    '2023-11-14 22:13:20.000000000', 'aa8efff798038103d269b633813fc60c', '{span_id}', '1111111111111111', '',
    'POST /pay', 'Client', 'payment-gateway',
    {{'service.name': 'payment-gateway'}}, 'pay.scope', '1.2', {{'blueprint.step': 'payment', 'amount': '59.5'}},
    250000000, 'Error', 'card declined',
    ['2023-11-14 22:13:20.100000000'], ['retry'], [{{'attempt': '2'}}],
    ['bb8efff798038103d269b633813fc60c'], ['2222222222222222'], [''], [{{'link.kind': 'follows'}}]
)
"""

RECEIVER_SPAN = {
    "resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "payment-gateway"}}]},
        "scopeSpans": [{
            "scope": {"name": "pay.scope", "version": "1.2"},
            "spans": [{
                "traceId": "aa8efff798038103d269b633813fc60c", "spanId": "cccccccccccccccc",
                "parentSpanId": "1111111111111111", "name": "POST /pay", "kind": 3,
                "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000250000000",
                "attributes": [{"key": "blueprint.step", "value": {"stringValue": "payment"}},
                               {"key": "amount", "value": {"doubleValue": 59.5}}],
                "events": [{"timeUnixNano": "1700000000100000000", "name": "retry",
                            "attributes": [{"key": "attempt", "value": {"intValue": "2"}}]}],
                "links": [{"traceId": "bb8efff798038103d269b633813fc60c", "spanId": "2222222222222222",
                           "attributes": [{"key": "link.kind", "value": {"stringValue": "follows"}}]}],
                "status": {"code": 2, "message": "card declined"},
            }],
        }],
    }]
}


def test_the_table_has_exactly_the_exporters_columns_and_types(ch) -> None:
    # Our MATERIALIZED columns (computed from the exporter's, never inserted) are not the exporter's business.
    described = [(r[0], r[1]) for r in ch.query("DESCRIBE TABLE otel_traces").result_rows if r[2] != "MATERIALIZED"]
    assert described == list(TRACES_COLUMNS)


def test_a_span_written_by_the_receiver_equals_the_same_span_written_as_the_exporter_does(server, ch) -> None:
    ch.command(EXPORTER_INSERT.format(span_id="eeeeeeeeeeeeeeee"))
    assert requests.post(f"{server.url}/v1/traces", json=RECEIVER_SPAN, timeout=10).status_code == 200
    columns = ", ".join(f"`{name}`" for name, _ in TRACES_COLUMNS if name != "SpanId")
    rows = ch.query(
        f"SELECT SpanId, {columns} FROM otel_traces WHERE TraceId = 'aa8efff798038103d269b633813fc60c' ORDER BY SpanId"
    ).result_rows
    assert [r[0] for r in rows] == ["cccccccccccccccc", "eeeeeeeeeeeeeeee"]
    from_receiver, from_exporter = (r[1:] for r in rows)
    assert from_receiver == from_exporter


def test_rows_written_as_the_exporter_does_count_in_the_servers_own_reads(server, ch) -> None:
    before = requests.get(f"{server.url}/api/v1/health", timeout=10).json()["database"]["spans"]
    ch.command(EXPORTER_INSERT.format(span_id="ffffffffffffffff"))
    after = requests.get(f"{server.url}/api/v1/health", timeout=10).json()["database"]["spans"]
    assert after == before + 1
