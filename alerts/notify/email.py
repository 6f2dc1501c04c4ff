"""Email notifications over SMTP (plain text; STARTTLS or TLS and login when configured)."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Literal

from pydantic import Field

from alerts.notify.base import (
    DeliveryOutcome,
    DeliveryResult,
    DestinationBase,
    Notification,
    Notifier,
    secret_from,
)


class EmailDestination(DestinationBase):
    """An SMTP relay and the people to write to."""

    kind: Literal["email"] = "email"
    host: str
    port: int = Field(25, ge=1, le=65535)
    from_addr: str = Field(alias="from", pattern=r"^[^@\s]+@[^@\s]+$")
    to: list[str] = Field(min_length=1)
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password_env: str | None = None

    def notifier(self, environ: Mapping[str, str]) -> Notifier:
        password = secret_from(environ, self.password_env, f"destination {self.id} password_env")
        return EmailNotifier(
            self.host,
            self.port,
            self.from_addr,
            tuple(self.to),
            self.security,
            self.username,
            password,
            self.timeout_s,
        )


def email_message(notification: Notification, sender: str, to: tuple[str, ...]) -> EmailMessage:
    """The message: the title as subject, every alert in the body; threads by episode id."""
    message = EmailMessage()
    message["Subject"] = notification.title
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = format_datetime(notification.sent_at)
    message["Message-ID"] = make_msgid(domain="touchpoint.local")
    message["X-Touchpoint-Episode"] = notification.episode.id
    message["X-Touchpoint-Delivery"] = notification.id
    message.set_content(notification.text())
    return message


class EmailNotifier:
    """Sends each notification as one email through one SMTP relay."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        to: tuple[str, ...],
        security: str = "none",
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender, self.to = host, port, sender, to
        self._security, self._username, self._password = security, username, password
        self._timeout_s = timeout_s

    def send(self, notification: Notification) -> DeliveryResult:
        message = email_message(notification, self.sender, self.to)
        try:
            smtp_class = smtplib.SMTP_SSL if self._security == "tls" else smtplib.SMTP
            with smtp_class(self.host, self.port, timeout=self._timeout_s) as smtp:
                if self._security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if self._username:
                    smtp.login(self._username, self._password or "")
                refused = smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            return DeliveryResult(DeliveryOutcome.FAILED, exc.smtp_code, f"login refused: {exc.smtp_error!r}")
        except smtplib.SMTPResponseException as exc:
            return _by_code(exc.smtp_code, f"{type(exc).__name__}: {exc.smtp_error!r}")
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            return _by_code(min(codes), f"every recipient refused: {exc.recipients}")
        except (smtplib.SMTPException, OSError) as exc:
            return DeliveryResult(DeliveryOutcome.RETRY, None, f"{type(exc).__name__}: {exc}")
        if refused:
            return DeliveryResult(DeliveryOutcome.DELIVERED, 250, f"some recipients refused: {refused}")
        return DeliveryResult(DeliveryOutcome.DELIVERED, 250, f"sent to {', '.join(self.to)}")


def _by_code(code: int, detail: str) -> DeliveryResult:
    """SMTP 4xx is temporary (try again), 5xx permanent."""
    outcome = DeliveryOutcome.RETRY if 400 <= code < 500 else DeliveryOutcome.FAILED
    return DeliveryResult(outcome, code, detail)
