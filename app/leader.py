"""A lease kept in ClickHouse, so that alert evaluation runs in exactly one process at a time.

Every gunicorn worker (and every host) runs a `LeaderElection` for the same lease name. The lease is a log in
`touchpoint_leases`: each change — acquire, renew, release — appends the next *epoch*. Contenders appending
the same epoch send the same insert deduplication token, and ClickHouse keeps exactly one of their rows
(block deduplication is atomic: under the parts lock on a single server, through Keeper on a replicated
table). Each reads the log back, and only the one whose row is the newest entry goes on: every append is a
compare-and-set on "the next epoch is still free".

A holder believes it leads only until the lease expires, measured on its own monotonic clock from *before*
it read the lease; others take over only when the server's clock is `clock_skew` past the expiry. The
`term` grows with every change of holder: it is the fencing token to stamp on work done as leader, so a late
write from a deposed leader can be told apart and refused.

The decision (`decide`) and the outcome of an append (`won`) are pure functions of the newest log entry and
the server's clock; `ClickHouseLeaseStore` holds the SQL; `LeaderElection` is the thread that runs them.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from collectors.cluster import ClusterLayout, replicated_engine

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

    from app.context import AppContext

log = logging.getLogger(__name__)

LEASES_TABLE = "touchpoint_leases"
ALERTS_LEASE = "alerts"
CONTESTED = "(contested)"  # stands for the holder of an epoch with several entries; no contender's id
DEDUPLICATION_WINDOW = 1000  # blocks remembered per table; contenders race within seconds, far inside it


# ---------------------------------------------------------------- the pure core


@dataclass(frozen=True)
class LeaseRecord:
    """One entry of a lease's log: from this epoch on, `holder` leads in `term` until `expires_at`.

    Times are the server's clock, UTC. A released lease has an empty holder.
    """

    name: str
    epoch: int
    term: int
    holder: str
    written_at: datetime
    expires_at: datetime

    @property
    def released(self) -> bool:
        return self.holder == ""


@dataclass(frozen=True)
class LeasePolicy:
    """How long a lease lasts and how eagerly it is renewed and watched.

    A holder renews once its entry is `renew_after` old and checks every `poll`, so it renews at the latest
    `renew_after + poll` into a `ttl`; the rest is headroom for a slow database. `clock_skew` bounds how
    far apart the clocks of the ClickHouse nodes the contenders read from may be (0 for a single server
    would do; the default leaves room for NTP on a cluster).
    """

    ttl: timedelta = timedelta(seconds=15)
    renew_after: timedelta = timedelta(seconds=5)
    clock_skew: timedelta = timedelta(seconds=1)
    poll: timedelta = timedelta(seconds=1)
    prune_every: int = 10_000  # the holder deletes old log entries every this many epochs …
    keep_epochs: int = 1_000  # … keeping this many

    def __post_init__(self) -> None:
        if self.poll <= timedelta(0) or self.renew_after <= timedelta(0) or self.clock_skew < timedelta(0):
            raise ValueError(
                f"lease policy {self}: poll and renew_after must be positive, clock_skew not negative"
            )
        if self.renew_after + self.poll >= self.ttl:
            raise ValueError(
                f"lease policy: renew_after ({self.renew_after.total_seconds()}s) + poll "
                f"({self.poll.total_seconds()}s) must be shorter than ttl ({self.ttl.total_seconds()}s), "
                "or the holder would let its lease lapse between renewals"
            )
        if self.ttl % timedelta(milliseconds=1):
            raise ValueError(
                f"lease policy: ttl ({self.ttl}) must be whole milliseconds, as the lease table keeps"
            )
        if not 0 < self.keep_epochs < self.prune_every:
            raise ValueError(f"lease policy: keep_epochs ({self.keep_epochs}) must be within 1..prune_every")


class Move(StrEnum):
    """What a contender does after looking at the newest entry of the log."""

    ACQUIRE = "acquire"  # append the next epoch as holder, in a new term
    RENEW = "renew"  # append the next epoch, same holder and term, later expiry
    RELEASE = "release"  # append the next epoch with no holder
    HOLD = "hold"  # I lead and need not renew yet
    WAIT = "wait"  # someone else leads
    IDLE = "idle"  # stepping down and holding nothing


@dataclass(frozen=True)
class Decision:
    """A move, and for ACQUIRE, RENEW and RELEASE the entry to append."""

    move: Move
    write: LeaseRecord | None = None


def decide(
    latest: LeaseRecord | None,
    *,
    name: str,
    me: str,
    now: datetime,
    policy: LeasePolicy,
    stepping_down: bool = False,
) -> Decision:
    """What contender `me` does, given the newest entry of the log and the server's clock `now`."""

    def entry(term: int, holder: str, expires_at: datetime) -> LeaseRecord:
        epoch = latest.epoch + 1 if latest is not None else 1
        return LeaseRecord(name, epoch, term, holder, now, expires_at)

    term = latest.term if latest is not None else 0
    mine = latest is not None and latest.holder == me
    live = latest is not None and now < latest.expires_at
    if stepping_down:
        return Decision(Move.RELEASE, entry(term, "", now)) if mine and live else Decision(Move.IDLE)
    if mine and live:
        assert latest is not None
        if now - latest.written_at >= policy.renew_after:
            return Decision(Move.RENEW, entry(term, me, now + policy.ttl))
        return Decision(Move.HOLD)
    if latest is None or latest.released or mine or now >= latest.expires_at + policy.clock_skew:
        return Decision(Move.ACQUIRE, entry(term + 1, me, now + policy.ttl))
    return Decision(Move.WAIT)


