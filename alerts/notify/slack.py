"""Slack notifications through an incoming webhook (`https://hooks.slack.com/services/…`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from alerts.notify.base import DeliveryResult, DestinationBase, Notification, Notifier, post, secret_from


class SlackDestination(DestinationBase):
    """A Slack incoming webhook; its URL is a secret, so give `url_env` (or `url` for a test hook)."""

    kind: Literal["slack"] = "slack"
    url: str | None = Field(default=None, pattern=r"^https?://")
    url_env: str | None = None

    @model_validator(mode="after")
    def _one_url(self) -> SlackDestination:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("must name exactly one of url, url_env")
        return self

    def notifier(self, environ: Mapping[str, str]) -> Notifier:
        url = self.url or secret_from(environ, self.url_env, f"destination {self.id} url_env")
        assert url is not None
        return SlackNotifier(url, self.timeout_s)


def slack_message(notification: Notification) -> dict[str, Any]:
    """The Slack message: a header line and one bullet per alert, as mrkdwn."""
    icon = ":rotating_light:" if notification.status == "firing" else ":white_check_mark:"
    bullets = [
        f"• *{a.rule_id}* ({a.severity}) on `{a.step or a.touchpoint or a.blueprint}`: {a.summary}"
        for a in notification.alerts
    ]
    if notification.affected:
        bullets.append(
            "_Also affected, likely caused by this:_ "
            + ", ".join(f"`{a.step or a.touchpoint}`" for a in notification.affected)
        )
    text = f"{icon} *{notification.title}*"
    return {
        "text": notification.title,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(bullets) or "_no alerts_"}},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"episode `{notification.episode.id}`"}],
            },
        ],
    }


class SlackNotifier:
    """POSTs a formatted message to one Slack incoming webhook."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url
        self._timeout_s = timeout_s

    def send(self, notification: Notification) -> DeliveryResult:
        body = json.dumps(slack_message(notification)).encode()
        return post(self.url, body, {"Content-Type": "application/json"}, self._timeout_s)
