"""How the per-minute rollup is fed on the embedded engine: the rows the writer committed, handed over in one
insert a second, instead of a materialized view doing its work on every insert into `otel_traces`.

A materialized view costs each insert a fixed ~8 ms of analysis and a part of its own (two views: the minute
rollup and the hourly one behind it), whatever the insert's size; receivers insert a few thousand spans at a
time, so on the embedded engine the views took more than half of every insert (bench/ingest.py: 26,000
spans/s with them on `otel_traces`, 39,000-46,000 without). Fed here, the same views run once a second.

`touchpoint_span_feed` is a Null table with the columns the rollup reads: inserting into it stores nothing and
runs the views attached to it. Only the embedded engine uses it (see blueprints.rollups, migration 104): every
span it stores comes through :class:`~collectors.clickhouse_writer.SpanWriter`, whereas a ClickHouse server
may also take spans from a stock collector, which only a view on `otel_traces` would see.

Rows reach the rollup up to `interval_s` after their spans were acknowledged. Rows not yet fed when the
process dies are missing from the rollup (never from `otel_traces`); the server refolds the minutes whose
counts differ at its next start (:func:`blueprints.rollup_repair.repair_rollup`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
from clickhouse_connect.driver.client import Client

from collectors.schema import SPAN_INSERT_SETTINGS, has_tables

log = logging.getLogger(__name__)

FEED_TABLE = "touchpoint_span_feed"
FEED_COLUMNS = ("Timestamp", "ServiceName", "SpanName", "SpanAttributes", "Duration", "StatusCode")


def feed_table_ddl() -> str:
    """CREATE TABLE for the feed: otel_traces' columns that the rollup reads, stored nowhere."""
    return f"""
CREATE TABLE IF NOT EXISTS {FEED_TABLE} (
    Timestamp DateTime64(9),
    ServiceName LowCardinality(String),
    SpanName LowCardinality(String),
    SpanAttributes Map(LowCardinality(String), String),
    Duration UInt64,
    StatusCode LowCardinality(String)
) ENGINE = Null
"""


def has_feed(client: Client) -> bool:
    """True when this database's rollup is fed through the feed table (so writers must feed it)."""
    return has_tables(client, [FEED_TABLE])


@dataclass
class FeedStats:
    """Counters for /api/v1/health."""

    rows_fed: int = 0
    inserts: int = 0
    failed_inserts: int = 0
    rows_lost: int = 0  # dropped after failing to feed (they stay in otel_traces; a restart refolds them)
    pending_rows: int = 0


class RollupFeed:
    """Collects committed span tables and inserts their rollup columns into the feed table from one thread.

    `add` never blocks on ClickHouse. A failed insert is retried with the next one while at most
    `max_pending_rows` wait; beyond that the oldest rows are dropped and counted in `rows_lost`.
    """

    def __init__(
        self,
        client_factory: Callable[[], Client],
        interval_s: float = 1.0,
        max_rows: int = 500_000,
        max_pending_rows: int = 2_000_000,
    ) -> None:
        self._client_factory = client_factory
        self.interval_s = interval_s
        self.max_rows = max_rows
        self.max_pending_rows = max_pending_rows
        self.stats = FeedStats()
        self._tables: list[pa.Table] = []
        self._cond = threading.Condition()
        self._closing = False
        self._busy = False
        self._flush_asked = False
        self._thread = threading.Thread(target=self._run, name="rollup-feed", daemon=True)
        self._thread.start()

    def add(self, table: pa.Table) -> None:
        """Queue committed otel_traces rows (an Arrow table with at least FEED_COLUMNS) for the rollup."""
        if table.num_rows == 0:
            return
        with self._cond:
            self._tables.append(table.select(list(FEED_COLUMNS)))
            self.stats.pending_rows += table.num_rows
            while self.stats.pending_rows > self.max_pending_rows and len(self._tables) > 1:
                dropped = self._tables.pop(0)
                self.stats.pending_rows -= dropped.num_rows
                self.stats.rows_lost += dropped.num_rows
            if self.stats.pending_rows >= self.max_rows:
                self._cond.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        """Feed everything added so far now; False if that did not finish within `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            failures = self.stats.failed_inserts
            self._flush_asked = True
            self._cond.notify_all()
            while self._tables or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.stats.failed_inserts > failures:
                    return False
                self._cond.wait(remaining)
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Feed what is queued, then stop."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _take(self) -> list[pa.Table]:
        with self._cond:
            due = time.monotonic() + self.interval_s
            while not self._closing and not self._flush_asked and self.stats.pending_rows < self.max_rows:
                remaining = due - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            self._flush_asked = False
            tables, self._tables = self._tables, []
            self._busy = bool(tables)
            return tables

    def _run(self) -> None:
        client: Client | None = None
        while True:
            tables = self._take()
            if not tables:
                if self._closing:
                    return
                continue
            rows = sum(t.num_rows for t in tables)
            try:
                if client is None:
                    client = self._client_factory()
                client.insert_arrow(FEED_TABLE, pa.concat_tables(tables), settings=SPAN_INSERT_SETTINGS)
            except Exception as exc:  # noqa: BLE001 - the rows wait for the next insert
                log.error("feeding the span rollup failed", extra={"rows": rows, "error": str(exc)})
                client = None
                with self._cond:
                    self._tables[:0] = tables
                    self.stats.failed_inserts += 1
                    self._busy = False
                    self._cond.notify_all()
                if self._closing:
                    return
                time.sleep(self.interval_s)
                continue
            with self._cond:
                self.stats.rows_fed += rows
                self.stats.inserts += 1
                self.stats.pending_rows -= rows
                self._busy = False
                self._cond.notify_all()
