"""Forwarding to a Prometheus Alertmanager: POST /api/v2/alerts.

Alertmanager forgets an alert it has not heard of for a while, so firing alerts are sent with
`endsAt` = sent_at + 4 x repeat_interval and re-sent every `repeat_interval` (1 minute by default for this
kind); a resolved episode is sent once more with `endsAt` = the moment it resolved.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal

from pydantic import Field

from alerts.durations import Duration
from alerts.model import Alert
from alerts.notify.base import DeliveryResult, DestinationBase, Notification, Notifier, post


class AlertmanagerDestination(DestinationBase):
    """An Alertmanager, by its base URL (`http://alertmanager:9093`)."""

    kind: Literal["alertmanager"] = "alertmanager"
    url: str = Field(pattern=r"^https?://")
    repeat_interval: Duration = timedelta(minutes=1)

    def notifier(self, environ: Mapping[str, str]) -> Notifier:
        return AlertmanagerNotifier(self.url, self.repeat_interval, self.timeout_s)


def _iso(moment: Any) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def alertmanager_alerts(notification: Notification, hold: timedelta) -> list[dict[str, Any]]:
    """The notification's alerts in Alertmanager's postable form."""

    def one(alert: Alert) -> dict[str, Any]:
        labels = {
            **alert.labels,
            "alertname": alert.rule_id,
            "severity": str(alert.severity),
            "blueprint": alert.blueprint,
            "episode": notification.episode.id,
        }
        if alert.step:
            labels["step"] = alert.step
        if alert.touchpoint:
            labels["touchpoint"] = alert.touchpoint
        ends = alert.resolved_at if alert.resolved_at else notification.sent_at + hold
        body: dict[str, Any] = {
            "labels": labels,
            "annotations": {"summary": alert.summary, "state": str(alert.state)},
            "startsAt": _iso(alert.fired_at or alert.started_at),
            "endsAt": _iso(ends),
        }
        if alert.caused_by:
            body["annotations"]["likely_cause"] = alert.caused_by
        return body

    return [one(a) for a in notification.alerts]


class AlertmanagerNotifier:
    """POSTs alerts to one Alertmanager's v2 API."""

    def __init__(self, url: str, repeat_interval: timedelta, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/") + "/api/v2/alerts"
        self._hold = 4 * repeat_interval
        self._timeout_s = timeout_s

    def send(self, notification: Notification) -> DeliveryResult:
        body = json.dumps(alertmanager_alerts(notification, self._hold)).encode()
        return post(self.url, body, {"Content-Type": "application/json"}, self._timeout_s)
