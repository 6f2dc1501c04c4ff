"""POST /v1/traces as the OTLP/HTTP specification describes it, against a real server and engine."""

from __future__ import annotations

import gzip
import json
import threading
import time

import pytest
import requests
from google.rpc import status_pb2
from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from bench.otlp_payloads import build_request
from collectors.clickhouse_writer import span_insert_settings

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def _rows(ch, where: str, **params):  # noqa: ANN001, ANN202
    return ch.query(
        "SELECT TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, SpanAttributes, Duration, "
        "StatusCode, StatusMessage, Events.Name, Events.Attributes, Timestamp, ResourceAttributes, ScopeName "
        f"FROM otel_traces WHERE {where} ORDER BY Timestamp",
        parameters=params,
    ).named_results()


def test_real_otlp_exporter_spans_are_stored_with_ids_times_kinds_attributes_events_and_status(server, ch) -> None:
    provider = TracerProvider(
        resource=Resource.create({"service.name": "checkout-svc", "deployment.environment": "test"})
    )
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{server.url}/v1/traces")))
    tracer = provider.get_tracer("shop.checkout", "2.1")
    with tracer.start_as_current_span("POST /checkout", kind=trace_api.SpanKind.SERVER) as parent:
        parent.set_attribute("blueprint.step", "checkout")
        parent.set_attribute("cart.items", 3)
        parent.set_attribute("cart.total", 59.5)
        parent.set_attribute("gift", True)
        parent.set_attribute("tags", ["a", "b"])
        parent.add_event("coupon.applied", {"coupon": "WINTER"})
        with tracer.start_as_current_span("charge card", kind=trace_api.SpanKind.CLIENT) as child:
            child.set_status(trace_api.Status(trace_api.StatusCode.ERROR, "card declined"))
    provider.shutdown()
    trace_id = format(parent.get_span_context().trace_id, "032x")

    rows = _rows(ch, "TraceId = {t:String}", t=trace_id)
    rows = list(rows)
    assert [r["SpanName"] for r in rows] == ["POST /checkout", "charge card"]
    checkout, charge = rows
    assert checkout["SpanId"] == format(parent.get_span_context().span_id, "016x")
    assert charge["ParentSpanId"] == checkout["SpanId"]
    assert checkout["ServiceName"] == "checkout-svc"
    assert checkout["ResourceAttributes"]["deployment.environment"] == "test"
    assert checkout["ScopeName"] == "shop.checkout"
    assert (checkout["SpanKind"], charge["SpanKind"]) == ("Server", "Client")
    assert checkout["SpanAttributes"] == {
        "blueprint.step": "checkout",
        "cart.items": "3",
        "cart.total": "59.5",
        "gift": "true",
        "tags": '["a","b"]',
    }
    assert checkout["Events.Name"] == ["coupon.applied"]
    assert checkout["Events.Attributes"] == [{"coupon": "WINTER"}]
    assert (charge["StatusCode"], charge["StatusMessage"]) == ("Error", "card declined")
    assert checkout["Duration"] == parent.end_time - parent.start_time
    assert int(checkout["Timestamp"].timestamp() * 1e6) == parent.start_time // 1000


def _span_json(trace_id: str, span_id: str, name: str) -> dict:
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": 2,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000250000000",
        "attributes": [
            {"key": "journey.id", "value": {"stringValue": "J-1"}},
            {"key": "retries", "value": {"intValue": "2"}},
        ],
        "status": {"code": 2, "message": "boom"},
    }


def _json_request(*spans: dict, service: str = "json-svc") -> dict:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeSpans": [{"scope": {"name": "manual"}, "spans": list(spans)}],
            }
        ]
    }


