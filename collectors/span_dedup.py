"""Dropping spans already stored, so that a client retrying a batch never counts a span twice.

OTLP clients resend a batch whenever they did not get a 200: after a timeout, a 503, or a server that died
between committing the insert and answering. Every figure Touchpoint shows (raw spans, the per-minute rollup
its materialized view fills, alert statistics) counts rows, so a resent span must not become a second row.

:class:`DeduplicatingWriter` sits between the receiver and the
:class:`~collectors.clickhouse_writer.SpanWriter`: it remembers the (TraceId, SpanId) of the spans it
committed — at least the last `capacity / 2` of them, in memory — and drops those it sees again. Spans of a
request still being committed are "in flight": a retry that overlaps them is answered 503 + Retry-After,
never stored twice. At start the memory is seeded from the spans stored with recent timestamps, which
covers batches committed just before a crash and resent after the restart.

Limits (documented in docs/security.md): the memory is per process (gunicorn workers on a ClickHouse server
each keep their own), bounded (spans stored more than `capacity / 2` spans ago may not be recognised), and
spans written straight into ClickHouse by a collector's exporter do not pass here.
"""

from __future__ import annotations

import logging
import operator
import threading
from collections.abc import Iterable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
from clickhouse_connect.driver.client import Client

from collectors.clickhouse_writer import SpanWriter
from collectors.errors import Overloaded
from collectors.schema import TRACES_TABLE

log = logging.getLogger(__name__)


def span_keys(trace_ids: Iterable[str], span_ids: Iterable[str]) -> list[int]:
    """Each span's identity as a 64-bit number: Python's keyed hash of its hex TraceId and SpanId joined (a new
    key per process, so nobody can forge a span that collides with another's)."""
    return list(map(hash, map(operator.add, trace_ids, span_ids)))


