"""The lease's decision logic, pure: every state a contender can find the lease in, and a simulation of
many contenders interleaving their reads and appends against an ideal log, checked for safety."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.leader import (
    Decision,
    LeaderElection,
    LeasePolicy,
    LeaseRecord,
    Move,
    Observation,
    decide,
    lead_until,
    won,
)

POLICY = LeasePolicy(
    ttl=timedelta(seconds=15), renew_after=timedelta(seconds=5), clock_skew=timedelta(seconds=1)
)
T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def entry(epoch: int, term: int, holder: str, written: float, expires: float) -> LeaseRecord:
    return LeaseRecord("alerts", epoch, term, holder, s(written), s(expires))


def me(latest: LeaseRecord | None, at: float, stepping_down: bool = False) -> Decision:
    return decide(latest, name="alerts", me="me", now=s(at), policy=POLICY, stepping_down=stepping_down)


# ---------------------------------------------------------------- every state


def test_a_lease_nobody_ever_held_is_acquired_in_term_one() -> None:
    assert me(None, at=0) == Decision(Move.ACQUIRE, entry(1, 1, "me", 0, 15))


def test_my_fresh_lease_is_held_without_writing() -> None:
    assert me(entry(4, 2, "me", 0, 15), at=4.999) == Decision(Move.HOLD)


def test_my_lease_is_renewed_in_the_same_term_once_it_is_renew_after_old() -> None:
    assert me(entry(4, 2, "me", 0, 15), at=5) == Decision(Move.RENEW, entry(5, 2, "me", 5, 20))


def test_my_lapsed_lease_is_acquired_again_in_a_new_term() -> None:
    assert me(entry(4, 2, "me", 0, 15), at=15) == Decision(Move.ACQUIRE, entry(5, 3, "me", 15, 30))


def test_another_holders_live_lease_is_waited_for() -> None:
    assert me(entry(4, 2, "other", 0, 15), at=14.999) == Decision(Move.WAIT)


def test_another_holders_expired_lease_is_waited_for_until_the_clock_skew_has_passed_too() -> None:
    assert me(entry(4, 2, "other", 0, 15), at=15.999) == Decision(Move.WAIT)
    assert me(entry(4, 2, "other", 0, 15), at=16) == Decision(Move.ACQUIRE, entry(5, 3, "me", 16, 31))


def test_a_released_lease_is_acquired_at_once_in_a_new_term() -> None:
    assert me(entry(7, 3, "", 10, 10), at=10) == Decision(Move.ACQUIRE, entry(8, 4, "me", 10, 25))


def test_stepping_down_releases_my_live_lease_in_the_same_term() -> None:
    assert me(entry(4, 2, "me", 0, 15), at=3, stepping_down=True) == Decision(
        Move.RELEASE, entry(5, 2, "", 3, 3)
    )


@pytest.mark.parametrize(
    "latest",
    [None, entry(4, 2, "other", 0, 15), entry(4, 2, "me", 0, 15), entry(4, 2, "", 0, 0)],
    ids=["never held", "held by another", "mine but lapsed", "released"],
)
def test_stepping_down_without_a_live_lease_of_mine_writes_nothing(latest: LeaseRecord | None) -> None:
    assert me(latest, at=15, stepping_down=True) == Decision(Move.IDLE)


def test_an_append_is_won_only_if_it_is_the_newest_entry_alone_at_its_epoch() -> None:
    written = entry(5, 3, "me", 16, 31)
    assert won(written, Observation(written, s(16.01)))
    assert not won(written, Observation(entry(5, 3, "other", 16, 31), s(16.01)))
    assert not won(written, Observation(entry(6, 3, "me", 17, 32), s(17.01)))
    assert not won(written, Observation(written, s(16.01), at_epoch=2))
    assert not won(written, Observation(None, s(16.01), at_epoch=0))


def test_finding_an_older_entry_of_mine_at_the_same_epoch_is_not_winning() -> None:
    # Misled by a stale read, I try epoch 1 again in term 1; the log's epoch 1 is my entry from long ago.
    old = entry(1, 1, "me", 0, 15)
    written = entry(1, 1, "me", 40, 55)
    assert not won(written, Observation(old, s(40.01)))


def test_leadership_ends_when_the_lease_does_counted_from_before_the_read() -> None:
    # Read at server time 20 (started at monotonic 100.0) an entry expiring at 31: 11 s were left.
    assert lead_until(entry(5, 3, "me", 16, 31), s(20), started=100.0) == 111.0


@pytest.mark.parametrize(
    ("ttl", "renew_after", "poll", "message"),
    [
        (10, 9, 1, r"renew_after \(9.0s\) \+ poll \(1.0s\) must be shorter than ttl \(10.0s\)"),
        (10, 0, 1, "poll and renew_after must be positive"),
    ],
)
def test_a_policy_that_would_let_the_holder_lapse_is_refused(
    ttl: int, renew_after: int, poll: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        LeasePolicy(
            ttl=timedelta(seconds=ttl),
            renew_after=timedelta(seconds=renew_after),
            poll=timedelta(seconds=poll),
        )


_states = st.one_of(
    st.none(),
    st.builds(
        lambda epoch, term, holder, written, length: entry(epoch, term, holder, written, written + length),
        st.integers(1, 10**6),
        st.integers(1, 10**6),
        st.sampled_from(["me", "other", ""]),
        st.floats(0, 100),
        st.floats(0, 30),
    ),
)


@given(latest=_states, at=st.floats(0, 200), stepping_down=st.booleans())
def test_every_write_takes_the_next_epoch_and_changes_term_exactly_when_the_holder_changes(
    latest: LeaseRecord | None, at: float, stepping_down: bool
) -> None:
    decision = me(latest, at, stepping_down)
    assert (decision.write is not None) == (decision.move in (Move.ACQUIRE, Move.RENEW, Move.RELEASE))
    if decision.write is None:
        return
    previous_epoch, previous_term = (latest.epoch, latest.term) if latest else (0, 0)
    assert decision.write.epoch == previous_epoch + 1
    assert decision.write.term == previous_term + (1 if decision.move is Move.ACQUIRE else 0)
    assert decision.write.written_at == s(at)
    if decision.move is not Move.RELEASE:
        assert decision.write.holder == "me"
        assert decision.write.expires_at == s(at) + POLICY.ttl


@given(latest=_states, at=st.floats(0, 200))
def test_a_live_lease_of_someone_else_is_never_taken(latest: LeaseRecord | None, at: float) -> None:
    decision = me(latest, at)
    if latest is not None and latest.holder == "other" and s(at) < latest.expires_at + POLICY.clock_skew:
        assert decision.move is Move.WAIT


# ---------------------------------------------------------------- many contenders, interleaved


@dataclass
class World:
    """A shared clock, an ideal lease log (one entry per epoch), and a scheduler choosing interleavings."""

    draw: st.DataObject
    clock: float = 0.0
    log: list[LeaseRecord] = field(default_factory=list)
    stale_reads: bool = False
    contenders: list[LeaderElection] = field(default_factory=list)
    busy: set[str] = field(default_factory=set)
    beliefs: list[tuple[str, int, float, float]] = field(default_factory=list)  # holder, term, from, until

    def now(self) -> float:
        return self.clock

    def tick(self) -> None:
        self.clock += self.draw.draw(st.sampled_from([0.0, 0.001, 0.05, 0.4]), label="latency")

    def maybe_interleave(self) -> None:
        """Before a store call takes effect, let other contenders run whole rounds."""
        while self.draw.draw(st.integers(0, 3), label="interleave") == 3:
            idle = [c for c in self.contenders if c.holder not in self.busy]
            if not idle:
                return
            self.round(self.draw.draw(st.sampled_from(idle), label="who"))

    def round(self, contender: LeaderElection) -> None:
        self.busy.add(contender.holder)
        try:
            lead = contender.step()
        finally:
            self.busy.discard(contender.holder)
        if lead is not None:
            self.beliefs.append((lead.holder, lead.term, self.clock, lead.until))


@dataclass
class IdealStore:
    """The lease log as a list, appending only if the epoch is still free, with the world's clock."""

    world: World

    def observe(self, name: str) -> Observation:
        self.world.maybe_interleave()
        self.world.tick()
        log = self.world.log
        if log and self.world.stale_reads:  # a lagging replica: the newest entries are not there yet
            log = log[: len(log) - self.world.draw.draw(st.integers(0, min(3, len(log))), label="lag")]
        latest = log[-1] if log else None
        return Observation(latest, T0 + timedelta(seconds=self.world.clock), 1 if latest else 0)

    def append(self, record: LeaseRecord) -> None:
        self.world.maybe_interleave()
        self.world.tick()
        if all(entry.epoch != record.epoch for entry in self.world.log):
            assert record.epoch == len(self.world.log) + 1, "an append skipped an epoch"
            self.world.log.append(record)

    def prune(self, name: str, below_epoch: int) -> None:
        pass


