"""Drive the simulated traffic into span exporters: as fast as possible (`simulate`) or in real time (`play`).

Both play the same journeys from the same `DemoConfig`; only the pacing differs. `simulate`
stamps spans from `config.start` onwards and is what a backfill, a benchmark or a test uses;
`play` never sends a span before the wall clock has reached its end.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from app.demo.errors import DemoError, ServerUnreachable
from app.demo.export import ExporterFactory, SdkSpanSink
from app.demo.faults import FaultSpec, FaultWindow, place_fault
from app.demo.progress import Progress
from app.demo.scenario import Scenario
from app.demo.scenarios import SCENARIOS
from app.demo.spans import SpanRecord
from app.demo.traffic import Traffic
from app.demo.truth import TruthRecord, truth_record

ProgressHook = Callable[[Progress], None]
TruthHook = Callable[[TruthRecord], None]

# Seconds of simulated time per slice when running ahead of the clock.
_FAST_SLICE_S = 30.0
# Consecutive refused batches after which the server counts as gone.
_GIVE_UP_AFTER = 3
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class DemoConfig:
    """What to play: from `start` (timezone-aware) for `duration` (None: until stopped, `play` only).

    `rate` is journeys per second over all `scenarios` together; `seed` fixes every journey,
    id and draw; `faults` are placed relative to `start` (and to the end, for `@-…`).
    """

    start: datetime
    duration: timedelta | None = None
    rate: float = 0.5
    scenarios: tuple[str, ...] = tuple(SCENARIOS)
    seed: int = 0
    faults: tuple[FaultSpec, ...] = ()
    health_checks: bool = True

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise DemoError(f"DemoConfig.start must be timezone-aware, got {self.start.isoformat()}")
        if not self.rate > 0 or not math.isfinite(self.rate):
            raise DemoError(f"--rate must be a positive number of journeys per second, got {self.rate}")
        if self.duration is not None and self.duration <= timedelta(0):
            raise DemoError(f"the run must last longer than 0s, got {self.duration}")
        unknown = [s for s in self.scenarios if s not in SCENARIOS]
        if unknown or not self.scenarios:
            raise DemoError(
                f"--scenario {', '.join(unknown) or '(none)'}: not a demo scenario; "
                f"choose from {', '.join(SCENARIOS)}"
            )

    @property
    def length_s(self) -> float | None:
        """The run's length in seconds, None when open-ended."""
        return None if self.duration is None else self.duration.total_seconds()

    @property
    def run_id(self) -> str:
        """Tells this run's truth records apart from other runs': seed and start."""
        return f"{self.seed}-{self.start.astimezone(UTC):%Y%m%dT%H%M%SZ}"

    def played(self) -> tuple[Scenario, ...]:
        """The scenarios to play."""
        return tuple(SCENARIOS[s] for s in dict.fromkeys(self.scenarios))

    def fault_windows(self) -> list[FaultWindow]:
        """The faults placed in this run; raises FaultTargetError for a fault that does not fit."""
        scenarios = {s.id: s for s in self.played()}
        return [place_fault(spec, scenarios, self.length_s) for spec in self.faults]


@dataclass(frozen=True)
class DemoResult:
    """What a run did."""

    start: datetime
    end: datetime
    journeys_started: int
    journeys_finished: int
    spans_generated: int
    spans_sent: int
    send_errors: int
    faults: tuple[TruthRecord, ...] = field(default_factory=tuple)
    interrupted: bool = False


def generate(
    config: DemoConfig, *, until: timedelta | None = None, slice_s: float = 60.0
) -> Iterator[SpanRecord]:
    """The spans of `config` as plain records, without any SDK, up to `until` (default: the duration)."""
    end = until if until is not None else config.duration
    if end is None:
        raise DemoError("generate() needs an end: give the config a duration or pass until=")
    traffic = _traffic(config)
    limit = end.total_seconds()
    moment = 0.0
    while moment < limit:
        moment = min(limit, moment + slice_s)
        yield from traffic.advance_to(moment)


def simulate(
    config: DemoConfig,
    exporter_factory: ExporterFactory,
    *,
    on_progress: ProgressHook | None = None,
    on_truth: TruthHook | None = None,
) -> DemoResult:
    """Play `config` from its start to its end as fast as the exporters take the spans.

    `exporter_factory` is called once per service (see `SdkSpanSink`). Raises ServerUnreachable
    when the exporters keep refusing batches.
    """
    if config.duration is None:
        raise DemoError("simulate() needs a config with a duration")
    run = DemoRun(config, exporter_factory, on_progress=on_progress, on_truth=on_truth, mode="backfill")
    try:
        run.run_ahead(config.duration.total_seconds())
    finally:
        run.close()
    return run.result()