class RecentSpans:
    """Keys of recently stored spans in two generations: a lookup is two set probes; at least the last
    `capacity / 2` keys are remembered and never more than `capacity` (about 65 bytes each)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._current: set[int] = set()
        self._previous: set[int] = set()

    def __contains__(self, key: int) -> bool:
        return key in self._current or key in self._previous

    def isdisjoint(self, keys: set[int]) -> bool:
        """True when none of `keys` is remembered (two set operations, not a probe per key)."""
        return self._current.isdisjoint(keys) and self._previous.isdisjoint(keys)

    def __len__(self) -> int:
        return len(self._current) + len(self._previous)

    def add(self, keys: list[int]) -> None:
        """Remember `keys`; once the newer generation holds half the capacity, the older one is forgotten."""
        half = max(1, self.capacity // 2)
        start = 0
        while start < len(keys):
            room = half - len(self._current)
            self._current.update(keys[start : start + room])
            start += room
            if len(self._current) >= half:
                self._previous, self._current = self._current, set()


@dataclass
class DedupStats:
    """Counters for health and tests."""

    spans_dropped: int = 0  # already stored: not written again
    retries_refused: int = 0  # requests answered 503 because their spans were still being stored
    seeded: int = 0  # span keys loaded at start


class DeduplicatingWriter:
    """A SpanWriter front that writes only spans not already stored (or being stored)."""

    def __init__(self, writer: SpanWriter, capacity: int) -> None:
        self.writer = writer
        self.recent = RecentSpans(capacity)
        self.stats = DedupStats()
        self._in_flight: set[int] = set()  # keys of spans claimed by writes not yet settled
        self._lock = threading.Lock()

    def seed(self, client: Client, since: datetime, table: str = TRACES_TABLE) -> int:
        """Remember the spans stored with a Timestamp at or after `since` (the newest `capacity` of them)."""
        if self.recent.capacity <= 0:
            return 0
        result = client.query_arrow(
            f"SELECT TraceId, SpanId FROM {table} WHERE Timestamp >= {{since:DateTime64(9)}} "
            "ORDER BY Timestamp DESC LIMIT {n:UInt64}",
            parameters={"since": since, "n": self.recent.capacity},
        )
        # oldest first, so that the newest are the ones kept when there are more than the memory holds
        keys = span_keys(reversed(result.column("TraceId").to_pylist()), reversed(result.column("SpanId").to_pylist()))
        with self._lock:
            self.recent.add(keys)
        self.stats.seeded = len(keys)
        log.info("remembered stored span ids to drop retried spans", extra={"spans": len(keys)})
        return len(keys)

    def incoming(self) -> AbstractContextManager[None]:
        """Announce a request about to submit (see SpanWriter.incoming)."""
        return self.writer.incoming()

    def write(self, table: pa.Table, timeout: float | None = None) -> int:
        """Commit the rows of `table` not already stored; returns the number of rows of `table` now stored.

        Raises Overloaded (503 + Retry-After) when some of its spans are being stored by an earlier request
        that has not finished: the client's next retry finds them stored, or stores them if that one failed.
        """
        return self.submit(table).result(timeout)

    def submit(self, table: pa.Table) -> Future[int]:
        """Queue the new rows of `table`; the future gives `table`'s row count once they are committed."""
        if self.recent.capacity <= 0 or table.num_rows == 0:
            return self.writer.submit(table)
        trace_ids, span_ids = table.column("TraceId").to_pylist(), table.column("SpanId").to_pylist()
        keys = span_keys(trace_ids, span_ids)
        fresh = self._claim(keys)
        if not fresh:
            stored: Future[int] = Future()
            stored.set_result(table.num_rows)  # every span is stored already
            return stored
        rows = table if len(fresh) == len(keys) else table.take(pa.array(fresh, pa.int64()))
        claimed = [keys[i] for i in fresh]
        try:
            inner = self.writer.submit(rows)
        except BaseException:
            self._settle(claimed, stored=False)
            raise
        outer: Future[int] = Future()

        def done(future: Future[int]) -> None:
            error = future.exception()
            self._settle(claimed, stored=error is None)
            if error is None:
                outer.set_result(table.num_rows)
            else:
                outer.set_exception(error)

        inner.add_done_callback(done)
        return outer

    def _claim(self, keys: list[int]) -> list[int]:
        """Indexes of the rows to write; marks their keys in flight. Raises Overloaded on overlap."""
        distinct = set(keys)
        with self._lock:
            if not self._in_flight.isdisjoint(distinct):
                self.stats.retries_refused += 1
                raise Overloaded(
                    "spans of this request are still being stored by an earlier request; retry shortly", 1.0
                )
            if len(distinct) == len(keys) and self.recent.isdisjoint(distinct):
                fresh = list(range(len(keys)))  # the usual request: every span new, none twice
            else:
                fresh, batch = [], set()
                for index, key in enumerate(keys):
                    if key in self.recent or key in batch:
                        continue
                    batch.add(key)
                    fresh.append(index)
                distinct = batch
            self._in_flight |= distinct
            self.stats.spans_dropped += len(keys) - len(fresh)
        return fresh

    def _settle(self, keys: list[int], stored: bool) -> None:
        with self._lock:
            self._in_flight.difference_update(keys)
            if stored:
                self.recent.add(keys)


def install_span_dedup(
    receiver: Any, writer: SpanWriter, client: Client, capacity: int, now: datetime, seed_hours: float
) -> DeduplicatingWriter | None:
    """Put a DeduplicatingWriter between `receiver` and `writer`, seeded from the last `seed_hours`."""
    if capacity <= 0:
        return None
    front = DeduplicatingWriter(writer, capacity)
    if seed_hours > 0:
        try:
            front.seed(client, now - timedelta(hours=seed_hours))
        except Exception as exc:  # noqa: BLE001 - a server without the memory still stores every span once
            log.warning(
                "could not load recent span ids; retried spans stored before this start may count twice",
                extra={"error": str(exc)},
            )
    receiver.writer = front
    return front
