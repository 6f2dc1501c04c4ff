"""Inhibition: an alert explained by another firing alert is linked to it as its likely cause, not paged.

Three links, all within one blueprint:

- a backstage/support step in trouble (failure, burn rate, latency, bottleneck) causes the alerts on the
  customer-facing steps it serves, and dark alerts on their touchpoints (the impact path);
- a dark touchpoint causes dark alerts on touchpoints journeys only reach after it, and the alerts on its own
  steps (a step nobody can reach looks stuck, skipped or abandoned);
- a required step being skipped causes the unexpected-path alerts of the same blueprint.

A cause must be at least as severe as its effect: a ticket-level budget burn never silences a page.

Links are recomputed every cycle: when the cause resolves, the effect stands on its own and is notified.
"""

from __future__ import annotations

from dataclasses import replace

from alerts.cycle import Cycle
from alerts.impact import BlueprintImpact, ImpactMap
from alerts.model import Alert, AlertEvent, Severity
from blueprints.journey_graph import BEHIND_THE_LINE

CAUSE_KINDS = frozenset({"failure", "burn_rate", "latency", "bottleneck"})


def likely_cause(effect: Alert, firing: list[Alert], impact: ImpactMap) -> Alert | None:
    """The earliest-firing alert among `firing` that explains `effect`, or None."""
    bp = impact.of(effect.blueprint)
    causes = [
        c
        for c in firing
        if c.id != effect.id and c.blueprint == effect.blueprint and _explains(c, effect, bp)
    ]
    causes.sort(key=lambda c: (c.fired_at or c.started_at, c.id))
    return causes[0] if causes else None


SEVERITY_RANK = {Severity.PAGE: 2, Severity.TICKET: 1, Severity.INFO: 0}


def _explains(cause: Alert, effect: Alert, bp: BlueprintImpact) -> bool:
    if SEVERITY_RANK[cause.severity] < SEVERITY_RANK[effect.severity]:
        return False  # a slow budget burn does not explain away a page
    if cause.kind in CAUSE_KINDS and cause.step and bp.lanes.get(cause.step) in BEHIND_THE_LINE:
        served = bp.serves.get(cause.step, frozenset())
        if effect.step and effect.step in served:
            return True
        if effect.kind == "dark" and effect.touchpoint and served & bp.steps_at(effect.touchpoint):
            return True
    if cause.kind == "dark" and cause.touchpoint:
        if effect.kind == "dark" and effect.touchpoint:
            return bp.touchpoint_downstream(cause.touchpoint, effect.touchpoint)
        if effect.step and bp.touchpoint_of.get(effect.step) == cause.touchpoint:
            return (
                True  # a step at a dark touchpoint looks stuck, skipped or abandoned: it is the same outage
            )
    if cause.kind == "conformance" and effect.kind == "conformance":
        return cause.labels.get("problem") == "skipped" and effect.labels.get("problem") == "unexpected"
    return False


def link_causes(cycle: Cycle) -> Cycle:
    """Pipeline stage: set or clear `caused_by` on every active alert, and the episodes' cause links."""
    impact = cycle.impact or ImpactMap()
    active = [a for a in cycle.alerts.values() if a.is_active]
    alerts = dict(cycle.alerts)
    events: list[AlertEvent] = []
    for key, alert in cycle.alerts.items():
        if not alert.is_active:
            continue
        cause = likely_cause(alert, active, impact)
        if cause is not None and cause.caused_by == alert.id:
            cause = None  # never link two alerts to each other
        cause_id = cause.id if cause else None
        if cause_id == alert.caused_by:
            continue
        alerts[key] = alert.model_copy(update={"caused_by": cause_id})
        action, detail = (
            ("inhibited", f"likely caused by {cause.rule_id} on {cause.step or cause.touchpoint}")
            if cause
            else ("uninhibited", "its likely cause is over")
        )
        events.append(
            AlertEvent(
                at=cycle.now, alert_id=alert.id, episode_id=alert.episode_id, action=action, detail=detail
            )
        )
    by_id = {a.id: a for a in alerts.values()}
    episodes = dict(cycle.episodes)
    for episode_id, episode in cycle.episodes.items():
        if not episode.is_open:
            continue
        members = [by_id[a] for a in episode.alert_ids if a in by_id and by_id[a].is_active]
        cause_episode = None
        if members and all(m.caused_by in by_id for m in members):
            causes = sorted(e for m in members if (e := by_id[m.caused_by or ""].episode_id))
            cause_episode = causes[0] if causes else None
        if cause_episode != episode.cause_episode_id:
            episodes[episode_id] = episode.model_copy(update={"cause_episode_id": cause_episode})
    return replace(cycle, alerts=alerts, episodes=episodes, events=cycle.events + tuple(events))
