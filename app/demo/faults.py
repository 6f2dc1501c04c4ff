"""Injected faults: the `--fault` syntax, where each fault applies, and what it does to a step right now.

Syntax: ``KIND:BLUEPRINT/TARGET[@START[/DURATION]][=MAGNITUDE]``

- START is an offset from the start of the run (``+2m`` or ``2m``) or, with a minus sign, back
  from its end (``-10m``: ten minutes before the run ends; needs a run with an end). Default: +0.
- DURATION is how long the fault lasts (``5m``, ``1h30m``). Default: until the run ends.
- MAGNITUDE defaults per kind (see `KIND_INFO`).

Examples: ``failure:online-order/payment@+2m/5m=0.8``, ``latency:support-line/crm-lookup@10m/15m=6``,
``dark:store-visit/mobile-app@-20m/10m``, ``queue:support-line/agent-greeting@+5m/20m``.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from app.demo.durations import format_duration, parse_duration
from app.demo.errors import FaultSyntaxError, FaultTargetError
from app.demo.scenario import Lane, Scenario


class FaultKind(StrEnum):
    """What goes wrong."""

    FAILURE = "failure"
    LATENCY = "latency"
    QUEUE = "queue"
    DARK = "dark"
    SKIP = "skip"
    CASCADE = "cascade"


@dataclass(frozen=True, slots=True)
class KindInfo:
    """How a fault kind reads its magnitude, and what it does."""

    default: float
    unit: str
    low: float
    high: float
    low_open: bool
    high_open: bool
    target: str
    effect: str

    def accepts(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below and math.isfinite(value)

    def range_text(self) -> str:
        left = "(" if self.low_open else "["
        right = ")" if self.high_open else "]"
        high = "inf" if math.isinf(self.high) else f"{self.high:g}"
        return f"{left}{self.low:g}, {high}{right}"


KIND_INFO: Mapping[FaultKind, KindInfo] = {
    FaultKind.FAILURE: KindInfo(
        0.5, "error_rate", 0, 1, True, False, "step", "the step's spans fail at rate MAGNITUDE (default 0.5)"
    ),
    FaultKind.LATENCY: KindInfo(
        5.0,
        "latency_factor",
        1,
        math.inf,
        True,
        True,
        "step",
        "the step takes MAGNITUDE times longer (default 5)",
    ),
    FaultKind.QUEUE: KindInfo(
        0.25,
        "staff_share",
        0,
        1,
        True,
        True,
        "staffed step",
        "only MAGNITUDE of the team serving the step keeps working (default 0.25), "
        "so a queue builds before it",
    ),
    FaultKind.DARK: KindInfo(
        1.0,
        "traffic_share_lost",
        0,
        1,
        True,
        False,
        "touchpoint",
        "MAGNITUDE of the customers cannot reach the touchpoint (default 1): its steps get no traffic",
    ),
    FaultKind.SKIP: KindInfo(
        1.0,
        "skip_share",
        0,
        1,
        True,
        False,
        "step",
        "MAGNITUDE of the journeys skip the step (default 1): no span, the journey goes on",
    ),
    FaultKind.CASCADE: KindInfo(
        0.8,
        "error_rate",
        0,
        1,
        True,
        False,
        "backstage or support step",
        "the step fails at rate MAGNITUDE (default 0.8) and times out (3x slower); "
        "the customer-facing steps it serves fail and slow down with it",
    ),
}

CASCADE_SLOWDOWN = 3.0
_BEHIND_THE_LINE = (Lane.BACKSTAGE, Lane.SUPPORT)

_FAULT = re.compile(
    r"^(?P<kind>[a-z]+):(?P<blueprint>[a-z0-9][a-z0-9-]*)/(?P<target>[a-z0-9][a-z0-9_-]*)"
    r"(?:@(?P<start>[+-]?[0-9][0-9a-z.]*)(?:/(?P<duration>[0-9][0-9a-z.]*))?)?"
    r"(?:=(?P<magnitude>[0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?))?$"
)

FAULT_SYNTAX = "KIND:BLUEPRINT/TARGET[@START[/DURATION]][=MAGNITUDE]"


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """One fault as written on the command line; `str(spec)` writes it back in canonical form."""

    kind: FaultKind
    blueprint: str
    target: str
    start: timedelta = timedelta(0)
    from_end: bool = False
    duration: timedelta | None = None
    magnitude: float | None = None

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """The fault written as KIND:BLUEPRINT/TARGET[@START[/DURATION]][=MAGNITUDE].

        Raises FaultSyntaxError naming the text, the part that is wrong and the expected form.
        """
        match = _FAULT.match(text.strip())
        if match is None:
            raise FaultSyntaxError(
                f"--fault {text!r}: expected {FAULT_SYNTAX}, e.g. failure:online-order/payment@+2m/5m=0.8"
            )
        try:
            kind = FaultKind(match["kind"])
        except ValueError:
            kinds = ", ".join(k.value for k in FaultKind)
            raise FaultSyntaxError(
                f"--fault {text!r}: unknown kind {match['kind']!r}; kinds: {kinds}"
            ) from None
        start_text = match["start"] or "+0s"
        from_end = start_text.startswith("-")
        try:
            start = parse_duration(start_text.lstrip("+-") or "0s")
            duration = parse_duration(match["duration"]) if match["duration"] else None
        except ValueError as exc:
            raise FaultSyntaxError(f"--fault {text!r}: {exc}") from None
        if duration is not None and duration <= timedelta(0):
            raise FaultSyntaxError(f"--fault {text!r}: the duration must be longer than 0s")
        magnitude = float(match["magnitude"]) if match["magnitude"] else None
        info = KIND_INFO[kind]
        if magnitude is not None and not info.accepts(magnitude):
            raise FaultSyntaxError(
                f"--fault {text!r}: {kind.value} magnitude ({info.unit}) must be in {info.range_text()}, "
                f"got {magnitude:g}"
            )
        return cls(kind, match["blueprint"], match["target"], start, from_end, duration, magnitude)

    @property
    def effective_magnitude(self) -> float:
        """The magnitude given, or the kind's default."""
        return KIND_INFO[self.kind].default if self.magnitude is None else self.magnitude

    def __str__(self) -> str:
        sign = "-" if self.from_end else "+"
        text = f"{self.kind.value}:{self.blueprint}/{self.target}@{sign}{format_duration(self.start)}"
        if self.duration is not None:
            text += f"/{format_duration(self.duration)}"
        if self.magnitude is not None:
            text += f"={self.magnitude!r}"
        return text


