"""Journey walks kept ahead of requests: the live state reads the journeys already walked instead of walking
them again.

Most of a live state's cost is walking journeys: binding spans to steps, grouping them by journey, ordering
and judging each one. A dashboard asks for overlapping windows again and again, and most journeys in them
ended a while ago. :class:`WalkStore` walks the journeys of a recent period once per pass (one generation,
blueprints.walk_store_sql) and a request then walks only the journeys the store cannot answer for: those
crossing its window's edges and those still going on at the store's watermark.

The store is right only while the spans it walked are all there are. Before each walk it counts the spans
per second that steps could bind; a request counts them again over its window and walks everything live if
any second gained a span since (a span arriving late), until the next pass walks it.

One process keeps a store (the serving process); it lives in that process's memory and in
`touchpoint_journey_walks`, whose generations it drops as it replaces them. :class:`Walker` refreshes a
store for every blueprint on a timer.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from blueprints.journey_graph import journey_graph
from blueprints.selectors import TRACE_COLUMNS, SpanColumns
from blueprints.state_sql import Scan, SqlQuery, unkeyed_query
from blueprints.trace_columns import trace_columns
from blueprints.walk_store_sql import (
    WALKS_DDL,
    WALKS_TABLE,
    counted_query,
    store_walk_query,
    walk_fingerprint_text,
)
from collectors.schema import Migration, SchemaOptions, register_migration

log = logging.getLogger(__name__)

MIGRATION_VERSION = 105


def _migration_statements(options: SchemaOptions) -> list[str]:
    # a cluster's serving processes walk live (one store per process would be one per replica)
    return [] if options.cluster_name else [WALKS_DDL]


register_migration(Migration(MIGRATION_VERSION, "journey walks kept ahead of requests", _migration_statements))


@dataclass
class WalkStats:
    """Counters for /api/v1/health and the bench."""

    passes: int = 0  # generations published
    answered: int = 0  # requests that read journeys from the store
    stale: int = 0  # requests that found a span arrived after the walk counted its second, and walked live


@dataclass(frozen=True)
class StoredWalk:
    """One generation of a blueprint's stored walk: journeys of spans started in [start, watermark)."""

    walk: int  # fingerprint of what the walk depends on (blueprint_walk_key)
    generation: int
    start: datetime
    watermark: datetime
    counts: dict[int, int]  # spans a step could bind, per Unix second, counted before the walk

    def covers(self, start: datetime, end: datetime) -> bool:
        """True when a window [start, end) can take journeys from this walk."""
        return self.start <= start < self.watermark and end > start

    def counted(self, start: datetime, end: datetime) -> int:
        """The spans counted before the walk in the whole seconds around [start, min(end, watermark))."""
        first, last = checked_seconds(start, min(end, self.watermark))
        return sum(n for second, n in self.counts.items() if first <= second < last)


def checked_seconds(start: datetime, end: datetime) -> tuple[int, int]:
    """The whole Unix seconds [first, last) around [start, end)."""
    return math.floor(start.timestamp()), math.ceil(end.timestamp())


def blueprint_walk_key(blueprint: Any, columns: SpanColumns = TRACE_COLUMNS) -> int | None:
    """A 63-bit fingerprint of how `blueprint` walks journeys, or None when its walks cannot be stored (more
    than 64 steps)."""
    graph = journey_graph(blueprint)
    if len(graph.steps) > 64:
        return None
    text = walk_fingerprint_text(blueprint, graph, columns)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 1


