"""The alert book: what is open right now, kept in memory under one lock and written through to the store.

The engine runs each evaluation's signals through the pipeline here; the API acknowledges, resolves, assigns
and annotates here, and manages silences. Both sides see the same state, and the store sees every change.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts import lifecycle, pipeline
from alerts.cycle import Cycle
from alerts.errors import InvalidAction, UnknownAlert, UnknownSilence
from alerts.model import Alert, AlertEvent, Episode
from alerts.silence import Silence, new_silence
from alerts.store import AlertStore

log = logging.getLogger(__name__)

ACTIONS = ("ack", "resolve", "assign", "note")
REFRESH = timedelta(minutes=1)  # how stale an open alert's figures (summary, value) may be in the store


def _material(alert: Alert) -> Alert:
    """The alert without the figures that change every cycle."""
    return alert.model_copy(
        update={"summary": "", "value": None, "threshold": None, "last_evaluated_at": None}
    )


class AlertBook:
    """Open alerts, open episodes and silences, in memory and in ClickHouse."""

    def __init__(self, store: AlertStore, shared_store: bool = False) -> None:
        """With `shared_store`, other processes change the same alerts: actions start from the stored
        alert rather than this book's copy."""
        self.store = store
        self.shared_store = shared_store
        self._lock = threading.RLock()
        self._alerts: dict[str, Alert] = {}
        self._episodes: dict[str, Episode] = {}
        self._silences: dict[str, Silence] = {}
        self._written: dict[str, datetime] = {}  # alert id -> when its figures were last written

    def load(self, now: datetime) -> None:
        """Resume from the store: open alerts and episodes, silences not yet expired."""
        alerts, episodes = self.store.load_open()
        silences = self.store.silences(now)
        with self._lock:
            self._alerts, self._episodes = alerts, episodes
            self._silences = {s.id: s for s in silences}
        log.info(
            "alert state loaded",
            extra={"alerts": len(alerts), "episodes": len(episodes), "silences": len(silences)},
        )

    def cycle(self, cycle: Cycle, stages: Sequence[pipeline.Stage] = pipeline.STAGES) -> Cycle:
        """Run `cycle` (signals, rules, impact, destinations) through the pipeline against the book's state;
        persist what changed and return the finished cycle (its notifications are for the caller to send)."""
        with self._lock:
            silences = tuple(s for s in self._silences.values() if s.ends_at > cycle.now)
            start = replace(
                cycle, alerts=dict(self._alerts), episodes=dict(self._episodes), silences=silences
            )
            done = pipeline.run(start, stages)
            changed_alerts = [
                a for k, a in done.alerts.items() if self._worth_writing(self._alerts.get(k), a, cycle.now)
            ]
            changed_episodes = [e for k, e in done.episodes.items() if self._episodes.get(k) != e]
            self.store.save(changed_alerts, changed_episodes, done.events)
            self._written.update({a.id: cycle.now for a in changed_alerts})
            self._episodes = {k: e for k, e in done.episodes.items() if e.is_open}
            self._alerts = {
                k: a
                for k, a in done.alerts.items()
                if a.is_open or (a.episode_id is not None and a.episode_id in self._episodes)
            }
            self._written = {k: v for k, v in self._written.items() if k in self._alerts}
            return done

    def _worth_writing(self, before: Alert | None, after: Alert, now: datetime) -> bool:
        """A change of state, links or owner is written at once; fresher figures only once a minute."""
        if before is None:
            return True
        if _material(before) != _material(after):
            return True
        return (
            before != after and now - self._written.get(after.id, datetime.min.replace(tzinfo=UTC)) >= REFRESH
        )

    # --- what people do -----------------------------------------------------------------------

    def act(self, alert_id: str, action: str, by: str, now: datetime, text: str = "") -> Alert:
        """Acknowledge, resolve, assign (`text` = assignee) or annotate (`text` = the note) one alert."""
        if action not in ACTIONS:
            raise InvalidAction(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
        with self._lock:
            if self.shared_store:
                alert = self.store.alert(alert_id) or self._alerts.get(alert_id)
            else:
                alert = self._alerts.get(alert_id) or self.store.alert(alert_id)
            if alert is None:
                raise UnknownAlert(f"no alert has the id {alert_id!r}")
            if action == "ack":
                updated, event = lifecycle.acknowledge(alert, by, now)
            elif action == "resolve":
                updated, event = lifecycle.resolve(alert, by, now)
            elif action == "assign":
                updated, event = lifecycle.assign(alert, text, by, now)
            else:
                updated, event = lifecycle.annotate(alert, text, by, now)
            self._record(updated, event)
            return updated

    def _record(self, alert: Alert, event: AlertEvent) -> None:
        self.store.save([alert], (), [event])
        if alert.id in self._alerts:
            self._alerts[alert.id] = alert

    def open_alerts(self) -> list[Alert]:
        with self._lock:
            return list(self._alerts.values())

    def open_episodes(self) -> list[Episode]:
        with self._lock:
            return list(self._episodes.values())

    # --- silences -----------------------------------------------------------------------------

    def silence(
        self,
        matchers: list[Any],
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
        now: datetime,
    ) -> Silence:
        """Add a silence; raises InvalidSilence saying what is wrong with it."""
        silence = new_silence(matchers, starts_at, ends_at, created_by, comment, now)
        with self._lock:
            self.store.save_silence(silence)
            self._silences[silence.id] = silence
        return silence

    def expire_silence(self, silence_id: str, by: str, now: datetime) -> Silence:
        """End a silence now (it stays in the record, deleted)."""
        with self._lock:
            found = self.store.silence(silence_id)
            if found is None or found[1]:
                raise UnknownSilence(f"no active silence has the id {silence_id!r}")
            silence = found[0]
            ends_at = max(now, silence.starts_at + timedelta(milliseconds=1))
            ended = silence.model_copy(
                update={"ends_at": ends_at, "comment": f"{silence.comment} (expired by {by})".strip()}
            )
            self.store.save_silence(ended, deleted=True)
            self._silences.pop(silence_id, None)
            return ended

    def silences(self, now: datetime) -> list[Silence]:
        """Silences that have not expired at `now`."""
        with self._lock:
            return sorted((s for s in self._silences.values() if s.ends_at > now), key=lambda s: s.starts_at)
