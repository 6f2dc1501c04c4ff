"""Requests decoded and mapped in worker processes: the same rows and errors as in the receiving process, and
a worker's death costs no request."""

from __future__ import annotations

import base64
import json
import os
import signal
import time

import psutil
import pytest
from google.protobuf import json_format

from bench.otlp_payloads import build_request
from collectors.errors import DecodeError
from collectors.mapping_workers import MappingWorkers
from collectors.otlp_mapping import map_body

_MAPS = ("ResourceAttributes", "SpanAttributes")


def _same_rows(a, b) -> bool:  # noqa: ANN001 - two Arrow tables
    """Equal tables, the attribute maps compared as maps (their key order follows a per-process hash)."""
    return a.drop_columns(list(_MAPS)).equals(b.drop_columns(list(_MAPS))) and all(
        [dict(m) for m in a[name].to_pylist()] == [dict(m) for m in b[name].to_pylist()] for name in _MAPS
    )


@pytest.fixture(scope="module")
def workers():  # noqa: ANN201 - a MappingWorkers
    pool = MappingWorkers(2)
    assert pool.wait_ready(60), "the mapping workers did not start within a minute"
    yield pool
    pool.close()


def _body_with_one_bad_span() -> bytes:
    request = build_request(300, seed=7, start_ns=1_700_000_000_000_000_000)
    request.resource_spans[0].scope_spans[0].spans[0].span_id = b"\x01\x02"
    return request.SerializeToString()


def test_a_worker_maps_a_body_to_the_rows_and_refusals_of_the_receiving_process(workers) -> None:
    body = _body_with_one_bad_span()
    before = workers.stats.in_workers

    mapped = workers.map_body(body, as_json=False)

    here = map_body(body, as_json=False)
    assert workers.stats.in_workers == before + 1
    assert _same_rows(mapped.table, here.table)
    assert mapped.table.num_rows == 299
    assert (mapped.rejected, mapped.rejections) == (1, here.rejections)
    assert "span_id must be 8 bytes" in mapped.rejection_message()


def test_a_json_body_is_mapped_by_a_worker_like_protobuf(workers) -> None:
    request = build_request(50, seed=8, start_ns=1_700_000_000_000_000_000)
    document = json_format.MessageToDict(request)
    for rs in document["resourceSpans"]:  # OTLP JSON carries ids as hex, not protobuf's base64
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    body = json.dumps(document).encode()

    assert _same_rows(workers.map_body(body, as_json=True).table, map_body(request.SerializeToString(), False).table)


def test_an_undecodable_body_raises_the_receivers_decode_error_from_a_worker(workers) -> None:
    with pytest.raises(DecodeError, match="not a valid OTLP ExportTraceServiceRequest protobuf"):
        workers.map_body(b"\xff\xff\xff not protobuf", as_json=False)
    # the worker that refused it still serves
    assert workers.map_body(build_request(10, seed=9, start_ns=1).SerializeToString(), False).table.num_rows == 10


def test_a_killed_worker_costs_no_request_and_is_replaced() -> None:
    pool = MappingWorkers(1)
    try:
        assert pool.wait_ready(60)
        (pid,) = pool.pids
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        body = build_request(100, seed=10, start_ns=1_700_000_000_000_000_000).SerializeToString()

        mapped = pool.map_body(body, as_json=False)

        assert _same_rows(mapped.table, map_body(body, as_json=False).table)
        assert (pool.stats.restarts, pool.stats.in_process) == (1, 1)
        assert pool.wait_ready(60), "no worker took the dead one's place"
        assert pool.pids and pool.pids != [pid]
        before = pool.stats.in_workers
        assert pool.map_body(body, as_json=False).table.num_rows == 100
        assert pool.stats.in_workers == before + 1
    finally:
        pool.close()


def test_a_closed_pool_stops_its_workers_and_maps_in_the_calling_process() -> None:
    pool = MappingWorkers(2)
    assert pool.wait_ready(60)
    pids = pool.pids
    pool.close()

    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    body = build_request(20, seed=11, start_ns=1_700_000_000_000_000_000).SerializeToString()
    assert pool.map_body(body, as_json=False).table.num_rows == 20
    assert pool.stats.in_process == 1
