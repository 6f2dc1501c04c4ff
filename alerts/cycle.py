"""One evaluation cycle as a value: what every pipeline stage takes in and hands on.

Stages never mutate a cycle; each returns a new one (`dataclasses.replace`), adding to `events` what
happened and, at the end, to `notifications` what must be sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from alerts.model import Alert, AlertEvent, Episode, Signal

if TYPE_CHECKING:
    from alerts.impact import ImpactMap
    from alerts.notify.base import Notification
    from alerts.silence import Silence


@dataclass(frozen=True)
class Cycle:
    """The alert book at one instant `now`, with this cycle's signals and what the stages decided."""

    now: datetime
    rules: Mapping[str, Any] = field(default_factory=dict)  # rule id -> Rule
    signals: tuple[Signal, ...] = ()
    evaluated: frozenset[str] = frozenset()  # rule ids whose evaluation succeeded this cycle
    alerts: Mapping[str, Alert] = field(
        default_factory=dict
    )  # id -> open alert, or resolved in an open episode
    episodes: Mapping[str, Episode] = field(default_factory=dict)  # id -> open episode (or closed now)
    silences: tuple[Silence, ...] = ()
    impact: ImpactMap | None = None
    destinations: tuple[Any, ...] = ()  # Destination configs
    events: tuple[AlertEvent, ...] = ()
    notifications: tuple[Notification, ...] = ()

    def open_alert(self, fingerprint: str) -> Alert | None:
        """The open alert with this fingerprint, if any."""
        return next((a for a in self.alerts.values() if a.fingerprint == fingerprint and a.is_open), None)
