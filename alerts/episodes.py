"""Episodes: one per incident per blueprint step — the alerts that fire on one target together, told as one.

An alert joins the open episode of its (blueprint, target) when it starts firing, or opens a new one; the
same rule firing again on the same step is the same alert (its fingerprint), so nothing is duplicated. An
episode closes when none of its alerts is firing or acknowledged any more; a later alert opens a new one.
"""

from __future__ import annotations

from dataclasses import replace

from alerts.cycle import Cycle
from alerts.model import Alert, AlertEvent, Episode, short_id


def group(cycle: Cycle) -> Cycle:
    """Pipeline stage: put every firing alert in its target's open episode; close episodes that are over."""
    episodes = dict(cycle.episodes)
    alerts = dict(cycle.alerts)
    events: list[AlertEvent] = []
    open_by_target = {(e.blueprint, e.target): e.id for e in episodes.values() if e.is_open}
    for key, alert in sorted(
        alerts.items(), key=lambda item: (item[1].fired_at or item[1].started_at, item[0])
    ):
        if not alert.is_active or (alert.episode_id and alert.episode_id in episodes):
            continue
        target = (alert.blueprint, alert.target)
        episode_id = open_by_target.get(target)
        if episode_id is None:
            episode = Episode(
                id=short_id("e-", alert.blueprint, alert.target, cycle.now.isoformat()),
                blueprint=alert.blueprint,
                target=alert.target,
                opened_at=cycle.now,
            )
            open_by_target[target] = episode.id
        else:
            episode = episodes[episode_id]
        episodes[episode.id] = episode.model_copy(update={"alert_ids": (*episode.alert_ids, alert.id)})
        alerts[key] = alert.model_copy(update={"episode_id": episode.id})
        events.append(
            AlertEvent(
                at=cycle.now,
                alert_id=alert.id,
                episode_id=episode.id,
                action="grouped",
                detail=f"episode on {alert.blueprint}/{alert.target}",
            )
        )
    by_id = {alert.id: alert for alert in alerts.values()}
    for episode_id, episode in list(episodes.items()):
        if episode.is_open and not any(_active(by_id.get(a)) for a in episode.alert_ids):
            episodes[episode_id] = episode.model_copy(update={"closed_at": cycle.now})
    return replace(cycle, alerts=alerts, episodes=episodes, events=cycle.events + tuple(events))


def _active(alert: Alert | None) -> bool:
    # An alert no longer in the book resolved in an earlier cycle.
    return alert is not None and alert.is_active
