"""Delivering notifications in the background: one worker per destination, retries with backoff, a log.

A slow or failing destination only delays its own queue: evaluation hands notifications over and goes on.
Every attempt is reported to `on_attempt` (the delivery log), including the last one of a message given up on.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from alerts.notify.base import DeliveryOutcome, DeliveryResult, Notification, Notifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """Waits between attempts: `initial_s`, times `factor` each time, at most `max_s`; `attempts` in all."""

    initial_s: float = 2.0
    factor: float = 2.0
    max_s: float = 300.0
    attempts: int = 6

    def delay_s(self, attempt: int, asked_s: float | None = None) -> float:
        """Seconds to wait after failed attempt `attempt` (1-based); a destination's Retry-After wins."""
        computed = min(self.max_s, self.initial_s * self.factor ** (attempt - 1))
        return min(self.max_s, asked_s) if asked_s is not None else computed


@dataclass(frozen=True)
class DeliveryAttempt:
    """One try at sending one notification, as the delivery log keeps it."""

    at: datetime
    notification_id: str
    episode_id: str
    destination: str
    attempt: int
    outcome: str  # delivered | retry | failed | gave_up
    status: int | None
    detail: str
    duration_ms: float


AttemptHook = Callable[[DeliveryAttempt], None]


class Dispatcher:
    """Sends notifications through their destination's notifier, retrying what is worth retrying."""

    def __init__(
        self,
        notifiers: Mapping[str, Notifier],
        on_attempt: AttemptHook | None = None,
        backoff: Backoff | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._on_attempt = on_attempt or (lambda attempt: None)
        self._backoff = backoff or Backoff()
        self._clock = clock
        self._queues = {name: _DestinationQueue(name, notifier, self) for name, notifier in notifiers.items()}

    def submit(self, notifications: Iterable[Notification]) -> None:
        """Queue each notification for its destination; unknown destinations are logged and dropped."""
        for notification in notifications:
            queue = self._queues.get(notification.destination)
            if queue is None:
                log.error(
                    "notification for an unknown destination", extra={"destination": notification.destination}
                )
                continue
            queue.put(notification, attempt=1, due=time.monotonic())

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Block until every queue is empty and no send is in progress; False on timeout."""
        deadline = time.monotonic() + timeout_s
        return all(q.wait_idle(deadline) for q in self._queues.values())

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the workers; messages still waiting for a retry are dropped (and logged)."""
        for queue in self._queues.values():
            queue.stop()
        for queue in self._queues.values():
            queue.join(timeout_s)

    def _attempt(
        self, name: str, notifier: Notifier, notification: Notification, attempt: int
    ) -> float | None:
        """Send once, log it; the delay before the next attempt, or None when done."""
        started = time.monotonic()
        try:
            result = notifier.send(notification)
        except Exception as exc:  # noqa: BLE001 - a notifier bug must not kill the worker
            log.exception("notifier raised", extra={"destination": name})
            result = DeliveryResult(DeliveryOutcome.RETRY, None, f"{type(exc).__name__}: {exc}")
        elapsed_ms = (time.monotonic() - started) * 1000
        last = attempt >= self._backoff.attempts
        outcome = str(result.outcome)
        if result.retryable and last:
            outcome = "gave_up"
        self._on_attempt(
            DeliveryAttempt(
                self._clock(),
                notification.id,
                notification.episode.id,
                name,
                attempt,
                outcome,
                result.status,
                result.detail,
                round(elapsed_ms, 1),
            )
        )
        if result.outcome is DeliveryOutcome.DELIVERED:
            return None
        level = logging.WARNING if result.retryable and not last else logging.ERROR
        log.log(
            level,
            "notification not delivered",
            extra={
                "destination": name,
                "attempt": attempt,
                "outcome": outcome,
                "status": result.status,
                "detail": result.detail,
            },
        )
        if not result.retryable or last:
            return None
        return self._backoff.delay_s(attempt, result.retry_after_s)


class _DestinationQueue:
    """One destination's pending messages, in due order, worked by one thread."""

    def __init__(self, name: str, notifier: Notifier, dispatcher: Dispatcher) -> None:
        self.name = name
        self._notifier = notifier
        self._dispatcher = dispatcher
        self._heap: list[tuple[float, int, int, Notification]] = []
        self._seq = 0
        self._busy = False
        self._stopping = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"notify-{name}", daemon=True)
        self._thread.start()

    def put(self, notification: Notification, attempt: int, due: float) -> None:
        with self._cond:
            self._seq += 1
            heapq.heappush(self._heap, (due, self._seq, attempt, notification))
            self._cond.notify_all()

    def wait_idle(self, deadline: float) -> bool:
        with self._cond:
            while self._heap or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            if self._heap:
                log.warning(
                    "notifications dropped at shutdown",
                    extra={"destination": self.name, "count": len(self._heap)},
                )
            self._heap.clear()
            self._cond.notify_all()

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = None if not self._heap else max(0.0, self._heap[0][0] - time.monotonic())
                    self._cond.wait(wait)
                if self._stopping:
                    return
                _, _, attempt, notification = heapq.heappop(self._heap)
                self._busy = True
            try:
                delay = self._dispatcher._attempt(self.name, self._notifier, notification, attempt)
                if delay is not None:
                    self.put(notification, attempt + 1, time.monotonic() + delay)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
