"""What every notifier shares: the notification it sends, the result it returns, and its destination config.

A notifier has one method, `send(notification) -> DeliveryResult`, and never raises for a delivery problem:
the result says whether the message arrived, whether trying again later may help (`RETRY`: a timeout, a
refused connection, HTTP 429/5xx, SMTP 4xx) or not (`FAILED`: a bad address, HTTP 4xx, SMTP 5xx). Retrying
with backoff and logging each attempt is the dispatcher's job (alerts/notify/dispatch.py), not the notifier's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal, Protocol

import requests
from pydantic import BaseModel, ConfigDict, Field

from alerts.durations import Duration
from alerts.model import Alert, Episode


class Notification(BaseModel):
    """One message about one episode to one destination. This is also the webhook's JSON body (version 1)."""

    model_config = ConfigDict(frozen=True)

    version: Literal["1"] = "1"
    id: str = Field(description="unique per message; the same id on every retry of it")
    destination: str
    status: Literal["firing", "resolved"]
    reason: Literal["new", "update", "repeat", "resolved"] = Field(
        description="new episode, alerts added to it, repeat interval reached, or the episode is over"
    )
    sent_at: datetime = Field(description="when the engine decided to send it (UTC)")
    episode: Episode
    alerts: tuple[Alert, ...] = Field(description="the episode's alerts: firing ones, or all when resolved")
    affected: tuple[Alert, ...] = Field(
        default=(), description="alerts on customer-facing steps linked to these alerts as their likely cause"
    )

    @property
    def title(self) -> str:
        """`[FIRING] online-order / checkout: <first alert's summary>` — a subject line or message header."""
        target = self.episode.target.removeprefix("touchpoint:")
        lead = self.alerts[0].summary if self.alerts else "no alerts"
        more = f" (+{len(self.alerts) - 1} more)" if len(self.alerts) > 1 else ""
        return f"[{self.status.upper()}] {self.episode.blueprint} / {target}: {lead}{more}"

    def text(self) -> str:
        """The message as plain text lines: every alert, and the customer-facing steps it hurts."""
        lines = [self.title, ""]
        for alert in self.alerts:
            where = alert.step or alert.touchpoint or alert.blueprint
            lines.append(f"- [{alert.severity}] {alert.rule_id} on {where}: {alert.summary} ({alert.state})")
        if self.affected:
            lines += ["", "Also affected (linked to this as the likely cause):"]
            lines += [f"- {a.step or a.touchpoint}: {a.summary}" for a in self.affected]
        lines += ["", f"episode {self.episode.id}, opened {self.episode.opened_at.isoformat()}"]
        return "\n".join(lines)


class DeliveryOutcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # failed, and trying again later may work
    FAILED = "failed"  # failed for good: retrying would fail the same way


@dataclass(frozen=True)
class DeliveryResult:
    """How one attempt to send went."""

    outcome: DeliveryOutcome
    status: int | None = None  # HTTP or SMTP status code, when there was one
    detail: str = ""
    retry_after_s: float | None = None  # what the destination asked for (HTTP Retry-After)

    @property
    def retryable(self) -> bool:
        return self.outcome is DeliveryOutcome.RETRY


class Notifier(Protocol):
    """Sends notifications to one destination."""

    def send(self, notification: Notification) -> DeliveryResult:
        """Try once to deliver `notification`; never raises for a delivery problem."""
        ...


class DestinationBase(BaseModel):
    """Where notifications go, and which alerts go there.

    `match` routes by alert label (`severity: page`, or a list of accepted values); an empty `match` takes
    every alert. `repeat_interval` is how often an unacknowledged firing episode is sent again.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    match: dict[str, str | list[str]] = Field(default_factory=dict)
    send_resolved: bool = True
    repeat_interval: Duration = timedelta(hours=4)
    timeout_s: float = Field(10.0, gt=0)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether an alert with these labels goes to this destination."""
        for name, accepted in self.match.items():
            allowed = [accepted] if isinstance(accepted, str) else accepted
            if labels.get(name) not in allowed:
                return False
        return True

    def notifier(self, environ: Mapping[str, str]) -> Notifier:
        """The notifier for this destination; secrets come from `environ` under the names configured."""
        raise NotImplementedError


def secret_from(environ: Mapping[str, str], name: str | None, what: str) -> str | None:
    """The value of environment variable `name`, or a clear error naming the destination field."""
    if name is None:
        return None
    value = environ.get(name)
    if value is None:
        raise LookupError(f"{what}: environment variable {name} is not set")
    return value


def post(url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> DeliveryResult:
    """POST `body` to `url` once; HTTP 2xx is delivered, 408/429/5xx and network errors are worth retrying."""
    try:
        response = requests.post(url, data=body, headers=dict(headers), timeout=timeout_s)
    except requests.RequestException as exc:
        return DeliveryResult(DeliveryOutcome.RETRY, None, f"{type(exc).__name__}: {exc}")
    detail = response.text[:300]
    if 200 <= response.status_code < 300:
        return DeliveryResult(DeliveryOutcome.DELIVERED, response.status_code, detail)
    if response.status_code in (408, 425, 429) or response.status_code >= 500:
        return DeliveryResult(DeliveryOutcome.RETRY, response.status_code, detail, _retry_after(response))
    return DeliveryResult(DeliveryOutcome.FAILED, response.status_code, detail)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
