"""One customer's journey while it plays: opens and closes the spans of its steps, under the active faults.

Scenario code reads like the journey it plays::

    call = journey.open("call")
    ivr = yield from journey.perform("ivr-menu", parent=call)
    agent = yield journey.pool("agents").request(patience=journey.patience(Latency(180, 600)))

Every random draw comes from the journey's own stream, and each step draws the same numbers
whether or not a fault is active, so a run with a fault differs from the same seed without it
only where the fault acts.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from random import Random
from typing import Any

from app.demo.faults import FaultBook
from app.demo.kernel import Delay, Kernel, Pool
from app.demo.scenario import Actor, Lane, Latency, Scenario, StepSpec
from app.demo.spans import AttributeValue, IdSource, SpanEventRecord, SpanRecord

Perform = Generator[Any, Any, "StepResult"]


class TurnedAway(Exception):
    """The customer could not reach a touchpoint that went dark; the journey ends here."""


class Outcome(StrEnum):
    """How a step went."""

    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(slots=True)
class SpanHandle:
    """An open span; a handle with `recorded=False` stands for a skipped step and is never sent."""

    step: StepSpec
    trace_id: int
    span_id: int
    parent_span_id: int | None
    start: float
    recorded: bool
    name: str
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    closed: bool = False


@dataclass(frozen=True, slots=True)
class StepResult:
    """The outcome of a performed step and its span."""

    outcome: Outcome
    span: SpanHandle

    @property
    def ok(self) -> bool:
        """True when the step happened without error, or was skipped (the journey does not notice)."""
        return self.outcome is not Outcome.FAILED


class Journey:
    """The running journey of one customer through one scenario."""

    def __init__(
        self,
        *,
        kernel: Kernel,
        scenario: Scenario,
        journey_id: str,
        rng: Random,
        faults: FaultBook,
        pools: Mapping[str, Pool],
        to_ns: Callable[[float], int],
        emit: Callable[[SpanRecord], None],
    ) -> None:
        self.kernel = kernel
        self.scenario = scenario
        self.id = journey_id
        self.rng = rng
        self.customer_id = f"cust-{rng.randrange(10**6):06d}"
        self._ids = IdSource(rng)
        self._faults = faults
        self._pools = pools
        self._to_ns = to_ns
        self._emit = emit
        self._open: list[SpanHandle] = []

    @property
    def now(self) -> float:
        """Simulated seconds since the start of the run."""
        return self.kernel.now

    # --- randomness, named for what it models -------------------------------------------------

    def chance(self, probability: float) -> bool:
        """True with `probability`."""
        return self.rng.random() < probability

    def duration(self, latency: Latency, factor: float = 1.0) -> float:
        """A duration drawn from `latency`, scaled by `factor`."""
        return latency.sample(self.rng) * factor

    def wait(self, latency: Latency) -> Delay:
        """A pause (think time, travel, a back-office queue) drawn from `latency`."""
        return Delay(latency.sample(self.rng))

    def pool(self, name: str) -> Pool:
        """The staffed pool `name` of this scenario."""
        return self._pools[name]

    # --- spans --------------------------------------------------------------------------------

    def open(
        self,
        step_id: str,
        parent: SpanHandle | None = None,
        *,
        attributes: Mapping[str, AttributeValue] | None = None,
        actor_id: str | None = None,
        name: str | None = None,
    ) -> SpanHandle:
        """Start the span of `step_id` now, as a child of `parent` (None: the root of a new trace).

        Raises TurnedAway when the step's touchpoint is dark for this customer and the step is one
        a customer cannot do without (customer and frontstage lanes). A skipped step, or a dark
        evidence/backstage step, gives a handle that is never sent; its children attach to its parent.
        """
        step = self.scenario.step(step_id)
        effects = self._faults.effects(self.scenario.id, step_id, self.now)
        draw = self.rng.random()
        dark = draw < effects.dark_share
        if dark and step.gating:
            raise TurnedAway(f"{self.scenario.id}/{step_id}")
        recorded = not dark and not draw < effects.skip_share
        if parent is None:
            trace_id, parent_span_id = self._ids.trace_id(), None
        else:
            trace_id = parent.trace_id
            parent_span_id = parent.span_id if parent.recorded else parent.parent_span_id
        handle = SpanHandle(
            step=step,
            trace_id=trace_id,
            span_id=self._ids.span_id(),
            parent_span_id=parent_span_id,
            start=self.now,
            recorded=recorded,
            name=name or step.span,
            attributes=self._attributes(step, actor_id, attributes),
        )
        self._open.append(handle)
        return handle

    def close(
        self,
        handle: SpanHandle,
        *,
        error: str | None = None,
        attributes: Mapping[str, AttributeValue] | None = None,
        status: int | None = None,
    ) -> None:
        """End `handle`'s span now; `error` marks it failed with that description."""
        if handle.closed:
            return
        handle.closed = True
        self._open.remove(handle)
        if not handle.recorded:
            return
        if attributes:
            handle.attributes.update(attributes)
        if handle.step.http is not None:
            handle.attributes["http.response.status_code"] = status or (
                handle.step.error_status if error else 200
            )
        end_ns = self._to_ns(self.now)
        events: tuple[SpanEventRecord, ...] = ()
        if error is not None:
            events = (
                SpanEventRecord(
                    "exception", end_ns, {"exception.type": "StepFailed", "exception.message": error}
                ),
            )
        self._emit(
            SpanRecord(
                trace_id=handle.trace_id,
                span_id=handle.span_id,
                parent_span_id=handle.parent_span_id,
                service=handle.step.service,
                name=handle.name,
                kind=handle.step.kind,
                start_ns=self._to_ns(handle.start),
                end_ns=end_ns,
                attributes=dict(handle.attributes),
                error=error,
                events=events,
                scenario=self.scenario.id,
                step=handle.step.id,
                journey_id=self.id,
            )
        )

    def close_all(self) -> None:
        """End every span still open (the customer walked away mid-step)."""
        for handle in reversed(list(self._open)):
            self.close(handle)

    def draw(
        self, step_id: str, *, slower: float = 1.0, error_rate: float | None = None
    ) -> tuple[float, bool]:
        """(duration in seconds, failed?) for one attempt at `step_id` now, with the active faults applied.

        `slower` scales the duration and `error_rate` overrides the step's usual rate, for
        consequences the scenario models (an agent without account data is slower, fails more).
        """
        step = self.scenario.step(step_id)
        effects = self._faults.effects(self.scenario.id, step_id, self.now)
        seconds = self.duration(step.latency, slower * effects.latency_factor)
        rate = step.error_rate if error_rate is None else error_rate
        if effects.error_rate is not None:
            rate = max(rate, effects.error_rate)
        return seconds, self.chance(rate)

    def perform(
        self,
        step_id: str,
        parent: SpanHandle | None = None,
        *,
        attributes: Mapping[str, AttributeValue] | None = None,
        actor_id: str | None = None,
        name: str | None = None,
        slower: float = 1.0,
        error_rate: float | None = None,
    ) -> Perform:
        """Open the step's span, let its (fault-adjusted) duration pass, close it ok or failed (`draw`)."""
        handle = self.open(step_id, parent, attributes=attributes, actor_id=actor_id, name=name)
        seconds, failed = self.draw(step_id, slower=slower, error_rate=error_rate)
        yield Delay(seconds)
        if not handle.recorded:
            self.close(handle)
            return StepResult(Outcome.SKIPPED, handle)
        self.close(handle, error=handle.step.error_message if failed else None)
        return StepResult(Outcome.FAILED if failed else Outcome.OK, handle)

    def release_later(self, pool: str, staff_id: str, after: Latency) -> None:
        """Free `staff_id` of `pool` once their after-work (wrap-up, paperwork) drawn from `after` is done."""
        self.kernel.at(self.now + self.duration(after), lambda: self._pools[pool].release(staff_id))

    def _attributes(
        self, step: StepSpec, actor_id: str | None, extra: Mapping[str, AttributeValue] | None
    ) -> dict[str, AttributeValue]:
        attributes: dict[str, AttributeValue] = {"journey.id": self.id}
        if step.conventions:
            attributes["blueprint.step"] = step.id
            attributes["blueprint.lane"] = step.lane.value
            if step.touchpoint is not None:
                attributes["touchpoint.id"] = step.touchpoint
                attributes["touchpoint.channel"] = self.scenario.touchpoints[step.touchpoint]
            attributes["actor.type"] = step.actor.value
            attributes["actor.id"] = actor_id or self._default_actor(step)
        http = step.http
        if http is not None:
            attributes["http.request.method"] = http[0]
            attributes["http.route"] = http[1]
        attributes.update(step.attributes)
        if extra:
            attributes.update(extra)
        return attributes

    def _default_actor(self, step: StepSpec) -> str:
        if step.lane is Lane.CUSTOMER and step.actor is Actor.PERSON:
            return self.customer_id
        return step.service
