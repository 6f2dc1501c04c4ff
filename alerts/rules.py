"""Alert rules: what each kind watches, its thresholds and windows, as typed values read from YAML.

A rules file (any `*.yaml` in the rules directory) holds `rules:`, optionally `defaults:` merged into each
rule of that file, and `destinations:` (where notifications go, see alerts/notify/)::

    defaults:
      blueprint: online-order
    rules:
      - id: checkout-failing
        kind: failure
        step: checkout
        threshold: 0.05          # error rate, 0..1
        window: 5m
    destinations:
      - id: on-call
        kind: webhook
        url: https://hooks.example.com/touchpoint
        secret_env: TOUCHPOINT_WEBHOOK_SECRET

Kinds: failure, burn_rate, latency, bottleneck, dark, conformance, drop_off (one class each below, with the
defaults a person would pick). Durations are written `90s`, `5m`, `1h`, `3d`; latency thresholds in ms.
`load_rules` (alerts/rules_yaml.py) reads files with file:line:column errors; `alerts/generated.py` derives
rules from each blueprint's objectives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from alerts.durations import Duration
from alerts.model import Severity
from alerts.notify import Destination

RULE_ID = r"^[a-z0-9][a-z0-9_.-]{0,127}$"
Share = Annotated[float, Field(gt=0, lt=1)]


class BurnWindow(BaseModel):
    """One multi-window condition: the budget burns faster than `factor` over both `long` and `short`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    long: Duration
    short: Duration
    factor: float = Field(gt=0)


# The SRE workbook's multi-window, multi-burn-rate alerts (chapter 5, table 5-8).
PAGE_WINDOWS = (
    BurnWindow(long=timedelta(hours=1), short=timedelta(minutes=5), factor=14.4),
    BurnWindow(long=timedelta(hours=6), short=timedelta(minutes=30), factor=6),
)
TICKET_WINDOWS = (
    BurnWindow(long=timedelta(days=1), short=timedelta(hours=2), factor=3),
    BurnWindow(long=timedelta(days=3), short=timedelta(hours=6), factor=1),
)