@dataclass(frozen=True, slots=True)
class FaultWindow:
    """A fault placed in simulated time (seconds from the run's start; `end` may be inf) and on its steps.

    `steps` are the steps whose own spans the fault changes; `impacts` the customer-facing steps a
    cascade hurts in turn.
    """

    spec: FaultSpec
    start: float
    end: float
    steps: tuple[str, ...]
    touchpoint: str | None
    impacts: tuple[str, ...] = ()

    def active(self, time: float) -> bool:
        """Whether the fault is on at simulated `time`."""
        return self.start <= time < self.end


def place_fault(spec: FaultSpec, scenarios: Mapping[str, Scenario], run_length: float | None) -> FaultWindow:
    """The window and steps of `spec` in a run of `run_length` seconds (None: open-ended).

    Raises FaultTargetError when the blueprint, step or touchpoint is not one the demo plays, when
    the kind cannot apply to that target, or when the timing needs an end the run does not have.
    """
    scenario = scenarios.get(spec.blueprint)
    if scenario is None:
        raise FaultTargetError(
            f"--fault {spec}: blueprint {spec.blueprint!r} is not being played; "
            f"playing: {', '.join(scenarios)}"
        )
    touchpoint: str | None = None
    impacts: tuple[str, ...] = ()
    if spec.kind is FaultKind.DARK:
        if spec.target not in scenario.touchpoints:
            raise FaultTargetError(
                f"--fault {spec}: dark takes a touchpoint of {scenario.id}: {', '.join(scenario.touchpoints)}"
            )
        touchpoint = spec.target
        steps = tuple(s.id for s in scenario.steps.values() if s.touchpoint == touchpoint)
    else:
        if spec.target not in scenario.steps:
            raise FaultTargetError(
                f"--fault {spec}: {scenario.id} has no step {spec.target!r}; "
                f"steps: {', '.join(scenario.steps)}"
            )
        step = scenario.steps[spec.target]
        if spec.kind is FaultKind.QUEUE and step.pool is None:
            staffed = [s.id for s in scenario.steps.values() if s.pool is not None]
            raise FaultTargetError(
                f"--fault {spec}: queue needs a staffed step; in {scenario.id}: {', '.join(staffed)}"
            )
        if spec.kind is FaultKind.CASCADE:
            if step.lane not in _BEHIND_THE_LINE or not step.serves:
                eligible = [s.id for s in scenario.steps.values() if s.serves]
                raise FaultTargetError(
                    f"--fault {spec}: cascade needs a backstage or support step that serves customer-facing "
                    f"steps; in {scenario.id}: {', '.join(eligible)}"
                )
            impacts = step.serves
        steps = (step.id,)
    start, end = _window(spec, run_length)
    return FaultWindow(spec, start, end, steps, touchpoint, impacts)