@dataclass(frozen=True)
class Observation:
    """The newest entry of a lease's log as one read saw it, and the server's clock at that read.

    `at_epoch` counts the entries sharing the newest epoch: more than one only if deduplication had
    forgotten that epoch's token (a contender acting on a view older than the deduplication window). The
    store then reports the epoch as held by CONTESTED until the latest of those entries expires, so that
    nobody holds it and everybody waits out whoever might have believed it theirs.
    """

    latest: LeaseRecord | None
    now: datetime
    at_epoch: int = 1


def won(written: LeaseRecord, after: Observation) -> bool:
    """Whether an append took: the entry written, to its times, is the newest in the log, alone at its epoch.

    Comparing the times matters: a contender misled by a stale read may write an entry whose epoch, term
    and holder equal one of its own older, already expired entries; finding that old entry is not winning.
    """
    return after.at_epoch == 1 and after.latest == written


@dataclass(frozen=True)
class Leadership:
    """This process leads lease `name` in `term` until `until` on its monotonic clock (time.monotonic)."""

    name: str
    term: int
    holder: str
    until: float


def lead_until(record: LeaseRecord, observed_now: datetime, started: float) -> float:
    """The monotonic deadline of a lease: what was left of it at the read, counted from before the read."""
    return started + (record.expires_at - observed_now).total_seconds()


# ---------------------------------------------------------------- the store


class LeaseStore(Protocol):
    """Where a lease's log lives. `append` must keep one entry per (name, epoch), whoever sends it."""

    def observe(self, name: str) -> Observation: ...

    def append(self, record: LeaseRecord) -> None: ...

    def prune(self, name: str, below_epoch: int) -> None: ...


def lease_table_ddl(table: str = LEASES_TABLE, layout: ClusterLayout | None = None) -> str:
    """CREATE TABLE for the lease log: on one server, or replicated on every node of a cluster."""
    if layout is None:
        target, engine = table, "MergeTree()"
        settings = f"non_replicated_deduplication_window = {DEDUPLICATION_WINDOW}"
    else:
        target = f"{layout.database}.{table} {layout.on_cluster()}"
        engine = replicated_engine("MergeTree()", layout, table, sharded=False)
        settings = (
            f"replicated_deduplication_window = {DEDUPLICATION_WINDOW}, "
            "replicated_deduplication_window_seconds = 604800"
        )
    return f"""
CREATE TABLE IF NOT EXISTS {target} (
    name LowCardinality(String),
    epoch UInt64,
    term UInt64,
    holder String,
    written_at DateTime64(3, 'UTC'),
    expires_at DateTime64(3, 'UTC')
) ENGINE = {engine}
ORDER BY (name, epoch)
SETTINGS {settings}
"""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=int(ms))  # exact, so entries compare equal to what was written


class ClickHouseLeaseStore:
    """The lease log in a ClickHouse table, through one client (use it from one thread)."""

    COLUMNS = ["name", "epoch", "term", "holder", "written_at", "expires_at"]

    def __init__(self, client: Client, table: str = LEASES_TABLE) -> None:
        self.client = client
        self.table = table

    def create(self, layout: ClusterLayout | None = None) -> None:
        """Create the lease table if it is missing (safe to run from every contender at once)."""
        self.client.command(lease_table_ddl(self.table, layout))

    def observe(self, name: str) -> Observation:
        rows = self.client.query(
            "SELECT toUnixTimestamp64Milli(now64(3)), groupArray((epoch, term, holder, "
            "toUnixTimestamp64Milli(written_at), toUnixTimestamp64Milli(expires_at))) "
            f"FROM {self.table} WHERE name = {{name:String}} "
            f"AND epoch = (SELECT max(epoch) FROM {self.table} WHERE name = {{name:String}})",
            parameters={"name": name},
        ).result_rows
        now_ms, entries = rows[0]
        if not entries:
            return Observation(None, _utc(now_ms), 0)
        epoch, term, holder, written_ms, expires_ms = entries[0]
        if len(entries) > 1:
            term, holder = max(e[1] for e in entries), CONTESTED
            written_ms, expires_ms = max(e[3] for e in entries), max(e[4] for e in entries)
        record = LeaseRecord(name, int(epoch), int(term), holder, _utc(written_ms), _utc(expires_ms))
        return Observation(record, _utc(now_ms), len(entries))

    def append(self, record: LeaseRecord) -> None:
        self.client.insert(
            self.table,
            [[record.name, record.epoch, record.term, record.holder, record.written_at, record.expires_at]],
            column_names=self.COLUMNS,
            settings={
                # The same token for the same (name, epoch) is what makes the append a compare-and-set.
                "insert_deduplication_token": f"{record.name}:{record.epoch}",
                "insert_deduplicate": 1,
                "async_insert": 0,
            },
        )

    def prune(self, name: str, below_epoch: int) -> None:
        self.client.command(
            f"DELETE FROM {self.table} WHERE name = {{name:String}} AND epoch < {{epoch:UInt64}}",
            parameters={"name": name, "epoch": below_epoch},
        )