class RuleBase(BaseModel):
    """What every rule has: an id, the blueprint it watches, how urgent it is and how long it must hold."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    id: str = Field(pattern=RULE_ID)
    blueprint: str
    severity: Severity = Severity.PAGE
    for_: Duration = Field(timedelta(0), alias="for", description="the condition must hold this long to fire")
    keep_firing_for: Duration = Field(
        timedelta(0), description="stay firing this long after the condition clears"
    )
    labels: dict[str, str] = Field(default_factory=dict)
    description: str = ""
    enabled: bool = True

    @property
    def lookback(self) -> timedelta:
        """How far back from `now` this rule reads spans."""
        return timedelta(0)


class _OneTarget(RuleBase):
    step: str | None = None
    touchpoint: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> _OneTarget:
        if (self.step is None) == (self.touchpoint is None):
            raise ValueError("must name exactly one of step, touchpoint")
        return self


class FailureRule(_OneTarget):
    """The error rate of a step (or of every step at a touchpoint) is above `threshold` over `window`.

    Fires only with at least `min_count` spans and `min_errors` errors in the window, so a single failure on a
    quiet step is not an incident.
    """

    kind: Literal["failure"] = "failure"
    threshold: Share
    window: Duration = timedelta(minutes=5)
    min_count: int = Field(20, ge=1)
    min_errors: int = Field(5, ge=1)

    @property
    def lookback(self) -> timedelta:
        return self.window


class BurnRateRule(RuleBase):
    """An objective's error budget burns too fast over a long and a short window at once (SRE workbook).

    `objective: availability` counts failed spans against 1 - target (the step's availability objective
    unless `target` is given); `objective: latency` counts spans slower than `threshold_ms` against
    1 - percentile/100 (the step's latency objective unless given). `windows` default to the workbook's
    page pairs (14.4x over 1h and 5m, 6x over 6h and 30m) or ticket pairs (3x 1d/2h, 1x 3d/6h) by severity.
    """

    kind: Literal["burn_rate"] = "burn_rate"
    step: str
    objective: Literal["availability", "latency"] = "availability"
    target: Share | None = None
    threshold_ms: float | None = Field(default=None, gt=0)
    percentile: Literal[50, 90, 95, 99] | None = None
    windows: tuple[BurnWindow, ...] | None = None
    min_count: int = Field(20, ge=1, description="spans needed in the short window")

    @property
    def burn_windows(self) -> tuple[BurnWindow, ...]:
        if self.windows:
            return self.windows
        return TICKET_WINDOWS if self.severity is Severity.TICKET else PAGE_WINDOWS

    @property
    def lookback(self) -> timedelta:
        return max(w.long for w in self.burn_windows)


class LatencyRule(RuleBase):
    """A step's `percentile` latency over `window` is above `threshold_ms` (default: the step's objective)."""

    kind: Literal["latency"] = "latency"
    step: str
    percentile: Literal[50, 90, 95, 99] | None = None
    threshold_ms: float | None = Field(default=None, gt=0)
    window: Duration = timedelta(minutes=5)
    min_count: int = Field(20, ge=1)

    @property
    def lookback(self) -> timedelta:
        return self.window


class BottleneckRule(RuleBase):
    """A queue builds before a step: journeys wait longer than `max_wait`, or more of them wait than usual.

    Fires when clearly more than 5% of the journeys reaching the step in `window` waited longer than
    `max_wait` (default: the step's `max_wait_s` objective), or when the journeys waiting after the steps that
    flow into it outnumber the median over the previous `baseline_window` by `growth` times plus `min_excess`
    while the journeys it served in `window` waited `growth` times longer than over the baseline (or none was
    served). A journey counts as waiting from the end of a step that flows into this one until its next step
    ends, for at most `lookback` (default twice `max_wait`, at least 15 minutes, at most the blueprint's
    correlation timeout).
    """

    kind: Literal["bottleneck"] = "bottleneck"
    step: str
    max_wait: Duration | None = None
    growth: float = Field(3.0, gt=1)
    min_excess: int = Field(10, ge=0)
    min_count: int = Field(
        10, ge=1, description="journeys reaching the step in the window, for the wait test"
    )
    window: Duration = timedelta(minutes=2)
    baseline_window: Duration = timedelta(hours=1)
    waiting_lookback: Duration | None = Field(default=None, alias="lookback")

    def waiting_limit(self, max_wait: timedelta | None) -> timedelta:
        """How long a journey may sit after a predecessor before we stop counting it as waiting."""
        if self.waiting_lookback is not None:
            return self.waiting_lookback
        return max(timedelta(minutes=15), 2 * (max_wait or timedelta(0)))

    @property
    def lookback(self) -> timedelta:
        return self.baseline_window + self.window


class DarkRule(_OneTarget):
    """Expected traffic stops at a touchpoint (or step).

    Fires when no span has been seen for as long as the baseline rate would have brought `silence_expected`
    spans, or when the window's count is below `drop` times what the baseline expects (given at least
    `min_expected`), or below `min_rate_per_min` when given. `baseline: same_hour` compares with the same
    time of day over the previous `baseline_days` days, falling back to the `baseline_window` before the
    window while there is less than a day of history; `trailing` always uses that window.
    """

    kind: Literal["dark"] = "dark"
    window: Duration = timedelta(minutes=5)
    baseline: Literal["same_hour", "trailing"] = "same_hour"
    baseline_window: Duration = timedelta(hours=1)
    baseline_days: int = Field(7, ge=1, le=28)
    drop: Share = 0.2
    min_expected: float = Field(10.0, gt=0)
    silence_expected: float = Field(12.0, gt=0)
    min_rate_per_min: float | None = Field(default=None, gt=0)

    @property
    def lookback(self) -> timedelta:
        if self.baseline == "same_hour":
            return timedelta(days=self.baseline_days) + self.window
        return self.baseline_window + self.window


class ConformanceRule(RuleBase):
    """Journeys leave the designed path: they skip a required step, or take a transition no flow allows.

    Over `window`, fires per step when the share of journeys passing that point without doing a required step
    exceeds `skip_threshold`, or the share of transitions into a step that no flow allows exceeds
    `unexpected_threshold`; at least `min_journeys` must pass that point. `step` limits it to one step.
    A skip is seen once the journey's next step has ended, so skipping a step before a long one is seen late.
    """

    kind: Literal["conformance"] = "conformance"
    step: str | None = None
    skip_threshold: Share = 0.1
    unexpected_threshold: Share = 0.1
    window: Duration = timedelta(minutes=15)
    min_journeys: int = Field(20, ge=1)

    @property
    def lookback(self) -> timedelta:
        return self.window


class DropOffRule(RuleBase):
    """Fewer journeys go on after a step than usual: completion falls below its baseline.

    For journeys that did the step between `window` + `settle` and `settle` ago, the share that went on to a
    next step within `settle` is compared with the same share over the `baseline_window` before; fires when it
    fell by more than `drop` (absolute) with at least `min_journeys`. Evidence (an email, a receipt) neither
    counts as going on nor is watched itself: missing evidence is not a customer leaving. End steps are not
    watched either. `step` limits the rule to one step.
    """

    kind: Literal["drop_off"] = "drop_off"
    step: str | None = None
    window: Duration = timedelta(minutes=15)
    settle: Duration = timedelta(minutes=30)
    baseline_window: Duration = timedelta(hours=1)
    drop: Share = 0.2
    min_journeys: int = Field(20, ge=1)

    @property
    def lookback(self) -> timedelta:
        return self.baseline_window + self.window + self.settle


Rule = Annotated[
    FailureRule | BurnRateRule | LatencyRule | BottleneckRule | DarkRule | ConformanceRule | DropOffRule,
    Field(discriminator="kind"),
]
RULE_KINDS: Mapping[str, type[RuleBase]] = {
    "failure": FailureRule,
    "burn_rate": BurnRateRule,
    "latency": LatencyRule,
    "bottleneck": BottleneckRule,
    "dark": DarkRule,
    "conformance": ConformanceRule,
    "drop_off": DropOffRule,
}
RULE_ADAPTER: TypeAdapter[Rule] = TypeAdapter(Rule)
DESTINATION_ADAPTER: TypeAdapter[Destination] = TypeAdapter(Destination)


@dataclass(frozen=True)
class Origin:
    """Where a rule or destination came from: a file position, or the blueprint it was generated from."""

    file: str
    line: int = 0
    column: int = 0
    path: str = ""
    fields: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # field -> (line, column)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def at(self, name: str) -> tuple[int, int]:
        """The position of field `name`, or of the rule itself when the field was not written."""
        return self.fields.get(name, (self.line, self.column))


@dataclass(frozen=True)
class RuleSet:
    """Every rule and destination in force, with where each came from."""

    rules: tuple[Rule, ...] = ()
    destinations: tuple[Destination, ...] = ()
    origins: Mapping[str, Origin] = field(default_factory=dict)  # rule or destination id -> origin

    def by_id(self) -> dict[str, Rule]:
        return {rule.id: rule for rule in self.rules}

    def enabled(self) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.enabled)

    def merged(self, other: RuleSet) -> RuleSet:
        """This set plus `other`'s rules and destinations whose ids this set does not already have."""
        ids = {r.id for r in self.rules}
        dest_ids = {d.id for d in self.destinations}
        extra = tuple(r for r in other.rules if r.id not in ids)
        extra_dest = tuple(d for d in other.destinations if d.id not in dest_ids)
        origins = {**{k: v for k, v in other.origins.items()}, **self.origins}
        return RuleSet(self.rules + extra, self.destinations + extra_dest, origins)