def test_json_body_is_accepted_and_answered_in_json(server, ch) -> None:
    body = _json_request(_span_json("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "GET /json"))
    reply = requests.post(f"{server.url}/v1/traces", json=body, timeout=10)
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.json() == {}
    (row,) = _rows(ch, "SpanId = 'eee19b7ec3c1b174'")
    assert (row["SpanName"], row["SpanKind"], row["StatusCode"]) == ("GET /json", "Server", "Error")
    assert row["SpanAttributes"] == {"journey.id": "J-1", "retries": "2"}
    assert row["Duration"] == 250_000_000


def test_gzip_bodies_are_accepted_in_both_encodings(server, ch) -> None:
    proto = build_request(50, seed=7, start_ns=1_700_000_100_000_000_000)
    reply = requests.post(
        f"{server.url}/v1/traces",
        data=gzip.compress(proto.SerializeToString()),
        headers={**PROTOBUF, "Content-Encoding": "gzip"},
        timeout=10,
    )
    assert reply.status_code == 200
    assert ExportTraceServiceResponse.FromString(reply.content).partial_success.rejected_spans == 0
    body = _json_request(_span_json("6b8efff798038103d269b633813fc60c", "fee19b7ec3c1b174", "gz json"))
    reply = requests.post(
        f"{server.url}/v1/traces",
        data=gzip.compress(json.dumps(body).encode()),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        timeout=10,
    )
    assert reply.status_code == 200
    first_id = proto.resource_spans[0].scope_spans[0].spans[0].span_id.hex()
    assert (
        ch.query(
            "SELECT count() FROM otel_traces WHERE SpanId IN ({a:String}, 'fee19b7ec3c1b174')",
            parameters={"a": first_id},
        ).result_rows[0][0]
        == 2
    )


def test_invalid_spans_are_refused_as_partial_success_and_the_rest_stored(server, ch) -> None:
    good = _span_json("7b8efff798038103d269b633813fc60c", "aee19b7ec3c1b174", "good one")
    short_id = _span_json("7b8efff798038103d269b633813fc60c", "aee1", "short span id")
    backwards = {
        **_span_json("7b8efff798038103d269b633813fc60c", "bee19b7ec3c1b174", "ends first"),
        "endTimeUnixNano": "1600000000000000000",
    }
    reply = requests.post(f"{server.url}/v1/traces", json=_json_request(good, short_id, backwards), timeout=10)
    assert reply.status_code == 200
    partial = reply.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "2"
    assert "'short span id': span_id must be 8 bytes" in partial["errorMessage"]
    assert "'ends first': end_time_unix_nano is before start_time_unix_nano" in partial["errorMessage"]
    names = {
        r[0]
        for r in ch.query(
            "SELECT SpanName FROM otel_traces WHERE TraceId = '7b8efff798038103d269b633813fc60c'"
        ).result_rows
    }
    assert names == {"good one"}


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        (b"\xff\xff\xff garbage", PROTOBUF, 400, "not a valid OTLP ExportTraceServiceRequest protobuf"),
        (b"{not json", {"Content-Type": "application/json"}, 400, "not valid JSON"),
        (
            json.dumps(_json_request(_span_json("zz", "aee19b7ec3c1b174", "x"))).encode(),
            {"Content-Type": "application/json"},
            400,
            "resourceSpans[0].scopeSpans[0].spans[0].traceId 'zz' is not a hex string",
        ),
        (b"hello", {"Content-Type": "text/plain"}, 415, "Content-Type 'text/plain' is not supported"),
        (b"hello", {**PROTOBUF, "Content-Encoding": "br"}, 415, "Content-Encoding 'br' is not supported"),
        (b"not gzip at all", {**PROTOBUF, "Content-Encoding": "gzip"}, 400, "not valid gzip data"),
    ],
)
def test_bad_requests_get_a_clear_error_in_the_request_content_type(server, body, headers, status, message) -> None:
    reply = requests.post(f"{server.url}/v1/traces", data=body, headers=headers, timeout=10)
    assert reply.status_code == status
    if reply.headers["Content-Type"] == "application/json":
        text = reply.json()["message"]
    else:
        text = status_pb2.Status.FromString(reply.content).message
    assert message in text


def test_gzip_bomb_is_refused_with_413_before_it_is_inflated(server) -> None:
    bomb = gzip.compress(b"\0" * (21 * 1024 * 1024))
    assert len(bomb) < 100_000
    reply = requests.post(
        f"{server.url}/v1/traces", data=bomb, headers={**PROTOBUF, "Content-Encoding": "gzip"}, timeout=10
    )
    assert reply.status_code == 413
    assert (
        "exceeds the limit of 20971520 bytes once decompressed" in status_pb2.Status.FromString(reply.content).message
    )


def test_oversized_plain_body_is_refused_with_413(server) -> None:
    reply = requests.post(f"{server.url}/v1/traces", data=b"\0" * (20 * 1024 * 1024 + 10), headers=PROTOBUF, timeout=30)
    assert reply.status_code == 413


def test_full_write_queue_answers_503_with_retry_after_and_stores_nothing_from_that_request(dsn) -> None:
    from collectors.clickhouse_writer import SpanWriter, WriterLimits
    from collectors.db import connect
    from collectors.otlp_http import TraceReceiver

    gate = threading.Event()

    def slow_client():  # noqa: ANN202 - a real client, handed over only once the test opens the gate
        gate.wait(10)
        return connect(dsn)

    writer = SpanWriter(slow_client, limits=WriterLimits(max_pending_rows=1500, linger_s=0))
    receiver = TraceReceiver(writer)
    first = build_request(1000, seed=1, start_ns=1_700_000_200_000_000_000).SerializeToString()
    second = build_request(1000, seed=2, start_ns=1_700_000_200_000_000_000).SerializeToString()
    results = {}
    waiting = threading.Thread(
        target=lambda: results.setdefault(
            "first", receiver.handle(_stream(first), PROTOBUF["Content-Type"], None, len(first))
        )
    )
    waiting.start()
    deadline = time.monotonic() + 5
    while writer.stats.pending_rows == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    refused = receiver.handle(_stream(second), PROTOBUF["Content-Type"], None, len(second))
    gate.set()
    waiting.join(10)
    writer.close()
    assert refused.status == 503
    assert refused.headers["Retry-After"] == "1"
    assert "write queue full" in status_pb2.Status.FromString(refused.body).message
    assert results["first"].status == 200
    assert writer.stats.rows_written == 1000