# ---------------------------------------------------------------- the election


def default_holder() -> str:
    """A contender id unique across hosts, processes and restarts: host:pid:random."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class LeaderElection:
    """Contends for one lease; `leadership()` says whether this process leads now, and in which term.

    `step()` is one round (read, decide, append, read back); `start()` runs rounds every `policy.poll` on a
    daemon thread until `stop()`, which releases the lease if held.
    """

    def __init__(
        self,
        store: LeaseStore,
        name: str,
        holder: str | None = None,
        policy: LeasePolicy | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.name = name
        self.holder = holder or default_holder()
        self.policy = policy or LeasePolicy()
        self._monotonic = monotonic
        self._lead: Leadership | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def leadership(self) -> Leadership | None:
        """This process's leadership if it holds the lease at this instant, else None."""
        with self._lock:
            lead = self._lead
        return lead if lead is not None and self._monotonic() < lead.until else None

    def step(self, stepping_down: bool = False) -> Leadership | None:
        """One round against the store; returns the leadership it leaves this process with."""
        started = self._monotonic()
        observed = self.store.observe(self.name)
        decision = decide(
            observed.latest,
            name=self.name,
            me=self.holder,
            now=observed.now,
            policy=self.policy,
            stepping_down=stepping_down,
        )
        lead: Leadership | None = None
        if decision.move is Move.HOLD:
            assert observed.latest is not None
            lead = self._leadership(observed.latest, observed.now, started)
        elif decision.write is not None:
            if decision.move is Move.RELEASE:
                self._set(None)  # stop believing before the lease is handed back
            self.store.append(decision.write)
            if decision.move is not Move.RELEASE and won(decision.write, self.store.observe(self.name)):
                lead = self._leadership(decision.write, observed.now, started)
                if decision.move is Move.RENEW and decision.write.epoch % self.policy.prune_every == 0:
                    self._prune(decision.write.epoch)
        self._set(lead, decision.move)
        return lead

    def start(self) -> None:
        """Contend in the background, one round every `policy.poll`."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=f"touchpoint-lease-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, release: bool = True, timeout: float = 10.0) -> None:
        """Stop contending; if this process holds the lease and `release`, hand it back at once."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():  # stuck in a query: do not share its client; the lease will expire
                log.warning("lease %s: contender thread did not stop within %ss", self.name, timeout)
                release = False
            self._thread = None
        if release:
            try:
                self.step(stepping_down=True)
            except Exception:  # noqa: BLE001 - the lease then simply expires
                log.warning("could not release lease %s; it expires on its own", self.name, exc_info=True)
        self._set(None)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.step()
            except Exception:  # noqa: BLE001 - a failed round keeps what is held until it expires
                log.warning("lease %s: round failed", self.name, exc_info=True, extra={"lease": self.name})
            self._stopping.wait(self.policy.poll.total_seconds())

    def _leadership(self, record: LeaseRecord, observed_now: datetime, started: float) -> Leadership:
        return Leadership(self.name, record.term, self.holder, lead_until(record, observed_now, started))

    def _set(self, lead: Leadership | None, move: Move | None = None) -> None:
        with self._lock:
            before, self._lead = self._lead, lead
        if lead is not None and (before is None or before.term != lead.term):
            log.info(
                "leading %s in term %d", self.name, lead.term, extra={"lease": self.name, "term": lead.term}
            )
        elif lead is None and before is not None:
            log.info("no longer leading %s (%s)", self.name, move or "stopped", extra={"lease": self.name})

    def _prune(self, epoch: int) -> None:
        try:
            self.store.prune(self.name, epoch - self.policy.keep_epochs)
        except Exception:  # noqa: BLE001 - an unpruned log is only longer
            log.warning("lease %s: pruning old entries failed", self.name, exc_info=True)


# ---------------------------------------------------------------- wiring


def start_hook(ctx: AppContext) -> Callable[[], None] | None:
    """Start hook: contend for the alert-evaluation lease; the election is `ctx.parts["leader"]`.

    The alert loop runs its evaluation only while `ctx.parts["leader"].leadership()` is not None, and stamps
    what it writes with that leadership's term.
    """
    if not ctx.settings.evaluate_alerts:
        return None
    from collectors.db import connect

    client = connect(ctx.dsn)
    store = ClickHouseLeaseStore(client)
    cluster = ctx.settings.cluster_name
    store.create(ClusterLayout(cluster=cluster, database=ctx.dsn.database) if cluster else None)
    election = LeaderElection(store, ALERTS_LEASE)
    election.start()
    ctx.parts["leader"] = election

    def stop() -> None:
        election.stop(release=True)
        client.close()

    return stop
