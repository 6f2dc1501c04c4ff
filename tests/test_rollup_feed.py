"""On the embedded engine the writer feeds the per-minute rollup itself, a second at a time, instead of a view
on otel_traces: every acknowledged span is counted by the minute and hourly rollups, a restart refolds the
spans a crash left unfolded, and attribute keys added later are kept from the feed as well."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from app.server import serve_in_thread
from app.settings import Settings
from bench.otlp_payloads import build_request
from blueprints.rollup_repair import repair_rollup
from blueprints.rollups import HOURLY_TABLE, ROLLUP_TABLE, ROLLUP_VIEW, ensure_rollup_keys
from collectors.db import connect
from collectors.otlp_mapping import decode_protobuf, spans_to_arrow
from collectors.rollup_feed import FEED_TABLE, RollupFeed
from collectors.schema import TRACES_TABLE

PROTOBUF = {"Content-Type": "application/x-protobuf"}
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def fresh_dsn(engine_path: Path) -> str:
    """A database nobody migrated yet: the server migrates it as `touchpoint serve` would."""
    name = "t_rollup_feed_served"
    url = f"chdb://{engine_path}?database={name}"
    client = connect(url)
    client.command(f"DROP DATABASE IF EXISTS {name}")
    client.close()
    return url


@pytest.fixture(scope="module")
def fed(fresh_dsn: str) -> Iterator:  # noqa: ANN201 - (client, settings)
    settings = Settings(db=fresh_dsn, port=0, evaluate_alerts=False, blueprints=ROOT / "blueprints" / "maps")
    client = connect(fresh_dsn)
    yield client, settings
    client.close()


def spans(seed: int, n: int, hours_ago: float = 0.0) -> bytes:
    start = time.time_ns() - int((hours_ago * 3600 + 120) * 1e9)
    return build_request(n, seed=seed, start_ns=start, spread_ns=60_000_000_000).SerializeToString()


def totals(client) -> tuple[int, int, int]:  # noqa: ANN001
    """(spans stored, spans the minute rollup counted, spans the hourly rollup counted)."""
    return tuple(  # type: ignore[return-value]
        int(client.query(sql).result_rows[0][0] or 0)
        for sql in (
            f"SELECT count() FROM {TRACES_TABLE}",
            f"SELECT sum(Spans) FROM {ROLLUP_TABLE}",
            f"SELECT sum(Spans) FROM {HOURLY_TABLE}",
        )
    )


def wait_for_rollup(client, expected: int, timeout: float = 10.0) -> tuple[int, int, int]:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while True:
        seen = totals(client)
        if min(seen[1:]) >= expected or time.monotonic() > deadline:  # the hourly view commits last
            return seen
        time.sleep(0.1)


def test_spans_acknowledged_by_the_embedded_server_are_counted_by_both_rollups(fed) -> None:  # noqa: ANN001
    client, settings = fed
    running = serve_in_thread(settings, start_hooks=[])
    try:
        for seed in range(3):
            reply = requests.post(running.url + "/v1/traces", data=spans(seed, 300), headers=PROTOBUF, timeout=30)
            assert reply.status_code == 200
        seen = wait_for_rollup(client, 900)
        feed = requests.get(running.url + "/api/v1/health", timeout=30).json()["ingest"]["rollup_feed"]
    finally:
        running.stop()

    assert seen == (900, 900, 900)
    assert feed["rows_fed"] == 900 and feed["rows_lost"] == 0
    views = dict(
        client.query("SELECT name, as_select FROM system.tables WHERE database = currentDatabase() AND "
                     "engine = 'MaterializedView'").result_rows
    )
    assert f".{FEED_TABLE} " in views[ROLLUP_VIEW] + " "
    assert not any(f".{TRACES_TABLE} " in text + " " for text in views.values())


def test_a_restart_folds_the_spans_a_crash_left_out_of_the_rollup(fed) -> None:  # noqa: ANN001
    client, settings = fed
    before = totals(client)
    # Stored but never fed, as when the process dies between the commit and the next feed: one batch now and
    # one of three hours ago (its own hour), beside spans that were fed.
    for seed, hours_ago in ((10, 0.0), (11, 3.0)):
        client.insert_arrow(TRACES_TABLE, spans_to_arrow(decode_protobuf(spans(seed, 200, hours_ago))).table)
    assert totals(client) == (before[0] + 400, before[1], before[2])

    serve_in_thread(settings, start_hooks=[]).stop()

    assert totals(client) == (before[0] + 400,) * 3
    by_hour = client.query(
        f"SELECT h, sum(s) FROM (SELECT toStartOfHour(Minute) AS h, toInt64(Spans) AS s FROM {ROLLUP_TABLE} "
        f"UNION ALL SELECT Hour, -toInt64(Spans) FROM {HOURLY_TABLE}) GROUP BY h HAVING sum(s) != 0"
    ).result_rows
    assert by_hour == []  # every hour holds exactly its minutes
    assert repair_rollup(client) == []  # nothing left to fold


def test_an_attribute_key_added_later_is_kept_from_the_feed(fed) -> None:  # noqa: ANN001
    client, settings = fed
    running = serve_in_thread(settings, start_hooks=[])
    try:
        added = ensure_rollup_keys(client, ["http.route"], datetime.now(UTC))
        reply = requests.post(running.url + "/v1/traces", data=spans(20, 100), headers=PROTOBUF, timeout=30)
        assert reply.status_code == 200
        assert running.runtime.ctx.writer.flush()
    finally:
        running.stop()

    assert added == {"http.route"}
    kept = client.query(
        f"SELECT sum(Spans) FROM {ROLLUP_TABLE} WHERE Attributes['http.route'] != ''"
    ).result_rows[0][0]
    assert kept == 100


def test_a_feed_that_fails_keeps_its_rows_until_the_feed_table_is_back(fresh_dsn: str, fed) -> None:  # noqa: ANN001
    client, _ = fed
    rows = spans_to_arrow(decode_protobuf(spans(30, 50))).table
    before = totals(client)[1]
    client.command(f"RENAME TABLE {FEED_TABLE} TO {FEED_TABLE}_away")
    feed = RollupFeed(lambda: connect(fresh_dsn), interval_s=0.05)
    try:
        feed.add(rows)
        assert feed.flush(timeout=5) is False
        assert feed.stats.failed_inserts >= 1 and feed.stats.pending_rows == 50
        client.command(f"RENAME TABLE {FEED_TABLE}_away TO {FEED_TABLE}")
        assert feed.flush(timeout=10) is True
    finally:
        feed.close()

    assert feed.stats.rows_fed == 50 and feed.stats.rows_lost == 0
    assert totals(client)[1] == before + 50