def _stream(body: bytes):  # noqa: ANN202
    import io

    return io.BytesIO(body)


def test_concurrent_requests_are_batched_into_fewer_inserts(server) -> None:
    bodies = [
        build_request(200, seed=100 + i, start_ns=1_700_000_300_000_000_000).SerializeToString() for i in range(24)
    ]
    before = server.runtime.ctx.writer.stats.inserts

    def send(chunk: list[bytes]) -> None:
        with requests.Session() as session:
            for body in chunk:
                assert (
                    session.post(f"{server.url}/v1/traces", data=body, headers=PROTOBUF, timeout=30).status_code == 200
                )

    threads = [threading.Thread(target=send, args=(bodies[i::6],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.runtime.ctx.writer.stats.inserts - before < len(bodies)


def test_the_embedded_servers_inserts_run_on_one_thread_and_a_clickhouse_servers_keep_theirs(server) -> None:
    assert server.runtime.ctx.writer.insert_settings == {"max_partitions_per_insert_block": 0, "max_threads": 1}
    assert span_insert_settings(embedded=False) == {"max_partitions_per_insert_block": 0}


def test_protobuf_round_trip_of_a_request_keeps_every_span(server, ch) -> None:
    request = build_request(300, seed=42, start_ns=1_700_000_400_000_000_000)
    reply = requests.post(f"{server.url}/v1/traces", data=request.SerializeToString(), headers=PROTOBUF, timeout=10)
    assert reply.status_code == 200
    ids = sorted(s.span_id.hex() for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans)
    stored = sorted(
        r[0]
        for r in ch.query(
            "SELECT SpanId FROM otel_traces WHERE SpanId IN {ids:Array(String)}", parameters={"ids": ids}
        ).result_rows
    )
    assert stored == ids
    assert isinstance(request, ExportTraceServiceRequest)


def test_an_insert_waits_for_a_request_still_being_decoded_and_takes_both_at_once(dsn) -> None:
    from collectors.clickhouse_writer import SpanWriter, WriterLimits
    from collectors.db import connect
    from collectors.otlp_mapping import decode_protobuf, spans_to_arrow

    bodies = [build_request(100, seed=s, start_ns=1_700_000_300_000_000_000).SerializeToString() for s in (31, 32)]
    tables = [spans_to_arrow(decode_protobuf(body)).table for body in bodies]
    writer = SpanWriter(lambda: connect(dsn), limits=WriterLimits(linger_s=0, max_linger_s=5.0))
    decoded = threading.Event()

    def late_request() -> None:
        with writer.incoming():
            decoded.wait(5)
            writer.submit(tables[1])

    late = threading.Thread(target=late_request)
    with writer.incoming():  # announce the late request before the first one submits
        late.start()
        time.sleep(0.05)
    first = writer.submit(tables[0])
    time.sleep(0.2)  # the insert is held back while the late request is still decoding
    assert not first.done()
    decoded.set()
    assert first.result(10) == 100
    late.join(10)
    writer.close()
    assert writer.stats.inserts == 1
    assert writer.stats.rows_written == 200


def test_requests_are_mapped_in_the_servers_worker_processes_and_health_counts_them(server, ch) -> None:
    assert server.runtime.ctx.mappers.wait_ready(60)
    before = requests.get(f"{server.url}/api/v1/health", timeout=10).json()["ingest"]["mapping"]
    request = build_request(120, seed=77, start_ns=1_700_000_500_000_000_000)

    reply = requests.post(f"{server.url}/v1/traces", data=request.SerializeToString(), headers=PROTOBUF, timeout=10)

    after = requests.get(f"{server.url}/api/v1/health", timeout=10).json()["ingest"]["mapping"]
    assert reply.status_code == 200
    assert (after["processes"], after["ready"]) == (2, 2)
    assert after["in_workers"] == before["in_workers"] + 1
    trace_ids = sorted({s.trace_id.hex() for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans})
    stored = ch.query(
        "SELECT count() FROM otel_traces WHERE TraceId IN {t:Array(String)}", parameters={"t": trace_ids}
    ).result_rows[0][0]
    assert stored == 120