@settings(max_examples=150, deadline=None)
@given(draw=st.data(), contenders=st.integers(2, 4), stale_reads=st.booleans())
def test_interleaved_contenders_never_lead_at_the_same_time_and_terms_only_grow(
    draw: st.DataObject, contenders: int, stale_reads: bool
) -> None:
    world = World(draw=draw, stale_reads=stale_reads)
    store = IdealStore(world)
    policy = LeasePolicy(
        ttl=timedelta(seconds=1.5),
        renew_after=timedelta(seconds=0.5),
        clock_skew=timedelta(seconds=0),
        poll=timedelta(seconds=0.2),
    )
    world.contenders = [
        LeaderElection(store, "alerts", f"c{i}", policy, world.now) for i in range(contenders)
    ]
    for _ in range(draw.draw(st.integers(2, 40), label="rounds")):
        world.round(draw.draw(st.sampled_from(world.contenders), label="who"))
        world.clock += draw.draw(st.sampled_from([0.0, 0.2, 0.7, 2.0]), label="pause")
        if draw.draw(st.integers(0, 9), label="step down") == 9:
            leaving = draw.draw(st.sampled_from(world.contenders), label="leaving")
            world.busy.add(leaving.holder)
            leaving.stop(release=True)
            world.contenders.remove(leaving)
            world.beliefs = [  # a contender that stepped down stopped believing when it handed the lease back
                (h, t, f, min(u, world.clock) if h == leaving.holder else u) for h, t, f, u in world.beliefs
            ]
            if len(world.contenders) < 2:
                break

    # The simulated clock is a float sum and the store's times are microseconds, so the same instant can
    # come out a few 1e-15 s apart by two routes; a nanosecond is far below any step of this world (1 ms).
    slack = 1e-9
    for a_holder, a_term, a_from, a_until in world.beliefs:
        for b_holder, b_term, b_from, b_until in world.beliefs:
            if a_holder != b_holder:
                assert a_until <= b_from + slack or b_until <= a_from + slack, (
                    f"{a_holder} (term {a_term}) and {b_holder} (term {b_term}) both led at once"
                )
    for before, after in zip(world.log, world.log[1:], strict=False):
        assert after.term >= before.term
        if after.holder and after.holder != before.holder:
            assert after.term > before.term
    terms_by_holder: dict[int, set[str]] = {}
    for holder, term, _, _ in world.beliefs:
        terms_by_holder.setdefault(term, set()).add(holder)
    assert all(len(holders) == 1 for holders in terms_by_holder.values())