class WalkStore:
    """Walks journeys ahead of requests; thread-safe.

    `refresh` walks one blueprint's journeys of spans started in the last `horizon_s` before a watermark
    `settle_s` behind now, and publishes them as a new generation; `find` gives the newest generation of a
    walk. A request uses it through blueprints.state.compute_state(…, walks=store).
    """

    def __init__(self, horizon_s: float = 1200.0, settle_s: float = 120.0, max_spans: int = 4_000_000) -> None:
        if horizon_s <= 0 or settle_s < 0 or max_spans < 1:
            raise ValueError(
                f"WalkStore: horizon_s must be > 0, settle_s >= 0 and max_spans >= 1, "
                f"got {horizon_s}, {settle_s}, {max_spans}"
            )
        self.horizon_s = horizon_s
        self.settle_s = settle_s
        self.max_spans = max_spans
        self._lock = threading.Lock()
        self._published: dict[int, StoredWalk] = {}
        self._generations: dict[int, list[int]] = {}
        self.stats = WalkStats()

    def find(self, walk: int | None) -> StoredWalk | None:
        """The newest published generation of `walk`, if any."""
        if walk is None:
            return None
        with self._lock:
            return self._published.get(walk)

    def clear(self, client: Any) -> None:
        """Forget every stored walk, this store's and those an earlier process left in the table."""
        with self._lock:
            self._published.clear()
            self._generations.clear()
        client.command(f"TRUNCATE TABLE IF EXISTS {WALKS_TABLE}")

    def used(self, stored: StoredWalk, stale: bool) -> None:
        """Count a request that read from `stored`; `stale`: it found spans the walk did not see, so later
        requests walk live until the next generation."""
        with self._lock:
            if not stale:
                self.stats.answered += 1
                return
            self.stats.stale += 1
            if self._published.get(stored.walk) is stored:
                del self._published[stored.walk]

    def refresh(
        self,
        client: Any,
        blueprint: Any,
        now: datetime,
        start: datetime | None = None,
        watermark: datetime | None = None,
    ) -> StoredWalk | None:
        """Walk `blueprint`'s journeys of [start, watermark) (by default the last `horizon_s` before
        `now - settle_s`) into a new generation and publish it; None when its journeys cannot be stored (they
        need keys lent by their traces, it has more than 64 steps, or more than `max_spans` spans could bind
        in the period: such traffic is walked live). Generations older than the one before are dropped."""
        columns = trace_columns(client)
        walk = blueprint_walk_key(blueprint, columns)
        if walk is None:
            return None
        # whole seconds, as requests check the spans counted per second
        watermark = _whole_second(watermark or now - timedelta(seconds=self.settle_s))
        start = _whole_second(start or watermark - timedelta(seconds=self.horizon_s))
        graph = journey_graph(blueprint)
        period = Scan(start=start, end=watermark, origin=start, bucket_s=60, reference=watermark)
        unkeyed = unkeyed_query(blueprint, period, columns)
        if unkeyed is not None and _rows(client, unkeyed):
            return None
        counted = _rows(client, counted_query(blueprint, start, watermark, columns))
        counts = {int(second): int(n) for second, n in counted}
        if sum(counts.values()) > self.max_spans:
            return None
        generation = next(_GENERATIONS)
        query = store_walk_query(blueprint, graph, start, watermark, walk, generation, columns)
        client.command(query.sql, parameters=query.params, settings=query.settings or None)
        stored = StoredWalk(walk, generation, start, watermark, counts)
        with self._lock:
            self._published[walk] = stored
            self.stats.passes += 1
            kept = self._generations.setdefault(walk, [])
            kept.append(generation)
            dropped, kept[:] = kept[:-2], kept[-2:]
        for old in dropped:
            client.command(f"ALTER TABLE {WALKS_TABLE} DROP PARTITION ({walk}, {old})")
        return stored


# Generations are unique within a process (stores of several blueprints or tests share the table); a serving
# process clears what an earlier one left (WalkStore.clear).
_GENERATIONS = itertools.count(int(time.time()) % 100_000 * 10_000)


def _rows(client: Any, query: SqlQuery) -> list[tuple[Any, ...]]:
    return client.query(query.sql, parameters=query.params, settings=query.settings or None).result_rows


def _whole_second(value: datetime) -> datetime:
    return value.replace(microsecond=0)


class Walker:
    """A daemon thread refreshing `store` for each of `blueprints()` every `every_s` seconds.

    `client` gives the thread's ClickHouse client. A pass that fails is logged and the next one tries again;
    requests meanwhile use the last generation that was published, or walk live.
    """

    def __init__(
        self, store: WalkStore, client: Callable[[], Any], blueprints: Callable[[], list[Any]], every_s: float
    ) -> None:
        if every_s <= 0:
            raise ValueError(f"Walker: every_s must be > 0, got {every_s}")
        self.store = store
        self._client = client
        self._blueprints = blueprints
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="touchpoint-walk-ahead", daemon=True)

    def start(self) -> None:
        """Clear what an earlier process stored, then walk every `every_s` seconds."""
        self.store.clear(self._client())
        self._thread.start()

    def stop(self) -> None:
        """Stop after the pass under way, if any."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def run_pass(self) -> None:
        """Refresh the store for every blueprint once."""
        client = self._client()
        for blueprint in self._blueprints():
            began = time.perf_counter()
            try:
                stored = self.store.refresh(client, blueprint, datetime.now(UTC))
            except Exception as exc:  # noqa: BLE001 - the state walks live until a pass succeeds
                log.warning("walking journeys ahead failed", extra={"blueprint": blueprint.id, "error": str(exc)})
                continue
            log.debug(
                "journeys walked ahead",
                extra={
                    "blueprint": blueprint.id,
                    "stored": stored is not None,
                    "ms": round((time.perf_counter() - began) * 1000, 1),
                },
            )

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.run_pass()
