"""Deciding what to send: per episode and destination, a new, updated, repeated or resolved notification.

An episode is sent to a destination when it has firing alerts routed there that are neither linked to a
likely cause (inhibited) nor silenced, and at least one is not acknowledged:

- `new` the first time; `update` when alerts (its own or the customer-facing ones it causes) join it;
- `repeat` once `repeat_interval` has passed since the last message;
- `resolved` once, when the episode closes, if that destination wants resolved messages.
"""

from __future__ import annotations

from dataclasses import replace

from alerts.cycle import Cycle
from alerts.model import Alert, AlertEvent, AlertState, DeliveryMark, Episode, short_id
from alerts.notify.base import DestinationBase, Notification


def plan(cycle: Cycle) -> Cycle:
    """Pipeline stage: the notifications to send now; the episodes remember what each destination was told."""
    members: dict[str, list[Alert]] = {}
    for alert in cycle.alerts.values():
        if alert.episode_id:
            members.setdefault(alert.episode_id, []).append(alert)
    active_ids = {a.id for a in cycle.alerts.values() if a.is_active}
    affected_by: dict[str, list[Alert]] = {}
    for alert in cycle.alerts.values():
        if alert.is_active and alert.caused_by:
            affected_by.setdefault(alert.caused_by, []).append(alert)
    episodes = dict(cycle.episodes)
    notifications: list[Notification] = []
    events: list[AlertEvent] = []
    for episode in cycle.episodes.values():
        alerts = sorted(members.get(episode.id, []), key=lambda a: (a.fired_at or a.started_at, a.id))
        affected = tuple(x for a in alerts if a.id in active_ids for x in affected_by.get(a.id, ()))
        marks = dict(episode.deliveries)
        for destination in cycle.destinations:
            message = _decide(cycle, episode, alerts, affected, destination, marks.get(destination.id))
            if message is None:
                continue
            notifications.append(message)
            sent_ids = tuple(a.id for a in message.alerts) + tuple(a.id for a in message.affected)
            marks[destination.id] = DeliveryMark(
                last_sent_at=cycle.now, alert_ids=sent_ids, resolved_sent=message.status == "resolved"
            )
            events += [
                AlertEvent(
                    at=cycle.now,
                    alert_id=a.id,
                    episode_id=episode.id,
                    action="notified",
                    detail=f"{destination.id}: {message.reason}",
                )
                for a in message.alerts
            ]
        if marks != episode.deliveries:
            episodes[episode.id] = episode.model_copy(update={"deliveries": marks})
    return replace(
        cycle,
        episodes=episodes,
        notifications=cycle.notifications + tuple(notifications),
        events=cycle.events + tuple(events),
    )


def _decide(
    cycle: Cycle,
    episode: Episode,
    alerts: list[Alert],
    affected: tuple[Alert, ...],
    destination: DestinationBase,
    mark: DeliveryMark | None,
) -> Notification | None:
    routed = [a for a in alerts if destination.matches(a.labels)]
    if not routed:
        return None
    if not episode.is_open:
        if mark is None or mark.resolved_sent or not destination.send_resolved:
            return None
        return _message(cycle, episode, destination, "resolved", tuple(routed), ())
    notifiable = [a for a in routed if a.is_active and not a.caused_by and not a.silenced_by]
    if not any(a.state is AlertState.FIRING for a in notifiable):
        return None
    if mark is None:
        reason = "new"
    elif not {a.id for a in notifiable} | {a.id for a in affected} <= set(mark.alert_ids):
        reason = "update"
    elif cycle.now - mark.last_sent_at >= destination.repeat_interval:
        reason = "repeat"
    else:
        return None
    return _message(cycle, episode, destination, reason, tuple(notifiable), affected)


def _message(
    cycle: Cycle,
    episode: Episode,
    destination: DestinationBase,
    reason: str,
    alerts: tuple[Alert, ...],
    affected: tuple[Alert, ...],
) -> Notification:
    name = destination.id
    return Notification(
        id=short_id("n-", episode.id, name, reason, cycle.now.isoformat()),
        destination=name,
        status="resolved" if reason == "resolved" else "firing",
        reason=reason,  # type: ignore[arg-type]
        sent_at=cycle.now,
        episode=episode,
        alerts=alerts,
        affected=affected,
    )
