"""Journey walks kept ahead of requests: the live state reads the journeys already walked instead of walking
them again.

Most of a live state's cost is walking journeys: binding spans to steps, grouping them by journey, ordering
and judging each one. A dashboard asks for overlapping windows again and again, and most journeys in them
ended a while ago. :class:`WalkStore` walks the journeys of a recent period once per pass (one generation,
blueprints.walk_store_sql) and a request then walks only the journeys the store cannot answer for: those
crossing its window's edges and those still going on at the store's watermark.

A stored journey is right only while the spans it was walked with are all it has. Spans newer than the
watermark are no trouble (their journeys are walked live); a span arriving later than `settle_s` after it
started may belong to a journey already walked. The span writer hands the store every committed table
(:meth:`WalkStore.note_committed`, `SpanWriter.on_commit`), and the store notes the seconds of such late
spans; a request walks live every journey with a span in a second noted since its walk was taken, until the
next pass walks them. So every span stored must come through that writer: true of the embedded engine,
which one serving process owns, and the reason the store is not kept on a ClickHouse server.

One process keeps a store (the serving process); it lives in that process's memory and in
`touchpoint_journey_walks`, whose generations it drops as it replaces them. :class:`Walker` refreshes a
store for every blueprint on a timer.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from blueprints.journey_graph import JourneyGraph, journey_graph
from blueprints.selectors import TRACE_COLUMNS, SpanColumns
from blueprints.side_sql import unkeyed_query
from blueprints.state_sql import Scan, SqlQuery
from blueprints.time_grid import floor_to
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
    lent: int = 0  # requests that found spans without their journey key in the window, and walked it live


@dataclass(frozen=True)
class StoredWalk:
    """One generation of a blueprint's stored walk: journeys of spans started in [start, watermark)."""

    walk: int  # fingerprint of what the walk depends on (blueprint_walk_key)
    generation: int
    start: datetime  # whole seconds
    watermark: datetime
    noted: int  # the last late-span note the walk saw (WalkStore.note_committed)

    def covers(self, start: datetime, end: datetime) -> bool:
        """True when a window [start, end) can take journeys from this walk."""
        return self.start <= start < self.watermark and end > start


