"""While ingest runs fast the writer commits spans into landing tables, which a mover empties into otel_traces in
large inserts: every span committed there reaches otel_traces exactly once, also after a move cut off half-way,
and a writer that is not busy, or whose landing is full, inserts into otel_traces as before."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pyarrow as pa
import pytest

from bench.otlp_payloads import build_request
from collectors.clickhouse_writer import SpanWriter, WriterLimits
from collectors.db import connect
from collectors.landing import LANDING_TABLES, Landing, has_landing, landing_ddl, migration_statements
from collectors.otlp_mapping import decode_protobuf, spans_to_arrow
from collectors.schema import TRACES_TABLE, SchemaOptions

ALWAYS = WriterLimits(land_above_rows_per_s=0)  # lands every batch, however slow the writer runs
NEVER = WriterLimits(land_above_rows_per_s=1e12)


def spans(seed: int, n: int = 300) -> pa.Table:
    request = build_request(n, seed=seed, start_ns=time.time_ns() - 60_000_000_000)
    return spans_to_arrow(decode_protobuf(request.SerializeToString())).table


def count(ch, table: str = TRACES_TABLE) -> int:  # noqa: ANN001
    return int(ch.query(f"SELECT count() FROM {table}").result_rows[0][0])


def distinct_spans(ch) -> int:  # noqa: ANN001
    return int(ch.query(f"SELECT uniqExact(TraceId, SpanId) FROM {TRACES_TABLE}").result_rows[0][0])


@pytest.fixture
def empty(ch) -> Iterator:  # noqa: ANN001
    """otel_traces and both landing tables empty, before and after the test."""

    def truncate() -> None:
        for name in LANDING_TABLES:
            ch.command(landing_ddl(name))
        for name in (TRACES_TABLE, *LANDING_TABLES):
            ch.command(f"TRUNCATE TABLE {name}")

    truncate()
    yield ch
    truncate()


def writer_with(dsn: str, limits: WriterLimits, **landing: object) -> tuple[SpanWriter, Landing]:
    lands = Landing(lambda: connect(dsn), **landing)  # type: ignore[arg-type]
    return SpanWriter(lambda: connect(dsn), limits=limits, feed_rollup=False, landing=lands), lands


def test_landed_spans_reach_otel_traces_when_moved_and_not_before(dsn: str, empty) -> None:  # noqa: ANN001
    writer, landing = writer_with(dsn, ALWAYS, interval_s=60)
    try:
        writer.write(spans(1))
        writer.write(spans(2))
        assert count(empty) == 0
        assert landing.stats.landed_rows == landing.stats.waiting_rows == 600

        assert writer.flush(30)
        assert count(empty) == distinct_spans(empty) == 600
        assert landing.stats.waiting_rows == 0
        assert [count(empty, name) for name in LANDING_TABLES] == [0, 0]
    finally:
        writer.close()


def test_the_mover_moves_landed_spans_on_its_own(dsn: str, empty) -> None:  # noqa: ANN001
    writer, landing = writer_with(dsn, ALWAYS, interval_s=0.2)

    def moved(rows: int) -> None:
        deadline = time.monotonic() + 20
        while landing.stats.moved_rows < rows and time.monotonic() < deadline:
            time.sleep(0.05)

    try:
        writer.write(spans(3))
        moved(300)
        assert count(empty) == 300
        writer.write(spans(4))  # into the other table, which the first move left empty
        moved(600)
        assert count(empty) == distinct_spans(empty) == 600
        assert landing.stats.moves == 2
    finally:
        writer.close()


def test_closing_the_writer_moves_what_landed(dsn: str, empty) -> None:  # noqa: ANN001
    writer, _ = writer_with(dsn, ALWAYS, interval_s=60)
    writer.write(spans(5))
    writer.close()
    assert count(empty) == 300


def test_a_writer_below_the_rate_inserts_into_otel_traces_at_once(dsn: str, empty) -> None:  # noqa: ANN001
    writer, landing = writer_with(dsn, NEVER, interval_s=60)
    try:
        writer.write(spans(6))
        assert count(empty) == 300
        assert landing.stats.landed_rows == 0
    finally:
        writer.close()


def test_a_full_landing_sends_batches_straight_to_otel_traces(dsn: str, empty) -> None:  # noqa: ANN001
    writer, landing = writer_with(dsn, ALWAYS, interval_s=60, max_rows=300)
    try:
        writer.write(spans(7))  # lands, and fills the landing
        writer.write(spans(8))  # straight in
        assert count(empty) == 300
        assert landing.stats.waiting_rows == 300
        assert writer.flush(30)
        assert count(empty) == distinct_spans(empty) == 600
    finally:
        writer.close()


def test_a_move_cut_off_before_its_truncate_stores_no_span_twice(ch, empty) -> None:  # noqa: ANN001
    landed = spans(9)
    ch.insert_arrow(LANDING_TABLES[0], landed)
    ch.insert_arrow(LANDING_TABLES[1], spans(10))
    ch.insert_arrow(TRACES_TABLE, landed.slice(0, 120))  # the first move committed part of its rows, then died

    moved = Landing(lambda: ch).recover(ch)

    assert moved == 600
    assert count(ch) == distinct_spans(ch) == 600
    assert [count(ch, name) for name in LANDING_TABLES] == [0, 0]


def test_landing_tables_are_migrated_on_the_embedded_engine_only() -> None:
    embedded = migration_statements(SchemaOptions(rollup_feed=True))
    assert [statement.split(" (")[0] for statement in embedded] == [
        f"CREATE TABLE IF NOT EXISTS {name}" for name in LANDING_TABLES
    ]
    assert migration_statements(SchemaOptions()) == []  # a server: every writer inserts straight
    assert migration_statements(SchemaOptions(rollup_feed=True, cluster_name="c")) == []


def test_has_landing_needs_both_landing_tables(ch) -> None:  # noqa: ANN001
    for name in LANDING_TABLES:
        ch.command(f"DROP TABLE IF EXISTS {name}")
    assert not has_landing(ch)  # a database migrated for a ClickHouse server
    ch.command(landing_ddl(LANDING_TABLES[0]))
    assert not has_landing(ch)
    ch.command(landing_ddl(LANDING_TABLES[1]))
    assert has_landing(ch)
