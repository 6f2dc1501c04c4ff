"""A discrete-event kernel: processes over simulated time, and staffed pools that customers queue for.

Time is a float of seconds since the start of the simulation. Nothing here reads a clock or sleeps:
the caller decides how far simulated time may advance (`run_until`), which is what lets the same
journeys play in real time or backfill a past hour in a second.

A process is a generator that yields commands and is resumed with their answer:

- `Delay(seconds)`: resumed (with None) that much simulated time later;
- `Request` from `Pool.request(...)`: resumed with a staff id when someone is free, or with None
  if the customer's patience ran out first (the request then left the queue).

Events at the same time run in the order they were scheduled, so a run is reproducible.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

Process = Generator[Any, Any, None]


@dataclass(frozen=True, slots=True)
class Delay:
    """Resume the yielding process after `seconds` of simulated time (>= 0)."""

    seconds: float


class Kernel:
    """The event queue; `now` is the simulated time of the event being run."""

    def __init__(self) -> None:
        self.now = 0.0
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._sequence = 0

    def at(self, time: float, action: Callable[[], None]) -> None:
        """Run `action` at simulated `time` (never before `now`)."""
        self._sequence += 1
        heapq.heappush(self._events, (max(time, self.now), self._sequence, action))

    def spawn(self, process: Process, on_done: Callable[[], None] | None = None) -> None:
        """Start `process` now; `on_done` runs when it returns."""
        self._resume(process, None, on_done)

    def run_until(self, time: float) -> None:
        """Run every event due at or before `time`, then leave `now` at `time`."""
        while self._events and self._events[0][0] <= time:
            due, _, action = heapq.heappop(self._events)
            self.now = due
            action()
        self.now = max(self.now, time)

    def _resume(self, process: Process, answer: Any, on_done: Callable[[], None] | None) -> None:
        try:
            command = process.send(answer)
        except StopIteration:
            if on_done is not None:
                on_done()
            return
        if isinstance(command, Delay):
            self.at(self.now + max(0.0, command.seconds), lambda: self._resume(process, None, on_done))
        elif isinstance(command, Request):
            command.bind(lambda grant: self._resume(process, grant, on_done))
        else:
            raise TypeError(f"a process yielded {command!r}; expected Delay or Request")


class Request:
    """A customer waiting in a pool's queue; answered once, with a staff id or None (gave up)."""

    def __init__(self, pool: Pool, patience: float) -> None:
        self.pool = pool
        self.patience = patience
        self.enqueued_at = pool.kernel.now
        self._answer: Callable[[str | None], None] | None = None
        self._done = False

    def bind(self, answer: Callable[[str | None], None]) -> None:
        self._answer = answer
        self.pool._enqueue(self)

    def settle(self, grant: str | None) -> None:
        if self._done:
            return
        self._done = True
        answer = self._answer
        assert answer is not None
        # Resume through the event queue, not from inside the pool's bookkeeping.
        self.pool.kernel.at(self.pool.kernel.now, lambda: answer(grant))

    @property
    def settled(self) -> bool:
        return self._done


class Pool:
    """Named staff (agents, pickers, clerks) serving a FIFO queue; capacity can change while it runs.

    Lowering the capacity sends no one home mid-task: it only stops new work until fewer than
    `capacity` staff are busy, which is how a queue builds when people are called away.
    """

    def __init__(self, kernel: Kernel, name: str, staff_prefix: str, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"pool {name!r} needs at least 1 staff member, got {capacity}")
        self.kernel = kernel
        self.name = name
        self.base_capacity = capacity
        self.capacity = capacity
        self._prefix = staff_prefix
        self._idle: list[int] = list(range(1, capacity + 1))
        self._hired = capacity
        self._busy: dict[int, float] = {}
        self._waiting: deque[Request] = deque()
        self.busy_seconds = 0.0

    @property
    def waiting(self) -> int:
        """How many customers are queued right now."""
        return sum(1 for request in self._waiting if not request.settled)

    @property
    def busy(self) -> int:
        """How many staff are serving someone right now."""
        return len(self._busy)

    def request(self, patience: float) -> Request:
        """Queue for the next free staff member; gives up after `patience` seconds of waiting."""
        return Request(self, patience)

    def release(self, staff_id: str) -> None:
        """Staff member `staff_id` is free again."""
        number = int(staff_id.rsplit("-", 1)[1])
        self.busy_seconds += self.kernel.now - self._busy.pop(number, self.kernel.now)
        heapq.heappush(self._idle, number)
        self._dispatch()

    def set_capacity(self, capacity: int) -> None:
        """From now on at most `capacity` (>= 1) staff take new work."""
        self.capacity = max(1, capacity)
        while self._hired < self.capacity:
            self._hired += 1
            heapq.heappush(self._idle, self._hired)
        self._dispatch()

    def _enqueue(self, request: Request) -> None:
        self._waiting.append(request)
        if request.patience != float("inf"):
            self.kernel.at(self.kernel.now + request.patience, lambda: self._give_up(request))
        self._dispatch()

    def _give_up(self, request: Request) -> None:
        if not request.settled:
            request.settle(None)

    def _dispatch(self) -> None:
        while self._waiting and len(self._busy) < self.capacity and self._idle:
            request = self._waiting.popleft()
            if request.settled:
                continue
            number = heapq.heappop(self._idle)
            self._busy[number] = self.kernel.now
            request.settle(f"{self._prefix}-{number:03d}")
