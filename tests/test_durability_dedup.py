"""A client that resends a batch never makes a span count twice: the receiver drops spans already stored
(by TraceId and SpanId), also after a restart, and refuses to store twice what is still being stored."""

from __future__ import annotations

import gzip
import time
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
import requests

import blueprints.rollups  # noqa: F401 - its materialized view counts spans as they are inserted
from app.server import serve_in_thread
from app.settings import Settings
from bench.otlp_payloads import build_request
from collectors.errors import Overloaded, WriteFailed
from collectors.otlp_mapping import decode_protobuf, spans_to_arrow
from collectors.span_dedup import DeduplicatingWriter, RecentSpans

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def send(url: str, seed: int, n: int = 40) -> requests.Response:
    body = build_request(n, seed=seed, start_ns=time.time_ns() - 60_000_000_000).SerializeToString()
    return requests.post(url + "/v1/traces", data=body, headers=PROTOBUF, timeout=30)


def counts(ch) -> tuple[int, int, int]:  # noqa: ANN001
    """(rows, distinct spans, spans counted by the per-minute rollup)."""
    rows, distinct = ch.query("SELECT count(), uniqExact(TraceId, SpanId) FROM otel_traces").result_rows[0]
    rollup = ch.query("SELECT sum(Spans) FROM touchpoint_span_rollup").result_rows[0][0]
    return int(rows), int(distinct), int(rollup or 0)


def test_resent_batch_changes_no_count(server, ch) -> None:  # noqa: ANN001
    assert send(server.url, seed=101).status_code == 200
    before = counts(ch)

    again = send(server.url, seed=101)

    assert again.status_code == 200
    assert counts(ch) == before
    assert before[0] == before[1] == before[2]


def test_resent_json_and_gzip_batches_change_no_count(server, ch) -> None:  # noqa: ANN001
    from google.protobuf import json_format

    request = build_request(30, seed=102, start_ns=time.time_ns() - 60_000_000_000)
    assert requests.post(server.url + "/v1/traces", data=request.SerializeToString(), headers=PROTOBUF).ok
    before = counts(ch)
    document = json_format.MessageToJson(request)  # base64 ids; the receiver takes OTLP's hex: convert
    import base64
    import json

    parsed = json.loads(document)
    for rs in parsed["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    span[key] = base64.b64decode(span[key]).hex()

    as_json = requests.post(
        server.url + "/v1/traces", data=json.dumps(parsed), headers={"Content-Type": "application/json"}
    )
    as_gzip = requests.post(
        server.url + "/v1/traces",
        data=gzip.compress(request.SerializeToString()),
        headers={**PROTOBUF, "Content-Encoding": "gzip"},
    )

    assert as_json.status_code == as_gzip.status_code == 200
    assert counts(ch) == before


def test_batch_overlapping_a_stored_one_adds_only_its_new_spans(server, ch) -> None:  # noqa: ANN001
    first = build_request(20, seed=103, start_ns=time.time_ns() - 60_000_000_000)
    second = build_request(20, seed=104, start_ns=time.time_ns() - 60_000_000_000)
    assert requests.post(server.url + "/v1/traces", data=first.SerializeToString(), headers=PROTOBUF).ok
    before = counts(ch)
    mixed = build_request(0, seed=0, start_ns=0)
    mixed.resource_spans.extend(list(first.resource_spans) + list(second.resource_spans))

    answer = requests.post(server.url + "/v1/traces", data=mixed.SerializeToString(), headers=PROTOBUF)

    assert answer.status_code == 200
    assert counts(ch) == (before[0] + 20, before[1] + 20, before[2] + 20)


def test_the_same_span_twice_in_one_request_is_stored_once(server, ch) -> None:  # noqa: ANN001
    request = build_request(10, seed=105, start_ns=time.time_ns() - 60_000_000_000)
    request.resource_spans.extend(list(request.resource_spans))
    before = counts(ch)

    answer = requests.post(server.url + "/v1/traces", data=request.SerializeToString(), headers=PROTOBUF)

    assert answer.status_code == 200
    assert counts(ch) == (before[0] + 10, before[1] + 10, before[2] + 10)


def test_spans_stored_before_a_restart_are_recognised_after_it(dsn: str, ch) -> None:  # noqa: ANN001
    settings = Settings(db=dsn, port=0, evaluate_alerts=False)
    first = serve_in_thread(settings, start_hooks=[])
    try:
        assert send(first.url, seed=106).status_code == 200
    finally:
        first.stop()
    before = counts(ch)
    second = serve_in_thread(settings, start_hooks=[])
    try:
        assert second.runtime.ctx.parts["span_dedup"].stats.seeded >= 40

        resent = send(second.url, seed=106)
    finally:
        second.stop()

    assert resent.status_code == 200
    assert counts(ch) == before


# ------------------------------------------------------------------ the writer front, on its own


class HeldWriter:
    """A SpanWriter stand-in whose commits the test completes by hand."""

    def __init__(self) -> None:
        self.submitted: list[tuple[pa.Table, Future[int]]] = []

    def submit(self, table: pa.Table) -> Future[int]:
        future: Future[int] = Future()
        self.submitted.append((table, future))
        return future


def table(seed: int, n: int = 5) -> pa.Table:
    return spans_to_arrow(decode_protobuf(build_request(n, seed, time.time_ns()).SerializeToString())).table


def test_retry_while_the_first_attempt_is_still_being_stored_is_told_to_come_back() -> None:
    held = HeldWriter()
    front = DeduplicatingWriter(held, capacity=1000)  # type: ignore[arg-type]
    pending = front.submit(table(1))

    with pytest.raises(Overloaded) as busy:
        front.submit(table(1))

    assert busy.value.retry_after_s == 1.0
    held.submitted[0][1].set_result(5)
    assert pending.result() == 5
    retried = front.submit(table(1))
    assert retried.result() == 5
    assert len(held.submitted) == 1  # nothing left to write


def test_spans_of_a_failed_write_are_stored_by_the_retry() -> None:
    held = HeldWriter()
    front = DeduplicatingWriter(held, capacity=1000)  # type: ignore[arg-type]
    failed = front.submit(table(2))
    held.submitted[0][1].set_exception(WriteFailed("database unreachable"))

    with pytest.raises(WriteFailed):
        failed.result()
    front.submit(table(2))

    assert held.submitted[1][0].num_rows == 5


def test_memory_keeps_at_most_its_capacity_and_the_newest_spans() -> None:
    recent = RecentSpans(capacity=100)

    recent.add(list(range(1000)))

    assert len(recent) <= 100
    assert 999 in recent and 0 not in recent


def test_seeding_remembers_recent_spans_only(dsn: str, ch) -> None:  # noqa: ANN001
    from collectors.clickhouse_writer import SpanWriter
    from collectors.db import connect

    old = spans_to_arrow(decode_protobuf(build_request(5, 201, 1_000_000_000).SerializeToString())).table
    new = table(202)
    writer = SpanWriter(lambda: connect(dsn))
    try:
        writer.write(old, timeout=30)
        writer.write(new, timeout=30)
    finally:
        writer.close()
    held = HeldWriter()
    front = DeduplicatingWriter(held, capacity=1000)  # type: ignore[arg-type]

    front.seed(ch, datetime.now(UTC) - timedelta(hours=1))
    front.submit(old)
    front.submit(new)

    assert [t.num_rows for t, _ in held.submitted] == [5]  # spans from 1970 are not recalled; new ones are
