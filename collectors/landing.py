"""Landing tables: spans committed in small batches while ingest runs fast, moved into otel_traces in large ones.

Every insert into otel_traces makes a part, and on the embedded engine a part of a few thousand rows costs more
than its rows: creating its files, then merging it again and again into larger parts. In the server's schema the
engine spent 7.6 µs of CPU per row in inserts of 8,192 rows against 4.1 µs in inserts of 100,000
(bench/ingest.py). With four clients of 2,048 spans each waiting for their answer, no insert can hold more than
8,192: the answer has to wait for the commit.

A landing table takes those small batches for less: it is a Log table, which appends an insert to the files it
has instead of making a part (an insert of 8,192 rows took 21 against 39 ms into otel_traces, and 15 ms into a
Null table). Two of them take turns. Every two seconds the mover seals the one being written (the writer turns
to the other at its next insert), moves the sealed table's rows into otel_traces in a few large inserts and
truncates it. The mover runs at the lowest priority, in the CPU that mapping requests and committing them
leave over. Spans are committed to ClickHouse when their request is answered, as before; otel_traces shows them
once they are moved, a few seconds later.

Exactly once: the mover gives a table back to the writer only empty. A move whose insert failed, or whose
truncate did not follow (a crash in between), is redone leaving out the spans otel_traces already holds
(matched by TraceId and SpanId, as the receiver drops resent spans); `recover` does that at start-up. A Log
table killed in the middle of an insert reopens with every insert that had returned, and none of the one that
had not.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from collectors.schema import (
    SPAN_INSERT_SETTINGS,
    TRACES_COLUMNS,
    TRACES_TABLE,
    Migration,
    SchemaOptions,
    has_tables,
    register_migration,
)

log = logging.getLogger(__name__)

LANDING_TABLES = ("otel_traces_landing_a", "otel_traces_landing_b")

# A move runs on the mover's thread alone and inserts parts of about 100,000 rows, so the block it holds stays
# near 100 MB however much has landed.
MOVE_SETTINGS = {
    **SPAN_INSERT_SETTINGS,
    "max_threads": 1,
    "max_block_size": 65_536,
    "min_insert_block_size_rows": 100_000,
}


def landing_ddl(name: str) -> str:
    """CREATE TABLE for one landing table: otel_traces' columns as the exporter writes them, appended to."""
    columns = ",\n    ".join(f"`{column}` {kind}" for column, kind in TRACES_COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS {name} (\n    {columns}\n) ENGINE = Log"


MIGRATION_VERSION = 4


def migration_statements(options: SchemaOptions) -> list[str]:
    """Create the landing tables where the server's writer is the only one (the embedded engine, whose writer
    also feeds the rollup); none on a ClickHouse server."""
    if options.cluster_name or not options.rollup_feed:
        return []
    return [landing_ddl(name) for name in LANDING_TABLES]


register_migration(Migration(MIGRATION_VERSION, "landing tables for fast ingest", migration_statements))


def has_landing(client: Client) -> bool:
    """True when this database has the landing tables (migrated for the embedded engine's single writer)."""
    return has_tables(client, LANDING_TABLES)

_COLUMNS = ", ".join(f"`{column}`" for column, _ in TRACES_COLUMNS)


def _yield_cpu() -> None:
    """Run the calling thread at the lowest priority (Linux): a move then takes the CPU the requests being
    mapped and the inserts they wait for leave over, instead of slowing them down."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):  # not Linux, or not allowed: the mover runs at the usual priority
        log.debug("the landing mover runs at the usual priority")


def move_query(landing: str, table: str = TRACES_TABLE, careful: bool = False) -> str:
    """The insert that moves a landing table's rows into `table`; `careful` leaves out the spans `table` already
    holds, for a move that may have happened before (its time range bounds the look-up)."""
    query = f"INSERT INTO {table} ({_COLUMNS}) SELECT {_COLUMNS} FROM {landing}"
    if careful:
        query += (
            f" WHERE (TraceId, SpanId) NOT IN (SELECT TraceId, SpanId FROM {table}"
            f" WHERE Timestamp >= (SELECT min(Timestamp) FROM {landing})"
            f" AND Timestamp <= (SELECT max(Timestamp) FROM {landing}))"
        )
    return query


@dataclass
class LandingStats:
    """Counters for /api/v1/health and the benchmarks."""

    landed_rows: int = 0  # committed into a landing table
    moved_rows: int = 0  # moved into otel_traces
    waiting_rows: int = 0  # landed and not yet moved
    moves: int = 0
    failed_moves: int = 0
    last_move_s: float = 0.0


class Landing:
    """Two landing tables, the writer's turn to use one of them, and the mover that empties the other.

    The writer brackets each insert with `begin()` / `end()`; the mover runs on its own thread and client."""

    def __init__(
        self,
        client_factory: Callable[[], Client],
        table: str = TRACES_TABLE,
        interval_s: float = 2.0,
        max_rows: int = 2_000_000,
        names: tuple[str, str] = LANDING_TABLES,
    ) -> None:
        """`interval_s`: how often the rows landed are moved; `max_rows`: past this many rows waiting to be moved,
        `begin()` declines and the writer inserts into `table` directly."""
        self._client_factory = client_factory
        self._table = table
        self._names = names
        self.interval_s = interval_s
        self.max_rows = max_rows
        self.stats = LandingStats()
        self._cond = threading.Condition()
        self._current = 0
        self._in_flight = [0, 0]
        self._rows = [0, 0]  # landed and not yet moved, per table
        self._careful = [True, True]  # until a move has emptied it, a table may hold rows already moved
        self._move_now = False
        self._closing = False
        self._thread: threading.Thread | None = None

    def recover(self, client: Client) -> int:
        """Move whatever an earlier process left in the landing tables, each span once; the rows moved."""
        return sum(self._move(client, index, careful=True) for index in range(len(self._names)))

    def start(self) -> None:
        """Start the mover."""
        self._thread = threading.Thread(target=self._run, name="span-landing-mover", daemon=True)
        self._thread.start()

    def begin(self) -> str | None:
        """The landing table the next insert goes into, or None when too much waits to be moved (insert into
        otel_traces instead). Every table returned must be handed back through `end`."""
        with self._cond:
            if self._closing or self._thread is None or self._rows[0] + self._rows[1] >= self.max_rows:
                return None
            self._in_flight[self._current] += 1
            return self._names[self._current]

    def end(self, name: str, rows: int) -> None:
        """The insert into `name` is over: `rows` committed (0 if it failed)."""
        index = self._names.index(name)
        with self._cond:
            self._in_flight[index] -= 1
            self._rows[index] += rows
            self.stats.landed_rows += rows
            self.stats.waiting_rows += rows
            self._cond.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        """Move every row landed so far into otel_traces; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self.stats.landed_rows
            while self.stats.landed_rows - self._rows[0] - self._rows[1] < target:
                if self._thread is None or not self._thread.is_alive():
                    return False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._move_now = True
                self._cond.notify_all()
                self._cond.wait(min(remaining, 0.05))
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Move what has landed, then stop the mover. Call after the writer's last insert."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        _yield_cpu()
        client: Client | None = None
        while True:
            with self._cond:
                deadline = time.monotonic() + self.interval_s
                while not (self._closing or self._move_now) and time.monotonic() < deadline:
                    self._cond.wait(max(0.0, deadline - time.monotonic()))
                closing, self._move_now = self._closing, False
                sealed = self._seal()
            try:
                if client is None:
                    client = self._client_factory()
                if sealed is not None:
                    self._move(client, sealed, careful=self._careful[sealed])
                if closing:  # begin() lands nothing more: move what the last inserts left in the other table
                    with self._cond:
                        sealed = self._seal()
                    if sealed is not None:
                        self._move(client, sealed, careful=self._careful[sealed])
            except Exception as exc:  # noqa: BLE001 - the rows stay landed; the next turn moves them
                log.error("moving landed spans into %s failed", self._table, extra={"error": str(exc)})
                with self._cond:
                    self.stats.failed_moves += 1
                client = None
                if closing:
                    return
                time.sleep(min(1.0, self.interval_s))
                continue
            if closing:
                return

    def _seal(self) -> int | None:
        """Under the lock: hand the writer the other table and return the one it wrote, once its inserts are over;
        None when there is nothing to move. A table not yet emptied is sealed again rather than written."""
        other = 1 - self._current
        if self._rows[other] > 0:
            return other  # its last move failed: move it again before it may be written
        if self._rows[self._current] == 0:
            return None
        sealed, self._current = self._current, other
        while self._in_flight[sealed]:
            self._cond.wait()
        return sealed

    def _move(self, client: Client, index: int, careful: bool) -> int:
        """Move one landing table into otel_traces and empty it; the rows it held."""
        name = self._names[index]
        started = time.perf_counter()
        with self._cond:
            if not careful and self._rows[index] == 0:
                return 0
            self._careful[index] = True  # from here until the truncate, a crash or failure may leave rows moved
            held = self._rows[index]
        if careful:
            held = int(client.command(f"SELECT count() FROM {name}"))
        if held:
            client.command(move_query(name, self._table, careful), settings=MOVE_SETTINGS)
        client.command(f"TRUNCATE TABLE {name}")
        elapsed = time.perf_counter() - started
        with self._cond:
            self._careful[index] = False
            self.stats.waiting_rows -= self._rows[index]
            self._rows[index] = 0
            self.stats.moved_rows += held
            self.stats.moves += 1 if held else 0
            self.stats.last_move_s = elapsed
            self._cond.notify_all()
        return held
