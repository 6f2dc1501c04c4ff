"""How rows travel to ClickHouse: a few writer threads batching Arrow tables across concurrent requests.

Callers hand a table to :meth:`SpanWriter.submit` and wait on the returned future: it resolves only after the
rows are committed (an ``INSERT`` that returned), so a 200 from the receiver means the spans are stored.
While one insert runs, later submissions pile up and go into the next insert together: under load, batches
grow by themselves and the per-insert overhead is shared. Receivers announce the requests they are still
decoding (:meth:`SpanWriter.incoming`), and an insert may wait up to `max_linger_s` for those. `touchpoint
serve` waits up to 50 ms (its `insert_linger_ms`): with requests mapped in worker processes
(collectors.mapping_workers) four clients' requests then go into one insert of 8,192 rows, which costs
less than two of 4,096, and the rate rose from 78,000-93,000 to 107,000-111,000 spans/s (bench/ingest.py,
2026-11-24, interleaved). Without those workers it does not help: requests mapped in the receiving process
wait for each other's mapping, and clients that split into two groups, one mapping while the other's rows
are inserted, keep both cores busier. The default here is no linger.

Where the database's rollup is fed by its writers (the embedded engine, see collectors.rollup_feed), every
committed table is also handed to a :class:`~collectors.rollup_feed.RollupFeed`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import OperationalError

from collectors.errors import Overloaded, WriteFailed
from collectors.landing import Landing, LandingStats
from collectors.rollup_feed import FeedStats, RollupFeed, has_feed
from collectors.schema import SPAN_INSERT_SETTINGS, TRACES_TABLE

log = logging.getLogger(__name__)


def span_insert_settings(embedded: bool) -> dict[str, Any]:
    """The settings a SpanWriter inserts spans with.

    On the embedded engine an insert runs on its calling thread alone (`max_threads` 1): the engine shares the
    process's cores with the threads that decode and map requests, and an insert's extra pipeline threads took
    their CPU from the thread holding the interpreter lock (bench/ingest.py, six interleaved pairs, each won:
    79,700 against 74,000 spans/s on average). With the mapping done in worker processes since, two threads
    were still no better (two 30 s pairs: 110,587 and 104,205 against 115,541 and 105,136 spans/s). A ClickHouse
    server's threads run on its own cores.
    """
    return {**SPAN_INSERT_SETTINGS, "max_threads": 1} if embedded else dict(SPAN_INSERT_SETTINGS)


@dataclass(frozen=True)
class WriterLimits:
    """How big an insert may grow, how long a lone batch waits for company, and how much may queue."""

    max_batch_rows: int = 200_000
    linger_s: float = 0.005  # for submissions nobody announced
    max_linger_s: float = 0.0  # the longest an insert waits for requests announced by incoming()
    inserters: int = 1  # one insert at a time: requests arriving meanwhile join the next, larger insert
    max_pending_rows: int = 1_000_000
    retry_after_s: float = 1.0
    land_above_rows_per_s: float = 20_000.0  # with a Landing: land batches while the last second wrote this many


@dataclass
class WriterStats:
    """Counters for /api/v1/health and the benchmarks."""

    rows_written: int = 0
    inserts: int = 0
    failed_inserts: int = 0
    rejected_overload: int = 0
    pending_rows: int = 0
    last_insert_s: float = 0.0
    insert_s: float = 0.0  # total time spent in inserts that succeeded


class SpanWriter:
    """Commits otel_traces rows from many threads through a few insert loops, each with its own client."""

    def __init__(
        self,
        client_factory: Callable[[], Client],
        table: str = TRACES_TABLE,
        limits: WriterLimits | None = None,
        feed_rollup: bool | None = None,
        insert_settings: Mapping[str, Any] | None = None,
        landing: Landing | None = None,
    ) -> None:
        """`feed_rollup`: hand committed rows to a RollupFeed; None asks the database (on the first insert).
        `insert_settings`: see span_insert_settings (by default those of a ClickHouse server).
        `landing`: while the writer commits more than `limits.land_above_rows_per_s`, its batches go into these
        landing tables, which move them into `table` in larger inserts (collectors.landing); the writer starts
        the landing's mover and closes it."""
        self._client_factory = client_factory
        self._insert_settings = dict(insert_settings if insert_settings is not None else SPAN_INSERT_SETTINGS)
        self._feed_rollup = feed_rollup
        self._feed: RollupFeed | None = None
        self._listeners: list[Callable[[pa.Table], None]] = []
        self._table = table
        self.limits = limits or WriterLimits()
        self.stats = WriterStats()
        self._queue: deque[tuple[pa.Table, Future[int]]] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._busy = 0
        self._incoming = 0
        self._landing = landing
        self._recent: deque[tuple[float, int]] = deque()  # (when, rows) of the inserts of the last second
        if landing is not None:
            landing.start()
        self._threads = [
            threading.Thread(target=self._run, name=f"span-writer-{i}", daemon=True)
            for i in range(max(1, self.limits.inserters))
        ]
        for thread in self._threads:
            thread.start()

    def on_commit(self, listener: Callable[[pa.Table], None]) -> None:
        """Call `listener(table)` with every committed table, on the insert thread, once it is committed and
        before its callers hear so. A listener must be quick and must not raise."""
        self._listeners.append(listener)

    @property
    def insert_settings(self) -> dict[str, Any]:
        """The settings every insert of this writer carries (a copy)."""
        return dict(self._insert_settings)

    def submit(self, table: pa.Table) -> Future[int]:
        """Queue rows for the next insert; the future gives the row count once committed.

        Raises Overloaded when the queue already holds `max_pending_rows`; nothing is queued then.
        """
        future: Future[int] = Future()
        if table.num_rows == 0:
            future.set_result(0)
            return future
        with self._cond:
            if self._closing:
                raise WriteFailed("the writer is shutting down; retry against the restarted server")
            if self.stats.pending_rows + table.num_rows > self.limits.max_pending_rows and self.stats.pending_rows:
                self.stats.rejected_overload += 1
                raise Overloaded(
                    f"write queue full ({self.stats.pending_rows} spans waiting); retry later",
                    self.limits.retry_after_s,
                )
            self._queue.append((table, future))
            self.stats.pending_rows += table.num_rows
            self._cond.notify()
        return future

    @contextmanager
    def incoming(self) -> Iterator[None]:
        """Announce a request that will submit rows when the block ends: inserts wait for it (a little)."""
        with self._cond:
            self._incoming += 1
        try:
            yield
        finally:
            with self._cond:
                self._incoming -= 1
                self._cond.notify_all()

    def write(self, table: pa.Table, timeout: float | None = None) -> int:
        """Submit and wait for the commit."""
        return self.submit(table).result(timeout)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything submitted so far is committed (or failed) and fed to the rollup; False on
        timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        if self._landing is not None and not self._landing.flush(max(0.0, deadline - time.monotonic())):
            return False
        return self._feed is None or self._feed.flush(max(0.0, deadline - time.monotonic()))

    @property
    def landing_stats(self) -> LandingStats | None:
        """The landing tables' counters, when this writer lands batches."""
        return None if self._landing is None else self._landing.stats

    @property
    def feed_stats(self) -> FeedStats | None:
        """The rollup feed's counters, when this writer feeds the rollup."""
        return None if self._feed is None else self._feed.stats

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is queued, feed it to the rollup, then stop."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._landing is not None:
            self._landing.close(max(0.0, deadline - time.monotonic()))
        if self._feed is not None:
            self._feed.close(max(0.0, deadline - time.monotonic()))

    def _start_feed(self, client: Client) -> None:
        """Decide once, on the first client, whether committed rows go to a rollup feed."""
        if self._feed_rollup is False or self._feed is not None:
            return
        with self._cond:
            if self._feed_rollup is None:
                self._feed_rollup = has_feed(client)
            if self._feed_rollup and self._feed is None:
                self._feed = RollupFeed(self._client_factory)
                self._listeners.append(self._feed.add)

    def _take_batch(self) -> list[tuple[pa.Table, Future[int]]]:
        with self._cond:
            while not self._queue and not self._closing:
                self._cond.wait()
            if not self._queue:
                return []
            if not self._closing:
                self._linger()
            batch: list[tuple[pa.Table, Future[int]]] = []
            rows = 0
            while self._queue and (not batch or rows + self._queue[0][0].num_rows <= self.limits.max_batch_rows):
                table, future = self._queue.popleft()
                batch.append((table, future))
                rows += table.num_rows
            self._busy += 1
            return batch

    def _linger(self) -> None:
        """Wait (holding the condition) for announced requests, or briefly for unannounced company."""
        deadline = time.monotonic() + self.limits.max_linger_s
        waited = False
        while not self._closing and sum(t.num_rows for t, _ in self._queue) < self.limits.max_batch_rows:
            remaining = deadline - time.monotonic()
            if self._incoming > 0 and remaining > 0:
                self._cond.wait(remaining)
            elif not waited and self.limits.linger_s > 0:
                self._cond.wait(self.limits.linger_s)
            else:
                return
            waited = True

    def _insert(self, client: Client, table: pa.Table) -> None:
        """Commit `table`: into a landing table while the last second wrote fast, else into otel_traces."""
        landing = None
        if self._landing is not None and self._recent_rows() >= self.limits.land_above_rows_per_s:
            landing = self._landing.begin()
        if landing is None:
            client.insert_arrow(self._table, table, settings=self._insert_settings)
        else:
            landed = 0
            try:
                client.insert_arrow(landing, table, settings=self._insert_settings)
                landed = table.num_rows
            finally:
                self._landing.end(landing, landed)
        with self._cond:
            self._recent.append((time.monotonic(), table.num_rows))

    def _recent_rows(self) -> int:
        """Rows committed in the last second."""
        with self._cond:
            horizon = time.monotonic() - 1.0
            while self._recent and self._recent[0][0] < horizon:
                self._recent.popleft()
            return sum(rows for _, rows in self._recent)

    def _run(self) -> None:
        client: Client | None = None
        while True:
            batch = self._take_batch()
            if not batch:
                return
            rows = sum(t.num_rows for t, _ in batch)
            started = time.perf_counter()
            try:
                if client is None:
                    client = self._client_factory()
                    self._start_feed(client)
                table = batch[0][0] if len(batch) == 1 else pa.concat_tables([t for t, _ in batch])
                self._insert(client, table)
            except Exception as exc:  # noqa: BLE001 - every failure is reported to the waiting callers
                log.error("insert into %s failed", self._table, extra={"rows": rows, "error": str(exc)})
                retryable = isinstance(exc, OperationalError)
                if retryable:
                    client = None  # reconnect next time
                error = WriteFailed(f"ClickHouse refused the insert of {rows} spans: {exc}", retryable=retryable)
                for _, future in batch:
                    future.set_exception(error)
                with self._cond:
                    self.stats.failed_inserts += 1
                    self.stats.pending_rows -= rows
                    self._busy -= 1
                    self._cond.notify_all()
                continue
            elapsed = time.perf_counter() - started
            for listener in self._listeners:
                listener(table)
            for t, future in batch:
                future.set_result(t.num_rows)
            with self._cond:
                self.stats.rows_written += rows
                self.stats.inserts += 1
                self.stats.pending_rows -= rows
                self.stats.last_insert_s = elapsed
                self.stats.insert_s += elapsed
                self._busy -= 1
                self._cond.notify_all()