def play(
    config: DemoConfig,
    exporter_factory: ExporterFactory,
    *,
    clock: Callable[[], datetime],
    sleep: Callable[[float], None] = time.sleep,
    tick_s: float = 0.25,
    backfill: timedelta | None = None,
    on_progress: ProgressHook | None = None,
    on_truth: TruthHook | None = None,
) -> DemoResult:
    """Play `config` in real time: spans leave when the `clock` reaches their end.

    With `backfill`, the first `backfill` of the run (which must then start that long before
    `clock()`) is sent at once, and the journeys carry on live from there. Stops at the end of
    the duration, or on KeyboardInterrupt (the result says `interrupted`).
    """
    run = DemoRun(
        config,
        exporter_factory,
        on_progress=on_progress,
        on_truth=on_truth,
        mode="live",
        schedule_delay_ms=200,
    )
    limit = math.inf if config.length_s is None else config.length_s
    interrupted = False
    try:
        if backfill is not None:
            run.mode = "backfill"
            run.run_ahead(min(backfill.total_seconds(), limit))
            run.mode = "live"
        while run.traffic.now < limit:
            elapsed = (clock() - config.start).total_seconds()
            run.advance(min(elapsed, limit))
            if run.traffic.now >= limit:
                break
            sleep(tick_s)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        run.close()
    return run.result(interrupted=interrupted)


class DemoRun:
    """One run in progress: the traffic, the SDK sink, the truth about faults, and progress reports."""

    def __init__(
        self,
        config: DemoConfig,
        exporter_factory: ExporterFactory,
        *,
        on_progress: ProgressHook | None,
        on_truth: TruthHook | None,
        mode: str,
        schedule_delay_ms: float = 1000,
    ) -> None:
        self.config = config
        self.mode = mode
        self.traffic = _traffic(config)
        self.sink = SdkSpanSink(exporter_factory, schedule_delay_ms=schedule_delay_ms)
        self._on_progress = on_progress
        self._on_truth = on_truth
        self._open_faults = list(self.traffic.faults.windows)
        self._truth: list[TruthRecord] = []
        self._closed = False

    def advance(self, moment: float) -> None:
        """Play until simulated `moment`, send what finished, report; raise if the server is gone."""
        for record in self.traffic.advance_to(moment):
            self.sink.emit(record)
        self._close_faults(until=self.traffic.now, clip=False)
        self._check_sending()
        self._report()

    def run_ahead(self, moment: float) -> None:
        """Play until simulated `moment` without waiting for the clock."""
        while self.traffic.now < moment:
            self.advance(min(moment, self.traffic.now + _FAST_SLICE_S))
        self.sink.flush()
        self._check_sending()
        self._report()

    def close(self) -> None:
        """Write the truth for faults still on (clipped to now), flush and shut the SDK down."""
        if self._closed:
            return
        self._closed = True
        self._close_faults(until=self.traffic.now, clip=True)
        self.sink.shutdown()
        self._report()

    def result(self, *, interrupted: bool = False) -> DemoResult:
        """The run's figures so far."""
        counts = self.traffic.counts()
        sent = self.sink.tally.counts()
        return DemoResult(
            start=self.config.start,
            end=self.config.start + timedelta(seconds=self.traffic.now),
            journeys_started=counts.journeys_started,
            journeys_finished=counts.journeys_finished,
            spans_generated=counts.spans,
            spans_sent=sent.sent,
            send_errors=sent.failed,
            faults=tuple(self._truth),
            interrupted=interrupted,
        )

    def _close_faults(self, *, until: float, clip: bool) -> None:
        still_open = []
        for window in self._open_faults:
            over = window.end <= until
            if over or (clip and window.start < until):
                record = truth_record(
                    window, run=self.config.run_id, origin=self.config.start, ended_at=until
                )
                self._truth.append(record)
                if self._on_truth is not None:
                    self._on_truth(record)
            elif not clip:
                still_open.append(window)
        self._open_faults = still_open

    def _check_sending(self) -> None:
        sent = self.sink.tally.counts()
        if sent.failed_batches_in_a_row >= _GIVE_UP_AFTER:
            self.sink.tally.give_up()
            raise ServerUnreachable(
                f"{sent.failed_batches_in_a_row} span batches in a row were refused "
                f"({sent.sent} spans had been sent); last error: {sent.last_error}"
            )

    def _report(self) -> None:
        if self._on_progress is None:
            return
        counts = self.traffic.counts()
        sent = self.sink.tally.counts()
        length = self.config.length_s
        self._on_progress(
            Progress(
                mode=self.mode,
                moment=self.config.start + timedelta(seconds=self.traffic.now),
                done=None if length is None else min(1.0, self.traffic.now / length),
                journeys_started=counts.journeys_started,
                journeys_finished=counts.journeys_finished,
                spans_sent=sent.sent,
                send_errors=sent.failed,
                active_faults=tuple(str(w.spec) for w in self.traffic.active_faults()),
            )
        )


def _traffic(config: DemoConfig) -> Traffic:
    return Traffic(
        scenarios=config.played(),
        rate=config.rate,
        seed=config.seed,
        windows=config.fault_windows(),
        origin_ns=_unix_ns(config.start),
        health_checks=config.health_checks,
    )


def _unix_ns(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
