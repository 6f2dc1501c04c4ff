"""The lease against the real embedded engine: the SQL, deduplicated appends as compare-and-set, takeovers
and releases, and several contenders on threads, each with its own client, never leading at once."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from app.leader import (
    ALERTS_LEASE,
    CONTESTED,
    LEASES_TABLE,
    ClickHouseLeaseStore,
    LeaderElection,
    LeasePolicy,
    LeaseRecord,
    Move,
    decide,
    lease_table_ddl,
    start_hook,
    won,
)
from collectors.cluster import ClusterLayout
from collectors.db import connect

FAST = LeasePolicy(
    ttl=timedelta(milliseconds=800),
    renew_after=timedelta(milliseconds=250),
    clock_skew=timedelta(milliseconds=100),
    poll=timedelta(milliseconds=100),
)


@pytest.fixture
def lease(ch, request: pytest.FixtureRequest) -> str:  # noqa: ANN001
    """A lease name of its own for each test, in a lease table created through the store."""
    ClickHouseLeaseStore(ch).create()
    return "lease_" + request.node.name[-40:]


def _entry(name: str, epoch: int, holder: str) -> LeaseRecord:
    now = datetime(2025, 1, 1, 12, tzinfo=UTC)
    return LeaseRecord(name, epoch, epoch, holder, now, now + timedelta(seconds=15))


def test_an_empty_lease_is_observed_with_the_servers_clock(ch, lease: str) -> None:  # noqa: ANN001
    before = datetime.now(UTC)
    observed = ClickHouseLeaseStore(ch).observe(lease)
    assert observed.latest is None and observed.at_epoch == 0
    assert abs(observed.now - before) < timedelta(seconds=5)


def test_two_appends_of_the_same_epoch_keep_the_first_and_both_contenders_agree(
    ch, dsn: str, lease: str
) -> None:  # noqa: ANN001
    first, second = ClickHouseLeaseStore(ch), ClickHouseLeaseStore(connect(dsn))
    a, b = _entry(lease, 1, "a"), _entry(lease, 1, "b")
    first.append(a)
    second.append(b)
    assert won(a, first.observe(lease))
    assert not won(b, second.observe(lease))
    assert ch.query(
        f"SELECT holder FROM {LEASES_TABLE} WHERE name = {{n:String}}", parameters={"n": lease}
    ).result_rows == [("a",)]


def test_an_epoch_with_two_entries_is_held_by_nobody_until_the_later_one_expires(ch, lease: str) -> None:  # noqa: ANN001
    # Only a contender acting on a view older than the deduplication window could cause this: two entries
    # at one epoch. Written here without tokens, as if the window had forgotten the first.
    store = ClickHouseLeaseStore(ch)
    a, b = _entry(lease, 3, "a"), _entry(lease, 3, "b")
    late = LeaseRecord(lease, 3, 4, "b", b.written_at, b.expires_at + timedelta(seconds=5))
    ch.insert(
        LEASES_TABLE, [[a.name, 3, a.term, "a", a.written_at, a.expires_at]], column_names=store.COLUMNS
    )
    ch.insert(
        LEASES_TABLE,
        [[late.name, 3, late.term, "b", late.written_at, late.expires_at]],
        column_names=store.COLUMNS,
    )
    observed = store.observe(lease)
    assert observed.at_epoch == 2
    assert observed.latest == LeaseRecord(lease, 3, 4, CONTESTED, b.written_at, late.expires_at)
    assert not won(a, observed) and not won(late, observed)
    for holder in ("a", "b", "c"):
        assert (
            decide(observed.latest, name=lease, me=holder, now=late.expires_at, policy=FAST).move is Move.WAIT
        )
    taken = decide(observed.latest, name=lease, me="a", now=late.expires_at + FAST.clock_skew, policy=FAST)
    assert (
        taken.move is Move.ACQUIRE
        and taken.write is not None
        and (taken.write.epoch, taken.write.term) == (4, 5)
    )


def test_an_append_retried_after_it_took_is_still_won(ch, lease: str) -> None:  # noqa: ANN001
    store = ClickHouseLeaseStore(ch)
    entry = _entry(lease, 1, "a")
    store.append(entry)
    store.append(entry)  # the reply to the first was lost, say
    observed = store.observe(lease)
    assert won(entry, observed) and observed.at_epoch == 1


def test_entries_come_back_exactly_as_written(ch, lease: str) -> None:  # noqa: ANN001
    store = ClickHouseLeaseStore(ch)
    now = store.observe(lease).now
    entry = LeaseRecord(lease, 1, 1, "host:1:ab", now, now + timedelta(milliseconds=800))
    store.append(entry)
    assert store.observe(lease).latest == entry


def test_a_second_contender_waits_while_the_lease_is_held(ch, dsn: str, lease: str) -> None:  # noqa: ANN001
    a = LeaderElection(ClickHouseLeaseStore(ch), lease, "a", FAST)
    b = LeaderElection(ClickHouseLeaseStore(connect(dsn)), lease, "b", FAST)
    lead = a.step()
    assert lead is not None and lead.term == 1
    assert b.step() is None
    assert a.step() is not None  # holding, or renewing: still term 1
    assert a.leadership() is not None and a.leadership().term == 1  # type: ignore[union-attr]


def test_a_lapsed_lease_is_taken_over_in_a_higher_term(ch, dsn: str, lease: str) -> None:  # noqa: ANN001
    a = LeaderElection(ClickHouseLeaseStore(ch), lease, "a", FAST)
    b = LeaderElection(ClickHouseLeaseStore(connect(dsn)), lease, "b", FAST)
    assert a.step() is not None
    time.sleep((FAST.ttl + FAST.clock_skew).total_seconds() + 0.1)  # a stalls: no renewal
    assert a.leadership() is None  # a stopped believing on its own clock
    lead = b.step()
    assert lead is not None and lead.term == 2
    assert a.step() is None


def test_a_released_lease_is_taken_at_once(ch, dsn: str, lease: str) -> None:  # noqa: ANN001
    a = LeaderElection(ClickHouseLeaseStore(ch), lease, "a", FAST)
    b = LeaderElection(ClickHouseLeaseStore(connect(dsn)), lease, "b", FAST)
    assert a.step() is not None
    a.stop(release=True)
    assert a.leadership() is None
    lead = b.step()
    assert lead is not None and lead.term == 2


def test_old_entries_are_pruned_by_the_holder_keeping_the_newest(ch, lease: str) -> None:  # noqa: ANN001
    policy = LeasePolicy(
        ttl=timedelta(seconds=5),
        renew_after=timedelta(milliseconds=1),
        poll=timedelta(milliseconds=10),
        prune_every=6,
        keep_epochs=2,
    )
    holder = LeaderElection(ClickHouseLeaseStore(ch), lease, "a", policy)
    for _ in range(7):  # epoch 1 acquires, 2..7 renew; renewing epoch 6 prunes below epoch 4
        holder.step()
        time.sleep(0.005)
    epochs = ch.query(
        f"SELECT arraySort(groupArray(epoch)) FROM {LEASES_TABLE} WHERE name = {{n:String}}",
        parameters={"n": lease},
    ).result_rows[0][0]
    assert epochs == [4, 5, 6, 7]


def test_contenders_on_threads_with_their_own_clients_never_lead_at_once(ch, dsn: str, lease: str) -> None:  # noqa: ANN001
    beliefs: list[tuple[str, int, float, float]] = []  # holder, term, from, until (time.monotonic)
    evaluations: list[tuple[float, str, int]] = []
    lock = threading.Lock()
    deadline = time.monotonic() + 4.0

    def contend(index: int) -> None:
        rng = random.Random(index)
        election = LeaderElection(ClickHouseLeaseStore(connect(dsn)), lease, f"c{index}", FAST)
        while time.monotonic() < deadline:
            lead = election.step()
            returned = time.monotonic()
            if lead is not None:
                with lock:
                    beliefs.append((lead.holder, lead.term, returned, lead.until))
            for _ in range(3):  # the work a leader does between rounds, gated on leadership at each turn
                current = election.leadership()
                if current is not None:
                    with lock:
                        evaluations.append((time.monotonic(), current.holder, current.term))
                time.sleep(0.02)
            if lead is not None and rng.random() < 0.15:  # the leader stalls past its lease: others take over
                time.sleep((FAST.ttl + FAST.clock_skew).total_seconds() + 0.2)

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    terms = {term for _, term, _, _ in beliefs}
    assert len(terms) >= 2, "no takeover happened: the test did not exercise one"
    for a in beliefs:
        for b in beliefs:
            if a[0] != b[0]:
                assert a[3] <= b[2] or b[3] <= a[2], (
                    f"{a[0]} (term {a[1]}) and {b[0]} (term {b[1]}) led at once"
                )
    holders_of_term: dict[int, set[str]] = {}
    for _, holder, term in evaluations:
        holders_of_term.setdefault(term, set()).add(holder)
    assert all(len(h) == 1 for h in holders_of_term.values())
    evaluations.sort()
    assert [term for _, _, term in evaluations] == sorted(term for _, _, term in evaluations)
    log = ch.query(
        f"SELECT epoch, term, holder FROM {LEASES_TABLE} WHERE name = {{n:String}} ORDER BY epoch",
        parameters={"n": lease},
    ).result_rows
    assert [epoch for epoch, _, _ in log] == list(range(1, len(log) + 1)), "one entry per epoch, none skipped"
    for (_, term_before, holder_before), (_, term_after, holder_after) in zip(log, log[1:], strict=False):
        assert term_after >= term_before
        if holder_after and holder_after != holder_before:
            assert term_after > term_before


def test_the_cluster_lease_table_is_replicated_on_every_node(ch) -> None:  # noqa: ANN001
    ddl = lease_table_ddl(layout=ClusterLayout(cluster="touchpoint", database="tp"))
    formatted = ch.query("SELECT formatQuery({q:String})", parameters={"q": ddl}).result_rows[0][0]
    assert "CREATE TABLE IF NOT EXISTS tp.touchpoint_leases ON CLUSTER touchpoint" in formatted
    assert (
        "ReplicatedMergeTree('/clickhouse/tables/all/tp/touchpoint_leases', '{shard}-{replica}')" in formatted
    )
    assert "replicated_deduplication_window = 1000" in formatted


def test_the_start_hook_contends_for_the_alert_lease_and_releases_it_at_shutdown(dsn: str, ch) -> None:  # noqa: ANN001
    from app.server import open_runtime
    from app.settings import Settings

    runtime = open_runtime(Settings(db=dsn, evaluate_alerts=True), start_hooks=[start_hook])
    try:
        election = runtime.ctx.parts["leader"]
        deadline = time.monotonic() + 10
        while election.leadership() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert election.leadership() is not None
    finally:
        runtime.shutdown()
    latest = ClickHouseLeaseStore(ch).observe(ALERTS_LEASE).latest
    assert latest is not None and latest.released


def test_without_alert_evaluation_nobody_contends(dsn: str) -> None:
    from app.server import open_runtime
    from app.settings import Settings

    runtime = open_runtime(Settings(db=dsn, evaluate_alerts=False), start_hooks=[start_hook])
    try:
        assert "leader" not in runtime.ctx.parts
    finally:
        runtime.shutdown()