def _window(spec: FaultSpec, run_length: float | None) -> tuple[float, float]:
    offset = spec.start.total_seconds()
    if spec.from_end:
        if run_length is None:
            raise FaultTargetError(
                f"--fault {spec}: a start counted from the end (@-…) needs a run with an end"
            )
        start = run_length - offset
    else:
        start = offset
    if spec.duration is not None:
        end = start + spec.duration.total_seconds()
    else:
        end = math.inf if run_length is None else run_length
    if run_length is not None and (start >= run_length or end <= 0):
        raise FaultTargetError(f"--fault {spec}: the fault lies outside the run (0s to {run_length:g}s)")
    return max(start, 0.0), end


@dataclass(frozen=True, slots=True)
class StepEffects:
    """What the active faults do to one step at one moment; the neutral value changes nothing."""

    error_rate: float | None = None
    latency_factor: float = 1.0
    skip_share: float = 0.0
    dark_share: float = 0.0


NO_EFFECTS = StepEffects()


class FaultBook:
    """The placed faults of a run, answering "what is wrong with this step now?"."""

    def __init__(self, windows: Sequence[FaultWindow]) -> None:
        self.windows = tuple(windows)
        self._by_step: dict[tuple[str, str], list[FaultWindow]] = {}
        for window in self.windows:
            for step in window.steps:
                self._by_step.setdefault((window.spec.blueprint, step), []).append(window)

    def effects(self, blueprint: str, step: str, time: float) -> StepEffects:
        """The combined effect of the faults on `blueprint/step` at simulated `time`."""
        windows = self._by_step.get((blueprint, step))
        if not windows:
            return NO_EFFECTS
        error_rate: float | None = None
        latency = 1.0
        skip = 0.0
        dark = 0.0
        for window in windows:
            if not window.active(time):
                continue
            magnitude = window.spec.effective_magnitude
            kind = window.spec.kind
            if kind in (FaultKind.FAILURE, FaultKind.CASCADE):
                error_rate = max(error_rate or 0.0, magnitude)
                if kind is FaultKind.CASCADE:
                    latency *= CASCADE_SLOWDOWN
            elif kind is FaultKind.LATENCY:
                latency *= magnitude
            elif kind is FaultKind.SKIP:
                skip = max(skip, magnitude)
            elif kind is FaultKind.DARK:
                dark = max(dark, magnitude)
        if error_rate is None and latency == 1.0 and skip == 0.0 and dark == 0.0:
            return NO_EFFECTS
        return StepEffects(error_rate, latency, skip, dark)

    def staff_share(self, blueprint: str, pool: str, steps_of_pool: Iterable[str], time: float) -> float:
        """The share of the team `pool` still working at `time` (product of active queue faults)."""
        share = 1.0
        for step in steps_of_pool:
            for window in self._by_step.get((blueprint, step), ()):
                if window.spec.kind is FaultKind.QUEUE and window.active(time):
                    share *= window.spec.effective_magnitude
        return share

    def active(self, time: float) -> list[FaultWindow]:
        """The faults on at `time`."""
        return [w for w in self.windows if w.active(time)]


def fault_help(scenarios: Mapping[str, Scenario], width: int = 100) -> str:
    """The fault syntax, kinds and the targets each scenario offers, for --help."""
    lines = [f"  {FAULT_SYNTAX}"]
    for kind, info in KIND_INFO.items():
        lines += textwrap.wrap(
            f"{kind.value:8} on a {info.target}: {info.effect}",
            width,
            break_on_hyphens=False,
            initial_indent="    ",
            subsequent_indent="             ",
        )
    lines += [
        "    START     +2m after the run starts (default +0), or -10m before it ends",
        "    DURATION  how long the fault lasts (default: until the run ends)",
        "    e.g. --fault failure:online-order/payment@+2m/5m=0.8",
        "         --fault dark:store-visit/mobile-app@-20m/10m",
        "  targets:",
    ]
    for scenario in scenarios.values():
        steps = scenario.steps.values()
        parts = [
            f"steps {', '.join(scenario.steps)}",
            f"staffed (queue) {', '.join(s.id for s in steps if s.pool)}",
            f"cascade {', '.join(s.id for s in steps if s.serves and s.lane in _BEHIND_THE_LINE)}",
            f"touchpoints (dark) {', '.join(scenario.touchpoints)}",
        ]
        lines += textwrap.wrap(
            f"{scenario.id}: " + "; ".join(parts),
            width,
            break_on_hyphens=False,
            initial_indent="    ",
            subsequent_indent="      ",
        )
    return "\n".join(lines)
