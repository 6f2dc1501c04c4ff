"""The dashboard's shared states: a live window is computed once per refresh for every viewer and served
stale-while-revalidating; a settled past window is computed once; an edited blueprint is never drawn with
the old figures. The computation is a plain function here: what is tested is when it runs."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from ui_states import state

from app.pages._live_state import LiveStates
from app.pages._sources import remembered

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class Counting:
    """Computes a state and records each window it was asked for; `gate` holds a computation back."""

    def __init__(self) -> None:
        self.calls: list[tuple[datetime, datetime]] = []
        self.background: list[bool] = []
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, blueprint: Any, start: datetime, end: datetime, now: datetime, background: bool) -> Any:
        self.gate.wait(5)
        self.calls.append((start, end))
        self.background.append(background)
        return state(score=float(len(self.calls)))


BLUEPRINT = SimpleNamespace(id="order", steps=[], name="Online order")


def test_viewers_within_one_refresh_share_one_computation() -> None:
    compute = Counting()
    states = LiveStates(compute, fresh_s=60)

    first = states.live(BLUEPRINT, 3600, NOW)
    second = states.live(BLUEPRINT, 3600, NOW + timedelta(seconds=1))

    assert first is second and len(compute.calls) == 1
    start, end = compute.calls[0]
    assert end - start == timedelta(hours=1)


def test_a_stale_live_state_is_served_at_once_while_the_next_is_computed() -> None:
    compute = Counting()
    states = LiveStates(compute, fresh_s=0.5)
    old = states.live(BLUEPRINT, 900, NOW)
    time.sleep(0.6)
    compute.gate.clear()

    served = states.live(BLUEPRINT, 900, NOW)  # returns while the refresh waits at the gate
    compute.gate.set()
    deadline = time.monotonic() + 5
    while len(compute.calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)

    assert served is old
    assert states.live(BLUEPRINT, 900, NOW).journey.score == 2.0
    assert compute.background == [False, True]  # the first viewer waited; the refresh ran behind them


def test_a_settled_past_window_is_computed_once() -> None:
    compute = Counting()
    states = LiveStates(compute, fresh_s=0.5)
    end = NOW - timedelta(hours=2)

    states.past(BLUEPRINT, 3600, end, NOW)
    time.sleep(0.6)
    states.past(BLUEPRINT, 3600, end, NOW)

    assert compute.calls == [(end - timedelta(hours=1), end)]


def test_an_edited_blueprint_gets_its_own_state() -> None:
    compute = Counting()
    states = LiveStates(compute, fresh_s=60)

    states.live(BLUEPRINT, 3600, NOW)
    states.live(SimpleNamespace(id="order", steps=[], name="Web order"), 3600, NOW)

    assert len(compute.calls) == 2


def test_several_states_are_asked_for_at_once_and_a_failure_comes_back_as_its_error() -> None:
    def compute(blueprint: Any, start: datetime, end: datetime, now: datetime, background: bool) -> Any:
        if blueprint.id == "broken":
            raise RuntimeError("ClickHouse refused")
        return state()

    states = LiveStates(compute, fresh_s=60)

    good, bad = states.many([(BLUEPRINT, 3600, None), (SimpleNamespace(id="broken"), 3600, None)], NOW)

    assert good.blueprint_id == "order"
    assert isinstance(bad, RuntimeError) and str(bad) == "ClickHouse refused"


class Overlapping:
    """Computes a state, counting how many computations run at once; `gate` holds every one back."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.background: list[bool] = []
        self.gate = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, blueprint: Any, start: datetime, end: datetime, now: datetime, background: bool) -> Any:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            if background:
                self.gate.wait(5)
            with self._lock:
                self.background.append(background)
            return state()
        finally:
            with self._lock:
                self.running -= 1


def test_work_nobody_waits_for_runs_one_computation_at_a_time() -> None:
    compute = Overlapping()
    states = LiveStates(compute, fresh_s=60)

    for hours in (1, 2, 3):
        states.prefetch(BLUEPRINT, 3600, NOW - timedelta(hours=hours), NOW)
    time.sleep(0.2)
    compute.gate.set()
    deadline = time.monotonic() + 5
    while len(compute.background) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)

    assert compute.most == 1 and compute.background == [True, True, True]


def test_a_viewer_does_not_wait_behind_queued_background_work() -> None:
    compute = Overlapping()
    states = LiveStates(compute, fresh_s=60)
    states.prefetch(BLUEPRINT, 3600, NOW - timedelta(hours=2), NOW)  # holds the background queue at the gate
    states.prefetch(BLUEPRINT, 3600, None, NOW)  # queued behind it
    time.sleep(0.1)

    served = states.live(BLUEPRINT, 3600, NOW)  # would wait for the gate if it stayed queued

    assert served.blueprint_id == "order"
    assert compute.background == [False]  # computed for the viewer, at full speed, while the gate is shut
    compute.gate.set()


def test_a_question_asked_again_while_it_is_being_answered_waits_for_that_answer() -> None:
    ctx = SimpleNamespace(parts={})
    gate, computed, answers = threading.Event(), [], []

    def count_matches() -> int:
        computed.append(len(computed) + 1)
        gate.wait(5)
        return computed[-1]

    def ask() -> None:
        answers.append(remembered(ctx, "counts", "draft", count_matches, ttl_s=60))

    askers = [threading.Thread(target=ask) for _ in range(2)]
    askers[0].start()
    while not computed:
        time.sleep(0.01)
    askers[1].start()
    time.sleep(0.1)
    gate.set()
    for asker in askers:
        asker.join(5)

    assert computed == [1]
    assert answers == [1, 1]
