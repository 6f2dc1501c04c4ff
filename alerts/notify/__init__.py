"""Notifications: one small interface (alerts/notify/base.py), one module per kind of destination."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from alerts.notify.alertmanager import AlertmanagerDestination
from alerts.notify.base import DeliveryOutcome, DeliveryResult, Notification, Notifier
from alerts.notify.email import EmailDestination
from alerts.notify.slack import SlackDestination
from alerts.notify.webhook import WebhookDestination

Destination = Annotated[
    WebhookDestination | SlackDestination | EmailDestination | AlertmanagerDestination,
    Field(discriminator="kind"),
]

__all__ = [
    "AlertmanagerDestination",
    "DeliveryOutcome",
    "DeliveryResult",
    "Destination",
    "EmailDestination",
    "Notification",
    "Notifier",
    "SlackDestination",
    "WebhookDestination",
]
