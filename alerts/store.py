"""Alert state in ClickHouse, so it survives restarts: alerts, episodes, audit trail, silences, deliveries.

Alerts, episodes and silences change over their life: each change is a new row of a ReplacingMergeTree and
reads take the latest (`FINAL`). The audit trail and the delivery log only grow. Each row keeps the full
value as JSON (`doc`) next to the columns queries filter on, so the types in alerts/model.py stay the schema.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from alerts.model import OPEN_STATES, Alert, AlertEvent, Episode
from alerts.notify.dispatch import DeliveryAttempt
from alerts.silence import Silence
from collectors.schema import Migration, register_migration

ALERTS = "touchpoint_alerts"
EPISODES = "touchpoint_alert_episodes"
AUDIT = "touchpoint_alert_audit"
SILENCES = "touchpoint_silences"
DELIVERIES = "touchpoint_alert_deliveries"


def _ddl(_options: Any) -> list[str]:
    return [
        f"""CREATE TABLE IF NOT EXISTS {ALERTS} (
            id String, fingerprint String, rule_id String, state LowCardinality(String),
            severity LowCardinality(String), blueprint LowCardinality(String), step String, touchpoint String,
            episode_id String, started_at DateTime64(3, 'UTC'), version UInt64, doc String
        ) ENGINE = ReplacingMergeTree(version) ORDER BY id""",
        f"""CREATE TABLE IF NOT EXISTS {EPISODES} (
            id String, blueprint LowCardinality(String), target String, opened_at DateTime64(3, 'UTC'),
            closed_at Nullable(DateTime64(3, 'UTC')), version UInt64, doc String
        ) ENGINE = ReplacingMergeTree(version) ORDER BY id""",
        f"""CREATE TABLE IF NOT EXISTS {AUDIT} (
            at DateTime64(3, 'UTC'), alert_id String, episode_id String, action LowCardinality(String),
            actor String, detail String
        ) ENGINE = MergeTree ORDER BY (alert_id, at)""",
        f"""CREATE TABLE IF NOT EXISTS {SILENCES} (
            id String, starts_at DateTime64(3, 'UTC'), ends_at DateTime64(3, 'UTC'), created_by String,
            deleted UInt8, version UInt64, doc String
        ) ENGINE = ReplacingMergeTree(version) ORDER BY id""",
        f"""CREATE TABLE IF NOT EXISTS {DELIVERIES} (
            at DateTime64(3, 'UTC'), notification_id String, episode_id String,
            destination LowCardinality(String), attempt UInt16, outcome LowCardinality(String), status Int32,
            detail String, duration_ms Float64
        ) ENGINE = MergeTree ORDER BY (at, notification_id)""",
    ]


register_migration(Migration(200, "alert state: alerts, episodes, audit trail, silences, delivery log", _ddl))


class AlertStore:
    """Reads and writes alert state through a clickhouse-connect client (one per calling thread)."""

    def __init__(self, client: Callable[[], Any]) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._last_version = 0

    def _version(self) -> int:
        # Later writes must win even within one nanosecond tick.
        with self._lock:
            self._last_version = max(self._last_version + 1, time.time_ns())
            return self._last_version

    # --- alerts and episodes ------------------------------------------------------------------

    def save(
        self,
        alerts: Iterable[Alert] = (),
        episodes: Iterable[Episode] = (),
        events: Iterable[AlertEvent] = (),
    ) -> None:
        """Write new versions of `alerts` and `episodes`, and append `events` to the audit trail."""
        client = self._client()
        alert_rows = [
            [
                a.id,
                a.fingerprint,
                a.rule_id,
                str(a.state),
                str(a.severity),
                a.blueprint,
                a.step or "",
                a.touchpoint or "",
                a.episode_id or "",
                a.started_at,
                self._version(),
                a.model_dump_json(),
            ]
            for a in alerts
        ]
        if alert_rows:
            client.insert(
                ALERTS,
                alert_rows,
                column_names=[
                    "id",
                    "fingerprint",
                    "rule_id",
                    "state",
                    "severity",
                    "blueprint",
                    "step",
                    "touchpoint",
                    "episode_id",
                    "started_at",
                    "version",
                    "doc",
                ],
            )
        episode_rows = [
            [e.id, e.blueprint, e.target, e.opened_at, e.closed_at, self._version(), e.model_dump_json()]
            for e in episodes
        ]
        if episode_rows:
            client.insert(
                EPISODES,
                episode_rows,
                column_names=["id", "blueprint", "target", "opened_at", "closed_at", "version", "doc"],
            )
        event_rows = [[e.at, e.alert_id, e.episode_id or "", e.action, e.actor, e.detail] for e in events]
        if event_rows:
            client.insert(
                AUDIT, event_rows, column_names=["at", "alert_id", "episode_id", "action", "actor", "detail"]
            )

    def load_open(self) -> tuple[dict[str, Alert], dict[str, Episode]]:
        """What a restarted engine resumes with: open episodes, open alerts, and the resolved members of open
        episodes (a resolved message lists them)."""
        client = self._client()
        episodes = {
            e.id: e
            for e in (
                Episode.model_validate_json(row[0])
                for row in client.query(
                    f"SELECT doc FROM {EPISODES} FINAL WHERE closed_at IS NULL"
                ).result_rows
            )
        }
        rows = client.query(
            f"SELECT doc FROM {ALERTS} FINAL "
            "WHERE state IN {open:Array(String)} OR episode_id IN {eps:Array(String)}",
            parameters={"open": sorted(str(s) for s in OPEN_STATES), "eps": sorted(episodes) or [""]},
        ).result_rows
        alerts = {a.id: a for a in (Alert.model_validate_json(row[0]) for row in rows)}
        return alerts, episodes

    def alerts(
        self,
        states: Iterable[str] = (),
        blueprint: str | None = None,
        step: str | None = None,
        limit: int = 500,
    ) -> list[Alert]:
        """Alerts, newest first, filtered by state (any of), blueprint and step."""
        where, params = ["1"], {"limit": limit}
        if states:
            where.append("state IN {states:Array(String)}")
            params["states"] = list(states)
        if blueprint:
            where.append("blueprint = {blueprint:String}")
            params["blueprint"] = blueprint
        if step:
            where.append("step = {step:String}")
            params["step"] = step
        rows = (
            self._client()
            .query(
                f"SELECT doc FROM {ALERTS} FINAL WHERE {' AND '.join(where)} ORDER BY started_at DESC, id "
                "LIMIT {limit:UInt32}",
                parameters=params,
            )
            .result_rows
        )
        return [Alert.model_validate_json(row[0]) for row in rows]

    def alert(self, alert_id: str) -> Alert | None:
        rows = (
            self._client()
            .query(f"SELECT doc FROM {ALERTS} FINAL WHERE id = {{id:String}}", parameters={"id": alert_id})
            .result_rows
        )
        return Alert.model_validate_json(rows[0][0]) if rows else None

    def episode(self, episode_id: str) -> Episode | None:
        rows = (
            self._client()
            .query(
                f"SELECT doc FROM {EPISODES} FINAL WHERE id = {{id:String}}", parameters={"id": episode_id}
            )
            .result_rows
        )
        return Episode.model_validate_json(rows[0][0]) if rows else None

    def audit(self, alert_id: str) -> list[AlertEvent]:
        """Everything that happened to one alert, oldest first."""
        rows = (
            self._client()
            .query(
                f"SELECT at, alert_id, episode_id, action, actor, detail FROM {AUDIT} "
                "WHERE alert_id = {id:String} ORDER BY at",
                parameters={"id": alert_id},
            )
            .result_rows
        )
        return [
            AlertEvent(
                at=_utc(r[0]), alert_id=r[1], episode_id=r[2] or None, action=r[3], actor=r[4], detail=r[5]
            )
            for r in rows
        ]

    # --- silences -----------------------------------------------------------------------------

    def save_silence(self, silence: Silence, deleted: bool = False) -> None:
        self._client().insert(
            SILENCES,
            [
                [
                    silence.id,
                    silence.starts_at,
                    silence.ends_at,
                    silence.created_by,
                    int(deleted),
                    self._version(),
                    silence.model_dump_json(),
                ]
            ],
            column_names=["id", "starts_at", "ends_at", "created_by", "deleted", "version", "doc"],
        )

    def silences(self, now: datetime | None = None) -> list[Silence]:
        """Silences not deleted; with `now`, only those not yet expired at `now`."""
        where, params = "deleted = 0", {}
        if now is not None:
            where += " AND ends_at > {now:DateTime64(3, 'UTC')}"
            params["now"] = now
        rows = (
            self._client()
            .query(f"SELECT doc FROM {SILENCES} FINAL WHERE {where} ORDER BY starts_at", parameters=params)
            .result_rows
        )
        return [Silence.model_validate_json(row[0]) for row in rows]

    def silence(self, silence_id: str) -> tuple[Silence, bool] | None:
        """A silence and whether it was deleted."""
        rows = (
            self._client()
            .query(
                f"SELECT doc, deleted FROM {SILENCES} FINAL WHERE id = {{id:String}}",
                parameters={"id": silence_id},
            )
            .result_rows
        )
        return (Silence.model_validate_json(rows[0][0]), bool(rows[0][1])) if rows else None

    # --- deliveries ---------------------------------------------------------------------------

    def log_delivery(self, attempt: DeliveryAttempt) -> None:
        """Append one delivery attempt to the log."""
        self._client().insert(
            DELIVERIES,
            [
                [
                    attempt.at,
                    attempt.notification_id,
                    attempt.episode_id,
                    attempt.destination,
                    attempt.attempt,
                    attempt.outcome,
                    -1 if attempt.status is None else attempt.status,
                    attempt.detail,
                    attempt.duration_ms,
                ]
            ],
            column_names=[
                "at",
                "notification_id",
                "episode_id",
                "destination",
                "attempt",
                "outcome",
                "status",
                "detail",
                "duration_ms",
            ],
        )

    def deliveries(self, episode_id: str | None = None, limit: int = 200) -> list[DeliveryAttempt]:
        """Delivery attempts, newest first, optionally of one episode."""
        where, params = ("episode_id = {ep:String}", {"ep": episode_id}) if episode_id else ("1", {})
        rows = (
            self._client()
            .query(
                "SELECT at, notification_id, episode_id, destination, attempt, outcome, status, detail, "
                f"duration_ms FROM {DELIVERIES} WHERE {where} ORDER BY at DESC LIMIT {{limit:UInt32}}",
                parameters={**params, "limit": limit},
            )
            .result_rows
        )
        return [
            DeliveryAttempt(
                _utc(r[0]),
                r[1],
                r[2],
                r[3],
                int(r[4]),
                r[5],
                None if r[6] < 0 else int(r[6]),
                r[7],
                float(r[8]),
            )
            for r in rows
        ]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
