"""The alert engine inside `touchpoint serve`: every N seconds, evaluate → pipeline → hand over notifications.

`run_once(now)` is one cycle at an instant of your choosing (tests and benchmarks use simulated time);
`start()` runs cycles on a background thread against the wall clock. A failing cycle is logged and the next
one runs on time; notifications go to the dispatcher's per-destination queues, so a failing destination never
holds evaluation up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.book import AlertBook
from alerts.cycle import Cycle
from alerts.evaluate import evaluate
from alerts.minutes import MinuteCounts
from alerts.notify.base import DestinationBase
from alerts.notify.dispatch import AttemptHook, Backoff, Dispatcher
from alerts.rule_source import RuleContext, RuleSource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineStatus:
    """How the last cycle went."""

    at: datetime | None = None
    elapsed_ms: float = 0.0
    evaluate_ms: float = 0.0
    queries: int = 0
    rules: int = 0
    signals: int = 0
    notifications: int = 0
    failures: dict[str, str] = field(default_factory=dict)  # rule id -> why it was not evaluated
    problems: tuple[str, ...] = ()
    error: str | None = None


class AlertEngine:
    """Evaluates rules on a schedule and keeps the alert book up to date."""

    def __init__(
        self,
        book: AlertBook,
        source: RuleSource,
        client: Callable[[], Any],
        interval_s: float = 5.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        backoff: Backoff | None = None,
        on_attempt: AttemptHook | None = None,
        dry_run: tuple[DestinationBase, ...] = (),
        journeys_every: timedelta = timedelta(seconds=30),
        leading: Callable[[], bool] | None = None,
        shared_store: bool = False,
    ) -> None:
        """`dry_run` destinations get notifications planned (they show in each cycle) but never sent.
        Journey rules (bottleneck, conformance, drop-off) are evaluated at most every `journeys_every`.

        `leading` says whether this process holds the evaluation lease: the scheduled loop evaluates only
        while it does (several gunicorn workers, one evaluator). With `shared_store`, other processes change
        alerts too (people acknowledging through another worker), so the loop reloads the book from the
        store before every cycle; otherwise only when it takes the lease over."""
        self.book = book
        self.dry_run = dry_run
        self.source = source
        self.interval_s = interval_s
        self._client = client
        self._clock = clock
        self.backoff = backoff  # retry policy of the notification workers
        self._on_attempt = on_attempt or book.store.log_delivery
        self.minutes = MinuteCounts()  # long windows from per-minute counts
        self.journeys_every = journeys_every
        self._journeys_at: datetime | None = None
        self._dispatcher: Dispatcher | None = None
        self._dispatcher_key: tuple[Any, ...] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._leading = leading
        self._shared_store = shared_store
        self._led_last_cycle = True  # the book was loaded when the engine was built
        self.status = EngineStatus()

    def run_once(self, now: datetime | None = None) -> Cycle:
        """One full cycle at `now` (default: the clock); returns the finished cycle."""
        now = now or self._clock()
        started = time.perf_counter()
        context = self.source.current()
        families = {"spans"}
        if (
            self._journeys_at is None
            or now - self._journeys_at >= self.journeys_every
            or now < self._journeys_at
        ):
            families.add(
                "journeys"
            )  # journey rules (queues, paths, drop-off) move in minutes: not every cycle
            self._journeys_at = now
        evaluation = evaluate(
            self._client(), context.watched, context.rules.enabled(), now, self.minutes, frozenset(families)
        )
        destinations = (
            tuple(d for d in context.rules.destinations if d.id in context.notifiers) + self.dry_run
        )
        cycle = self.book.cycle(
            Cycle(
                now=now,
                rules=context.rules.by_id(),
                signals=evaluation.signals,
                evaluated=evaluation.evaluated,
                impact=context.impact,
                destinations=destinations,
            )
        )
        to_send = [n for n in cycle.notifications if n.destination in context.notifiers]
        if to_send:
            self._dispatcher_for(context).submit(to_send)
        self.status = EngineStatus(
            now,
            round((time.perf_counter() - started) * 1000, 1),
            evaluation.elapsed_ms,
            evaluation.queries,
            len(context.rules.rules),
            len(evaluation.signals),
            len(cycle.notifications),
            dict(evaluation.failures),
            context.problems,
        )
        return cycle

    def _dispatcher_for(self, context: RuleContext) -> Dispatcher:
        key = tuple(sorted((k, id(v)) for k, v in context.notifiers.items()))
        if self._dispatcher is None or key != self._dispatcher_key:
            if self._dispatcher is not None:
                self._dispatcher.close()
            self._dispatcher = Dispatcher(context.notifiers, self._on_attempt, self.backoff, self._clock)
            self._dispatcher_key = key
        return self._dispatcher

    def wait_for_deliveries(self, timeout_s: float = 10.0) -> bool:
        """Block until every queued notification was delivered or given up on (tests)."""
        return self._dispatcher is None or self._dispatcher.wait_idle(timeout_s)

    def start(self) -> None:
        """Run cycles every `interval_s` seconds on a background thread until `stop()`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="alert-engine", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Finish the cycle in progress, stop the thread and the notification workers."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        if self._dispatcher is not None:
            self._dispatcher.close()
            self._dispatcher = None

    def _scheduled_cycle(self) -> None:
        """One cycle of the loop: only while this process leads, on a book as fresh as the store's."""
        if self._leading is not None and not self._leading():
            if self._led_last_cycle:
                log.info("not evaluating alerts: another process holds the evaluation lease")
            self._led_last_cycle = False
            return
        if self._shared_store or not self._led_last_cycle:
            self.book.load(self._clock())
        self._led_last_cycle = True
        self.run_once()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._scheduled_cycle()
            except Exception as exc:  # noqa: BLE001 - one bad cycle must not end alerting
                log.exception("alert evaluation cycle failed")
                self.status = EngineStatus(self._clock(), error=f"{type(exc).__name__}: {exc}")
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))