def blueprint_walk_key(
    blueprint: Any, columns: SpanColumns = TRACE_COLUMNS, graph: JourneyGraph | None = None
) -> int | None:
    """A 63-bit fingerprint of how `blueprint` walks journeys, or None when its walks cannot be stored (more
    than 64 steps). `graph`: the blueprint's journey graph, when the caller has it already."""
    graph = graph or journey_graph(blueprint)
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

    def __init__(self, horizon_s: float = 1200.0, settle_s: float = 30.0, max_spans: int = 4_000_000) -> None:
        if horizon_s <= 0 or settle_s < 0 or max_spans < 1:
            raise ValueError(
                f"WalkStore: horizon_s must be > 0, settle_s >= 0 and max_spans >= 1, "
                f"got {horizon_s}, {settle_s}, {max_spans}"
            )
        self.horizon_s = horizon_s
        self.settle_s = settle_s
        self.max_spans = max_spans
        self._notes: list[tuple[int, np.ndarray]] = []  # (note number, Unix seconds of late spans)
        self._noted = 0
        self._walking: list[int] = []  # the last note numbers seen by walks under way
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

    def note_committed(self, table: pa.Table) -> None:
        """Note the seconds of committed spans that started more than `settle_s` ago (late: their journeys may
        have been walked without them). Cheap when none are late."""
        if "Timestamp" not in table.column_names or not table.num_rows:
            return
        with self._lock:
            if not self._published and not self._walking:
                return  # no walk could miss these spans
        starts = table.column("Timestamp").cast(pa.int64())
        threshold = int((time.time() - self.settle_s) * 1e9)
        late = pc.less(starts, threshold)
        if not pc.any(late).as_py():
            return
        seconds = np.unique(pc.filter(starts, late).to_numpy() // 1_000_000_000)
        with self._lock:
            self._noted += 1
            self._notes.append((self._noted, seconds))

    def late_seconds(self, stored: StoredWalk) -> list[datetime]:
        """The seconds in [stored.start, stored.watermark) of late spans noted since `stored` was walked."""
        first, last = int(stored.start.timestamp()), int(stored.watermark.timestamp())
        with self._lock:
            noted = [seconds for number, seconds in self._notes if number > stored.noted]
        if not noted:
            return []
        seconds = np.unique(np.concatenate(noted))
        seconds = seconds[(seconds >= first) & (seconds < last)]
        return [datetime.fromtimestamp(int(second), UTC) for second in seconds]

    def clear(self, client: Any) -> None:
        """Forget every stored walk, this store's and those an earlier process left in the table."""
        with self._lock:
            self._published.clear()
            self._generations.clear()
            self._prune_notes()
        client.command(f"TRUNCATE TABLE IF EXISTS {WALKS_TABLE}")

    def retain(self, client: Any, walks: set[int]) -> None:
        """Forget the stored walks not in `walks` (of blueprints edited or removed) and drop their rows."""
        with self._lock:
            gone = [walk for walk in self._generations if walk not in walks]
            dropped = [(walk, generation) for walk in gone for generation in self._generations.pop(walk)]
            for walk in gone:
                self._published.pop(walk, None)
            self._prune_notes()
        for walk, generation in dropped:
            client.command(f"ALTER TABLE {WALKS_TABLE} DROP PARTITION ({walk}, {generation})")

    def used(self, lent: bool) -> None:
        """Count a request that read from the store (`lent`: or had to walk live, lending journey keys)."""
        with self._lock:
            if lent:
                self.stats.lent += 1
            else:
                self.stats.answered += 1

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
        graph = journey_graph(blueprint)
        walk = blueprint_walk_key(blueprint, columns, graph)
        if walk is None:
            return None
        # whole seconds, as late spans are noted by the second
        watermark = floor_to(watermark or now - timedelta(seconds=self.settle_s), 1)
        start = floor_to(start or watermark - timedelta(seconds=self.horizon_s), 1)
        period = Scan(start=start, end=watermark, origin=start, bucket_s=60, reference=watermark)
        unkeyed = unkeyed_query(blueprint, period, columns)
        if unkeyed is not None and _rows(client, unkeyed):
            return None
        with self._lock:
            noted = self._noted  # spans committed after this may be missing from the walk: noted after it
            self._walking.append(noted)
        try:
            stored = self._walk(client, blueprint, graph, walk, start, watermark, noted, columns)
        finally:
            with self._lock:
                self._walking.remove(noted)
                self._prune_notes()
        if stored is None:
            return None
        with self._lock:
            self.stats.passes += 1
            kept = self._generations.setdefault(walk, [])
            kept.append(stored.generation)
            dropped, kept[:] = kept[:-2], kept[-2:]
        for old in dropped:
            client.command(f"ALTER TABLE {WALKS_TABLE} DROP PARTITION ({walk}, {old})")
        return stored

    def _walk(
        self,
        client: Any,
        blueprint: Any,
        graph: Any,
        walk: int,
        start: datetime,
        watermark: datetime,
        noted: int,
        columns: SpanColumns,
    ) -> StoredWalk | None:
        spans = _rows(client, counted_query(blueprint, start, watermark, columns))
        if int(spans[0][0]) > self.max_spans:
            return None
        generation = next(_GENERATIONS)
        query = store_walk_query(blueprint, graph, start, watermark, walk, generation, columns)
        client.command(query.sql, parameters=query.params, settings=query.settings or None)
        stored = StoredWalk(walk, generation, start, watermark, noted)
        with self._lock:
            self._published[walk] = stored
        return stored

    def _prune_notes(self) -> None:
        """Drop the notes every published walk and every walk under way already saw (lock held)."""
        seen = [s.noted for s in self._published.values()] + self._walking
        if not seen:
            self._notes.clear()
            return
        oldest = min(seen)
        self._notes = [note for note in self._notes if note[0] > oldest]


# Generations are unique within a process (stores of several blueprints or tests share the table); a serving
# process clears what an earlier one left (WalkStore.clear).
_GENERATIONS = itertools.count(int(time.time()) % 100_000 * 10_000)


def _rows(client: Any, query: SqlQuery) -> list[tuple[Any, ...]]:
    return client.query(query.sql, parameters=query.params, settings=query.settings or None).result_rows


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
        blueprints = self._blueprints()
        for blueprint in blueprints:
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
        try:
            columns = trace_columns(client)
            self.store.retain(client, {blueprint_walk_key(b, columns) for b in blueprints} - {None})
        except Exception as exc:  # noqa: BLE001 - the rows stay until the next pass or restart
            log.warning("dropping the walks of edited blueprints failed", extra={"error": str(exc)})

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.run_pass()
