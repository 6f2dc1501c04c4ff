"""Webhook notifications: the `Notification` as JSON, signed with HMAC-SHA256.

The body is `Notification.model_dump_json()` — its JSON schema is `webhook_schema()` (print it with
`touchpoint alerts webhook-schema`). Every request carries::

    Content-Type: application/json
    X-Touchpoint-Event: firing | resolved
    X-Touchpoint-Delivery: <notification id, the same on every retry: use it to drop duplicates>
    X-Touchpoint-Timestamp: <Unix seconds when the engine decided to send it>
    X-Touchpoint-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the shared secret>

The signature is sent only when the destination has a secret (`secret_env` names the environment variable
that holds it). Receivers check it with `verify_signature` and should refuse old timestamps (replays).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from alerts.notify.base import DeliveryResult, DestinationBase, Notification, Notifier, post, secret_from

SIGNATURE_HEADER = "X-Touchpoint-Signature"
TIMESTAMP_HEADER = "X-Touchpoint-Timestamp"


class WebhookDestination(DestinationBase):
    """An HTTP(S) endpoint that receives the notification JSON."""

    kind: Literal["webhook"] = "webhook"
    url: str = Field(pattern=r"^https?://")
    secret_env: str | None = Field(default=None, description="environment variable holding the HMAC key")
    headers: dict[str, str] = Field(default_factory=dict)

    def notifier(self, environ: Mapping[str, str]) -> Notifier:
        secret = secret_from(environ, self.secret_env, f"destination {self.id} secret_env")
        return WebhookNotifier(self.url, secret.encode() if secret else None, self.timeout_s, self.headers)


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header value for `body` sent at `timestamp`."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(secret: bytes, timestamp: str, body: bytes, header: str) -> bool:
    """Whether `header` is the signature of `body` at `timestamp` under `secret` (constant-time compare)."""
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def webhook_schema() -> dict[str, Any]:
    """The JSON schema of the webhook body."""
    return Notification.model_json_schema()


class WebhookNotifier:
    """POSTs each notification as JSON to one URL."""

    def __init__(
        self,
        url: str,
        secret: bytes | None,
        timeout_s: float = 10.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.url = url
        self._secret = secret
        self._timeout_s = timeout_s
        self._headers = dict(headers or {})

    def send(self, notification: Notification) -> DeliveryResult:
        body = notification.model_dump_json().encode()
        timestamp = str(int(notification.sent_at.timestamp()))
        headers = {
            **self._headers,
            "Content-Type": "application/json",
            "User-Agent": "touchpoint-alerts/1",
            "X-Touchpoint-Event": notification.status,
            "X-Touchpoint-Delivery": notification.id,
            TIMESTAMP_HEADER: timestamp,
        }
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(self._secret, timestamp, body)
        return post(self.url, body, headers, self._timeout_s)
