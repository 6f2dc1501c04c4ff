"""The values that flow through the alert pipeline: signals, alerts, episodes and the events between them.

A rule's evaluation yields `Signal`s; the lifecycle turns signals into `Alert`s (pending → firing →
acknowledged → resolved); alerts on the same blueprint step during one incident share an `Episode`, which is
what a person is notified about. Every change is also an `AlertEvent`, kept as the audit trail.
Times are timezone-aware UTC datetimes; values are in the units the rule names (shares 0..1, seconds).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Severity(StrEnum):
    """How urgently a person must act: page now, open a ticket, or just record it."""

    PAGE = "page"
    TICKET = "ticket"
    INFO = "info"


class AlertState(StrEnum):
    """Where an alert is in its life."""

    PENDING = "pending"  # the condition holds, not yet for the rule's `for` duration
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"  # firing, and a person said they are on it
    RESOLVED = "resolved"


OPEN_STATES = frozenset({AlertState.PENDING, AlertState.FIRING, AlertState.ACKNOWLEDGED})
ACTIVE_STATES = frozenset({AlertState.FIRING, AlertState.ACKNOWLEDGED})


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


def fingerprint(labels: Mapping[str, str]) -> str:
    """A stable id for a set of labels: the same rule on the same step always has the same fingerprint."""
    text = "\x1f".join(f"{k}={labels[k]}" for k in sorted(labels))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def short_id(prefix: str, *parts: object) -> str:
    """A deterministic id from its parts, so that simulated runs give the same ids twice."""
    return prefix + hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:14]


class Signal(_Frozen):
    """What one rule found on one target at one instant; `active` says whether its condition holds."""

    rule_id: str
    kind: str
    severity: Severity
    blueprint: str
    step: str | None = None
    touchpoint: str | None = None
    active: bool
    value: float | None = None
    threshold: float | None = None
    summary: str = Field(description="one sentence a person can read, with the figures")
    labels: dict[str, str] = Field(
        default_factory=dict, description="the rule's labels plus rule/kind/target"
    )

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)

    @property
    def target(self) -> str:
        """What the alert is about inside its blueprint: the step, else the touchpoint, else the whole map."""
        return self.step or (f"touchpoint:{self.touchpoint}" if self.touchpoint else "*")


class Note(_Frozen):
    """A remark a person left on an alert."""

    at: datetime
    by: str
    text: str


class Alert(_Frozen):
    """One occurrence of one rule's condition on one target, from pending to resolved."""

    id: str
    fingerprint: str
    rule_id: str
    kind: str
    severity: Severity
    blueprint: str
    step: str | None = None
    touchpoint: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    state: AlertState
    summary: str
    value: float | None = None
    threshold: float | None = None
    started_at: datetime = Field(description="when the condition was first seen (pending since)")
    fired_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = Field(
        default=None, description="'condition cleared', 'rule removed', or the person"
    )
    assignee: str | None = None
    notes: tuple[Note, ...] = ()
    clear_since: datetime | None = Field(
        default=None, description="when the condition stopped holding, while firing"
    )
    last_evaluated_at: datetime | None = None
    episode_id: str | None = None
    caused_by: str | None = Field(
        default=None, description="id of the firing alert this one is linked to as likely cause"
    )
    silenced_by: tuple[str, ...] = ()

    @property
    def target(self) -> str:
        return self.step or (f"touchpoint:{self.touchpoint}" if self.touchpoint else "*")

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def is_active(self) -> bool:
        """Firing or acknowledged: what an episode and a notification are made of."""
        return self.state in ACTIVE_STATES


class DeliveryMark(_Frozen):
    """What one destination was last told about an episode."""

    last_sent_at: datetime
    alert_ids: tuple[str, ...]
    resolved_sent: bool = False


class Episode(_Frozen):
    """One incident on one blueprint target: the alerts that fired there together, notified as one."""

    id: str
    blueprint: str
    target: str = Field(description="step id, 'touchpoint:<id>', or '*' for the whole blueprint")
    opened_at: datetime
    closed_at: datetime | None = None
    alert_ids: tuple[str, ...] = ()
    cause_episode_id: str | None = Field(
        default=None, description="the episode of the likely cause, when inhibited"
    )
    deliveries: dict[str, DeliveryMark] = Field(
        default_factory=dict, description="destination id -> last sent"
    )

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class AlertEvent(_Frozen):
    """One entry of the audit trail: something that happened to an alert, by the engine or a person."""

    at: datetime
    alert_id: str
    episode_id: str | None = None
    action: str = Field(
        description="pending | firing | resolved | acknowledged | assigned | note | inhibited | "
        "uninhibited | silenced | unsilenced | notified"
    )
    actor: str = "engine"
    detail: str = ""


def signal_of(
    rule: Any,
    *,
    summary: str,
    value: float | None = None,
    threshold: float | None = None,
    step: str | None = None,
    touchpoint: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> Signal:
    """An active signal of `rule` on `step` or `touchpoint`, labelled for routing, silences and dedupe."""
    labels = {
        **rule.labels,
        "rule": rule.id,
        "kind": rule.kind,
        "severity": str(rule.severity),
        "blueprint": rule.blueprint,
        **(extra or {}),
    }
    if step:
        labels["step"] = step
    if touchpoint:
        labels["touchpoint"] = touchpoint
    return Signal(
        rule_id=rule.id,
        kind=rule.kind,
        severity=rule.severity,
        blueprint=rule.blueprint,
        step=step,
        touchpoint=touchpoint,
        active=True,
        value=value,
        threshold=threshold,
        summary=summary,
        labels=labels,
    )
