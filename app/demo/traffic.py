"""All customers of the played scenarios over simulated time: arrivals, journeys, pools, faults, noise.

`Traffic` is pure simulation: it never reads a clock and never sends anything. The caller moves
simulated time forward with `advance_to(seconds)` and receives the spans that finished by then,
as `SpanRecord`s stamped `origin_ns` + simulated time. Same seed, same arguments: same spans,
same ids, however the caller slices time.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from functools import partial
from random import Random
from typing import Any

from app.demo.faults import FaultBook, FaultKind, FaultWindow
from app.demo.journey import Journey, TurnedAway
from app.demo.kernel import Delay, Kernel, Pool
from app.demo.scenario import Scenario
from app.demo.spans import IdSource, SpanKindName, SpanRecord

# Arrivals swell and ebb by this much around the mean rate, over this period (seconds),
# so queues grow and drain as they do in a real day.
SWELL = 0.2
SWELL_PERIOD_S = 1200.0
HEALTH_CHECK_EVERY_S = 30.0


@dataclass(frozen=True, slots=True)
class TrafficCounts:
    """Journeys and spans so far."""

    journeys_started: int
    journeys_finished: int
    spans: int


class Traffic:
    """The customer traffic of `scenarios` at `rate` journeys per second (all scenarios together)."""

    def __init__(
        self,
        *,
        scenarios: Sequence[Scenario],
        rate: float,
        seed: int,
        windows: Sequence[FaultWindow] = (),
        origin_ns: int,
        health_checks: bool = True,
    ) -> None:
        if rate <= 0 or not math.isfinite(rate):
            raise ValueError(f"rate must be a positive number of journeys per second, got {rate}")
        if not scenarios:
            raise ValueError("at least one scenario must be played")
        self.scenarios = tuple(scenarios)
        self.rate = rate
        self.seed = seed
        self.origin_ns = origin_ns
        self.faults = FaultBook(windows)
        self.kernel = Kernel()
        self._pending: list[SpanRecord] = []
        self._arrivals = Random(f"{seed}:arrivals")
        self._phase = self._arrivals.uniform(0, 2 * math.pi)
        self._next_journey = 0
        self._started = 0
        self._finished = 0
        self._spans = 0
        per_scenario = rate / len(self.scenarios)
        self.pools: dict[str, dict[str, Pool]] = {
            s.id: {
                name: Pool(self.kernel, name, spec.staff_prefix, spec.capacity_for(per_scenario))
                for name, spec in s.pools.items()
            }
            for s in self.scenarios
        }
        self._schedule_restaffing()
        self.kernel.spawn(self._arrive())
        if health_checks:
            self._start_health_checks()

    @property
    def now(self) -> float:
        """Simulated seconds since the start of the run."""
        return self.kernel.now

    def to_ns(self, time: float) -> int:
        """Unix nanoseconds of simulated `time`."""
        return self.origin_ns + round(time * 1e9)

    def advance_to(self, time: float) -> list[SpanRecord]:
        """Play until simulated `time`; the spans that ended meanwhile, in the order they ended."""
        self.kernel.run_until(time)
        finished, self._pending = self._pending, []
        return finished

    def counts(self) -> TrafficCounts:
        """Journeys started and finished, and spans ended, so far."""
        return TrafficCounts(self._started, self._finished, self._spans)

    def active_faults(self) -> list[FaultWindow]:
        """The faults on right now."""
        return self.faults.active(self.now)

    # --- arrivals and journeys ----------------------------------------------------------------

    def _arrive(self) -> Generator[Any, Any, None]:
        peak = self.rate * (1 + SWELL)
        while True:
            yield Delay(self._arrivals.expovariate(peak))
            swell = 1 + SWELL * math.sin(2 * math.pi * self.now / SWELL_PERIOD_S + self._phase)
            if self._arrivals.random() * (1 + SWELL) > swell:
                continue  # thinning: fewer arrivals in the ebb
            scenario = self._arrivals.choice(self.scenarios)
            self._start_journey(scenario)

    def _start_journey(self, scenario: Scenario) -> None:
        rng = Random(f"{self.seed}:{self._next_journey}")
        self._next_journey += 1
        journey = Journey(
            kernel=self.kernel,
            scenario=scenario,
            journey_id=f"{scenario.journey_prefix}-{rng.getrandbits(48):012x}",
            rng=rng,
            faults=self.faults,
            pools=self.pools[scenario.id],
            to_ns=self.to_ns,
            emit=self._emit,
        )
        self._started += 1
        self.kernel.spawn(_guarded(journey), on_done=self._journey_done)

    def _journey_done(self) -> None:
        self._finished += 1

    def _emit(self, record: SpanRecord) -> None:
        self._spans += 1
        self._pending.append(record)

    # --- faults that change staffing ------------------------------------------------------------

    def _schedule_restaffing(self) -> None:
        scenarios = {s.id: s for s in self.scenarios}
        for window in self.faults.windows:
            if window.spec.kind is not FaultKind.QUEUE:
                continue
            scenario = scenarios[window.spec.blueprint]
            pool = scenario.steps[window.steps[0]].pool
            assert pool is not None
            for moment in (window.start, window.end):
                if math.isfinite(moment):
                    self.kernel.at(moment, partial(self._restaff, scenario, pool))

    def _restaff(self, scenario: Scenario, pool_name: str) -> None:
        pool = self.pools[scenario.id][pool_name]
        steps = [s.id for s in scenario.steps.values() if s.pool == pool_name]
        share = self.faults.staff_share(scenario.id, pool_name, steps, self.now)
        pool.set_capacity(max(1, round(pool.base_capacity * share)))

    # --- noise ------------------------------------------------------------------------------------

    def _start_health_checks(self) -> None:
        rng = Random(f"{self.seed}:noise")
        ids = IdSource(rng)
        services = sorted({service for s in self.scenarios for service in s.services})
        for service in services:
            self.kernel.spawn(self._probe(service, rng, ids))

    def _probe(self, service: str, rng: Random, ids: IdSource) -> Generator[Any, Any, None]:
        """A load balancer's health check: unmapped noise every blueprint must ignore."""
        yield Delay(rng.uniform(0, HEALTH_CHECK_EVERY_S))
        while True:
            start = self.now
            yield Delay(rng.lognormvariate(math.log(0.002), 0.6))
            self._emit(
                SpanRecord(
                    trace_id=ids.trace_id(),
                    span_id=ids.span_id(),
                    parent_span_id=None,
                    service=service,
                    name="GET /healthz",
                    kind=SpanKindName.SERVER,
                    start_ns=self.to_ns(start),
                    end_ns=self.to_ns(self.now),
                    attributes={
                        "http.request.method": "GET",
                        "http.route": "/healthz",
                        "url.path": "/healthz",
                        "http.response.status_code": 200,
                        "user_agent.original": "kube-probe/1.30",
                    },
                )
            )
            yield Delay(HEALTH_CHECK_EVERY_S - (self.now - start))


def _guarded(journey: Journey) -> Generator[Any, Any, None]:
    try:
        yield from journey.scenario.play(journey)
    except TurnedAway:
        journey.close_all()
