"""Blueprint states for the dashboard, computed once per refresh interval for every viewer.

A live window ("the last hour") is recomputed at most once per `fresh_s`: the first viewer after that waits
for nothing — they get the previous state while a worker thread computes the next (stale-while-revalidate);
only the very first request for a window waits for its computation. A past window (playback) is computed
once and kept. Keys carry the blueprint's version, so an edited blueprint is never drawn with old figures.

Computations nobody waits for (refreshes, prefetches, the previous period a page peeks at) run one at a time,
on one core: together they would take every core of a small machine just as a page is being opened. A
viewer who asks for a window that is still queued behind them has it computed at once, at full speed.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from blueprints.state_model import BlueprintState

# compute(blueprint, start, end, now, background): `background` is True when nobody waits for the answer (a
# refresh, a prefetch), so the computation may yield the machine to the requests people are waiting on.
Compute = Callable[[Any, datetime, datetime, datetime, bool], BlueprintState]
SETTLED_S = 300.0  # a window that ended this long ago no longer changes (late spans have arrived)


@dataclass
class _Entry:
    state: BlueprintState | None = None
    computed_at: float = 0.0
    pending: Future[BlueprintState] | None = None
    background: bool = False  # whether `pending` runs in the background queue


class LiveStates:
    """A bounded cache of states keyed by blueprint version and window, refreshed in the background."""

    def __init__(self, compute: Compute, fresh_s: float, keep: int = 256, workers: int = 2) -> None:
        self._compute = compute
        self._fresh_s = max(0.5, fresh_s)
        self._keep = keep
        self._entries: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._waited = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dashboard-state")
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dashboard-state-background")

    def live(self, blueprint: Any, length_s: float, now: datetime) -> BlueprintState:
        """The state of the `length_s` seconds up to `now`; at most `fresh_s` old once first computed."""
        return _resolve(self._ask(blueprint, length_s, None, now))

    def past(self, blueprint: Any, length_s: float, end: datetime, now: datetime) -> BlueprintState:
        """The state of the `length_s` seconds up to `end`; kept for good once the window has settled."""
        return _resolve(self._ask(blueprint, length_s, end, now))

    def many(
        self, asks: Sequence[tuple[Any, float, datetime | None]], now: datetime
    ) -> list[BlueprintState | Exception]:
        """Several states at once (blueprint, length, end or None for live), computed side by side; a state
        that cannot be computed is returned as its exception."""
        pending = [self._ask(blueprint, length_s, end, now) for blueprint, length_s, end in asks]
        results: list[BlueprintState | Exception] = []
        for item in pending:
            try:
                results.append(_resolve(item))
            except Exception as exc:  # noqa: BLE001 - handed back for the caller to show
                results.append(exc)
        return results

    def prefetch(self, blueprint: Any, length_s: float, end: datetime | None, now: datetime) -> None:
        """Start computing a window in the background (playback's next frame, a start-up warm-up)."""
        self._ask(blueprint, length_s, end, now, waiting=False)

    def peek(self, blueprint: Any, length_s: float, end: datetime | None, now: datetime) -> BlueprintState | None:
        """The state if one is at hand (however old), else None — and it is being computed for next time."""
        found = self._ask(blueprint, length_s, end, now, waiting=False)
        return None if isinstance(found, Future) else found

    def _ask(
        self, blueprint: Any, length_s: float, end: datetime | None, now: datetime, waiting: bool = True
    ) -> BlueprintState | Future[BlueprintState]:
        version = blueprint_version(blueprint)
        if end is None:
            key: tuple[Any, ...] = ("live", version, round(length_s))
            fresh_s = self._fresh_s
        else:
            key = ("past", version, round(length_s), end.isoformat())
            fresh_s = float("inf") if (now - end).total_seconds() > SETTLED_S else self._fresh_s
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry()
                self._evict()
            self._entries.move_to_end(key)
            if entry.state is not None:
                if time.monotonic() - entry.computed_at > fresh_s and entry.pending is None:
                    self._start(entry, blueprint, length_s, end, now, background=True)
                return entry.state
            if entry.pending is not None and not (waiting and entry.background and entry.pending.cancel()):
                return entry.pending  # running already (or someone waits for it): wait for that one
            return self._start(entry, blueprint, length_s, end, now, background=not waiting)

    def _start(
        self,
        entry: _Entry,
        blueprint: Any,
        length_s: float,
        end: datetime | None,
        now: datetime,
        background: bool,
    ) -> Future[BlueprintState]:
        def run() -> BlueprintState:
            at = end or now
            if end is None:  # a refresh computes up to the moment it runs, not the moment it was asked for
                at = now + timedelta(seconds=time.monotonic() - asked)
            try:
                state = self._compute(blueprint, at - timedelta(seconds=length_s), at, max(at, now), background)
            except BaseException:
                with self._lock:
                    entry.pending = None
                raise
            with self._lock:
                entry.state, entry.computed_at, entry.pending = state, time.monotonic(), None
            return state

        asked = time.monotonic()
        entry.pending = (self._background if background else self._waited).submit(run)
        entry.background = background
        return entry.pending

    def _evict(self) -> None:
        while len(self._entries) > self._keep:
            oldest, entry = next(iter(self._entries.items()))
            if entry.pending is not None:
                break
            del self._entries[oldest]


def _resolve(item: BlueprintState | Future[BlueprintState]) -> BlueprintState:
    return item.result() if isinstance(item, Future) else item


def blueprint_version(blueprint: Any) -> tuple[str, str]:
    """(id, a hash of its content): any edit to a blueprint gives a new version."""
    return str(blueprint.id), hashlib.sha1(repr(blueprint).encode(), usedforsecurity=False).hexdigest()
