"""The life of an alert: pending → firing → acknowledged → resolved, and what people may do to it.

Pure functions over `Alert` values and a `now`. The engine's part (`track`) follows the signals: a condition
that holds makes a pending alert, which fires once it has held for the rule's `for`; a condition that stops
holding resolves it (after `keep_firing_for`). People acknowledge, resolve, assign and annotate.
A rule whose evaluation failed this cycle leaves its alerts as they are: missing data is not recovery.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from alerts.cycle import Cycle
from alerts.errors import InvalidAction
from alerts.model import Alert, AlertEvent, AlertState, Note, Signal, short_id

CLEARED = "condition cleared"
RULE_REMOVED = "rule removed"


def track(cycle: Cycle) -> Cycle:
    """Pipeline stage: bring every open alert up to date with this cycle's signals."""
    now = cycle.now
    alerts = dict(cycle.alerts)
    events: list[AlertEvent] = []
    active = {signal.fingerprint: signal for signal in cycle.signals if signal.active}
    for fingerprint, signal in active.items():
        rule = cycle.rules.get(signal.rule_id)
        hold = getattr(rule, "for_", timedelta(0))
        current = cycle.open_alert(fingerprint)
        if current is None:
            current = _new_alert(signal, now)
            events.append(_event(current, now, "pending", signal.summary))
        current = _refresh(current, signal, now)
        if current.state is AlertState.PENDING and now - current.started_at >= hold:
            current = current.model_copy(update={"state": AlertState.FIRING, "fired_at": now})
            events.append(_event(current, now, "firing", signal.summary))
        alerts[current.id] = current
    for key, alert in list(alerts.items()):
        if alert.fingerprint in active or not alert.is_open:
            continue
        rule = cycle.rules.get(alert.rule_id)
        if rule is not None and alert.rule_id not in cycle.evaluated:
            continue  # evaluation failed: keep the alert as it was
        if rule is None:
            alerts[key] = _close(alert, now, RULE_REMOVED)
            events.append(_event(alerts[key], now, "resolved", RULE_REMOVED))
            continue
        if alert.state is AlertState.PENDING:
            alerts[key] = _close(alert, now, CLEARED)
            events.append(_event(alerts[key], now, "resolved", "cleared before firing"))
            continue
        clear_since = alert.clear_since or now
        if now - clear_since >= getattr(rule, "keep_firing_for", timedelta(0)):
            alerts[key] = _close(alert, now, CLEARED)
            events.append(_event(alerts[key], now, "resolved", CLEARED))
        else:
            alerts[key] = alert.model_copy(update={"clear_since": clear_since, "last_evaluated_at": now})
    return replace(cycle, alerts=alerts, events=cycle.events + tuple(events))


def acknowledge(alert: Alert, by: str, now: datetime) -> tuple[Alert, AlertEvent]:
    """`by` is on it: a firing alert stops repeating its notifications until it resolves."""
    if alert.state is AlertState.ACKNOWLEDGED:
        raise InvalidAction(
            f"alert {alert.id} is already acknowledged by {alert.acknowledged_by} "
            f"at {alert.acknowledged_at:%Y-%m-%d %H:%M:%S}Z"
        )
    if alert.state is not AlertState.FIRING:
        raise InvalidAction(f"alert {alert.id} is {alert.state}; only a firing alert can be acknowledged")
    updated = alert.model_copy(
        update={"state": AlertState.ACKNOWLEDGED, "acknowledged_at": now, "acknowledged_by": by}
    )
    return updated, _event(updated, now, "acknowledged", "", actor=by)


def resolve(alert: Alert, by: str, now: datetime) -> tuple[Alert, AlertEvent]:
    """`by` declares it over; if the condition still holds, the next evaluation starts a new alert."""
    if alert.state is AlertState.RESOLVED:
        raise InvalidAction(
            f"alert {alert.id} is already resolved ({alert.resolved_by}, "
            f"{alert.resolved_at:%Y-%m-%d %H:%M:%S}Z)"
        )
    updated = _close(alert, now, by)
    return updated, _event(updated, now, "resolved", "by hand", actor=by)


def assign(alert: Alert, assignee: str, by: str, now: datetime) -> tuple[Alert, AlertEvent]:
    """Make `assignee` the owner of the alert (an empty name clears it)."""
    updated = alert.model_copy(update={"assignee": assignee or None})
    return updated, _event(updated, now, "assigned", assignee or "(nobody)", actor=by)


def annotate(alert: Alert, text: str, by: str, now: datetime) -> tuple[Alert, AlertEvent]:
    """Add a note to the alert's record."""
    if not text.strip():
        raise InvalidAction("a note needs some text")
    updated = alert.model_copy(update={"notes": alert.notes + (Note(at=now, by=by, text=text),)})
    return updated, _event(updated, now, "note", text, actor=by)


def _new_alert(signal: Signal, now: datetime) -> Alert:
    return Alert(
        id=short_id("a-", signal.fingerprint, now.isoformat()),
        fingerprint=signal.fingerprint,
        rule_id=signal.rule_id,
        kind=signal.kind,
        severity=signal.severity,
        blueprint=signal.blueprint,
        step=signal.step,
        touchpoint=signal.touchpoint,
        labels=dict(signal.labels),
        state=AlertState.PENDING,
        summary=signal.summary,
        started_at=now,
    )


def _refresh(alert: Alert, signal: Signal, now: datetime) -> Alert:
    return alert.model_copy(
        update={
            "summary": signal.summary,
            "value": signal.value,
            "threshold": signal.threshold,
            "clear_since": None,
            "last_evaluated_at": now,
        }
    )


def _close(alert: Alert, now: datetime, by: str) -> Alert:
    return alert.model_copy(
        update={"state": AlertState.RESOLVED, "resolved_at": now, "resolved_by": by, "last_evaluated_at": now}
    )


def _event(alert: Alert, now: datetime, action: str, detail: str, actor: str = "engine") -> AlertEvent:
    return AlertEvent(
        at=now, alert_id=alert.id, episode_id=alert.episode_id, action=action, actor=actor, detail=detail
    )
