"""Notifications reach real servers on 127.0.0.1: webhooks (signed), Slack, Alertmanager, SMTP; failures worth
it are retried with backoff, every attempt is logged, and one bad destination never holds up another."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from alerts.model import Alert, AlertState, Episode, Severity
from alerts.notify import AlertmanagerDestination, EmailDestination, Notification, SlackDestination
from alerts.notify.base import DeliveryOutcome
from alerts.notify.dispatch import Backoff, DeliveryAttempt, Dispatcher
from alerts.notify.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookDestination, verify_signature

SENT_AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class Recorder:
    """An HTTP server that records requests and answers with the statuses it is given, then 200."""

    def __init__(self, statuses: list[int] | None = None, delay_s: float = 0.0) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.statuses = list(statuses or [])
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                recorder.requests.append((self.path, dict(self.headers), body))
                time.sleep(delay_s)
                status = recorder.statuses.pop(0) if recorder.statuses else 200
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"no")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[type[Recorder]]:
    made: list[Recorder] = []

    def make(statuses: list[int] | None = None, delay_s: float = 0.0) -> Recorder:
        made.append(Recorder(statuses, delay_s))
        return made[-1]

    yield make  # type: ignore[misc]
    for r in made:
        r.close()


def notification(destination: str, status: str = "firing") -> Notification:
    alert = Alert(
        id="a-1",
        fingerprint="f1",
        rule_id="checkout-failing",
        kind="failure",
        severity=Severity.PAGE,
        blueprint="online-order",
        step="checkout",
        labels={"team": "checkout"},
        state=AlertState.FIRING if status == "firing" else AlertState.RESOLVED,
        summary="checkout error rate 23.0% over 5m (23 of 100 spans failed), above 5.0%",
        started_at=SENT_AT - timedelta(minutes=3),
        fired_at=SENT_AT - timedelta(minutes=2),
        resolved_at=None if status == "firing" else SENT_AT,
    )
    affected = alert.model_copy(
        update={"id": "a-2", "step": "review-cart", "caused_by": "a-1", "summary": "review-cart is slow"}
    )
    episode = Episode(
        id="e-1", blueprint="online-order", target="checkout", opened_at=SENT_AT, alert_ids=("a-1",)
    )
    return Notification(
        id="n-1",
        destination=destination,
        status=status,
        reason="new" if status == "firing" else "resolved",
        sent_at=SENT_AT,
        episode=episode,
        alerts=(alert,),
        affected=(affected,),
    )


def deliver(
    destination: object, message: Notification, backoff: Backoff | None = None
) -> list[DeliveryAttempt]:
    log: list[DeliveryAttempt] = []
    notifier = destination.notifier({"HOOK_SECRET": "s3cret"})  # type: ignore[attr-defined]
    dispatcher = Dispatcher({message.destination: notifier}, log.append, backoff or Backoff(initial_s=0.01))
    dispatcher.submit([message])
    assert dispatcher.wait_idle(20)
    dispatcher.close()
    return log


def test_a_webhook_receives_the_notification_json_signed_with_hmac_sha256(recorder) -> None:  # noqa: ANN001
    hook = recorder()
    destination = WebhookDestination(id="hook", url=hook.url + "/touchpoint", secret_env="HOOK_SECRET")

    log = deliver(destination, notification("hook"))

    [(path, headers, body)] = hook.requests
    assert path == "/touchpoint"
    assert headers["X-Touchpoint-Event"] == "firing" and headers["X-Touchpoint-Delivery"] == "n-1"
    assert verify_signature(b"s3cret", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert not verify_signature(b"other", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    received = Notification.model_validate_json(body)
    assert received.alerts[0].summary.startswith("checkout error rate 23.0%")
    assert [a.step for a in received.affected] == ["review-cart"]
    assert json.loads(body)["version"] == "1"
    assert [(a.attempt, a.outcome, a.status) for a in log] == [(1, "delivered", 200)]


def test_a_destination_whose_secret_is_missing_says_which_variable(recorder) -> None:  # noqa: ANN001
    destination = WebhookDestination(id="hook", url="http://127.0.0.1:9", secret_env="NOT_SET_ANYWHERE")

    with pytest.raises(
        LookupError, match="destination hook secret_env: environment variable NOT_SET_ANYWHERE"
    ):
        destination.notifier({})


def test_server_errors_are_retried_with_backoff_until_delivered(recorder) -> None:  # noqa: ANN001
    hook = recorder([503, 429, 200])

    log = deliver(WebhookDestination(id="hook", url=hook.url), notification("hook"))

    assert [(a.attempt, a.outcome, a.status) for a in log] == [
        (1, "retry", 503),
        (2, "retry", 429),
        (3, "delivered", 200),
    ]
    assert len({r[2] for r in hook.requests}) == 1  # the same message every time


def test_a_refusal_that_retrying_cannot_fix_is_not_retried(recorder) -> None:  # noqa: ANN001
    hook = recorder([400])

    log = deliver(WebhookDestination(id="hook", url=hook.url), notification("hook"))

    assert [(a.attempt, a.outcome, a.status) for a in log] == [(1, "failed", 400)]


def test_a_destination_that_never_answers_well_is_given_up_after_the_last_attempt(recorder) -> None:  # noqa: ANN001
    hook = recorder([500, 500, 500, 500])

    log = deliver(
        WebhookDestination(id="hook", url=hook.url), notification("hook"), Backoff(initial_s=0.01, attempts=3)
    )

    assert [a.outcome for a in log] == ["retry", "retry", "gave_up"]


def test_an_unreachable_destination_is_worth_retrying() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = (
        WebhookDestination(id="hook", url=f"http://127.0.0.1:{port}").notifier({}).send(notification("hook"))
    )

    assert result.outcome is DeliveryOutcome.RETRY
    assert "ConnectionError" in result.detail


def test_backoff_grows_to_its_ceiling_and_honours_retry_after() -> None:
    backoff = Backoff(initial_s=2, factor=2, max_s=10)

    assert [backoff.delay_s(n) for n in range(1, 6)] == [2, 4, 8, 10, 10]
    assert backoff.delay_s(1, asked_s=7) == 7


def test_a_slow_destination_does_not_hold_up_another(recorder) -> None:  # noqa: ANN001
    slow, fast = recorder(delay_s=3.0), recorder()
    notifiers = {
        "slow": WebhookDestination(id="slow", url=slow.url).notifier({}),
        "fast": WebhookDestination(id="fast", url=fast.url).notifier({}),
    }
    log: list[DeliveryAttempt] = []
    dispatcher = Dispatcher(notifiers, log.append)

    dispatcher.submit([notification("slow"), notification("fast")])
    deadline = time.monotonic() + 2.5
    while not fast.requests and time.monotonic() < deadline:
        time.sleep(0.01)

    assert fast.requests and not [a for a in log if a.destination == "slow"]
    assert dispatcher.wait_idle(10)
    dispatcher.close()


def test_slack_gets_a_readable_message(recorder) -> None:  # noqa: ANN001
    hook = recorder()

    deliver(SlackDestination(id="chat", url=hook.url + "/services/T/B/X"), notification("chat"))

    body = json.loads(hook.requests[0][2])
    assert body["text"].startswith("[FIRING] online-order / checkout: checkout error rate 23.0%")
    text = json.dumps(body["blocks"])
    assert "checkout-failing" in text and "review-cart" in text


def test_alertmanager_gets_postable_alerts_that_expire_unless_repeated(recorder) -> None:  # noqa: ANN001
    manager = recorder()

    deliver(AlertmanagerDestination(id="am", url=manager.url, repeat_interval="1m"), notification("am"))
    deliver(AlertmanagerDestination(id="am", url=manager.url), notification("am", status="resolved"))

    firing, resolved = (json.loads(r[2]) for r in manager.requests)
    assert manager.requests[0][0] == "/api/v2/alerts"
    assert firing[0]["labels"] == {
        "team": "checkout",
        "alertname": "checkout-failing",
        "severity": "page",
        "blueprint": "online-order",
        "episode": "e-1",
        "step": "checkout",
    }
    assert firing[0]["startsAt"] == "2024-05-01T11:58:00Z"
    assert firing[0]["endsAt"] == "2024-05-01T12:04:00Z"  # four repeat intervals on
    assert resolved[0]["endsAt"] == "2024-05-01T12:00:00Z"


class Mailbox:
    """An SMTP handler that keeps messages, or refuses them with a given reply."""

    def __init__(self, reply: str = "250 OK") -> None:
        self.messages: list[bytes] = []
        self.reply = reply

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        if self.reply.startswith("250"):
            self.messages.append(envelope.content)  # type: ignore[attr-defined]
        return self.reply


@pytest.fixture
def smtp() -> Iterator[type[Mailbox]]:
    controllers: list[Controller] = []

    def start(reply: str = "250 OK") -> tuple[Mailbox, int]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        box = Mailbox(reply)
        controller = Controller(box, hostname="127.0.0.1", port=port)
        controller.start()
        controllers.append(controller)
        return box, port

    yield start  # type: ignore[misc]
    for c in controllers:
        c.stop()


def mail(port: int) -> EmailDestination:
    return EmailDestination(
        id="desk", host="127.0.0.1", port=port, to=["desk@example.com"], **{"from": "touchpoint@example.com"}
    )


def test_email_arrives_through_a_real_smtp_server(smtp) -> None:  # noqa: ANN001
    box, port = smtp()

    log = deliver(mail(port), notification("desk"))

    [raw] = box.messages
    message = message_from_bytes(raw)
    assert message["Subject"].startswith("[FIRING] online-order / checkout: checkout error rate 23.0%")
    assert message["To"] == "desk@example.com" and message["X-Touchpoint-Episode"] == "e-1"
    body = message.get_payload(decode=True).decode()
    assert "checkout-failing on checkout" in body and "Also affected" in body
    assert [(a.outcome, a.status) for a in log] == [("delivered", 250)]


def test_a_temporary_smtp_refusal_is_retried_and_a_permanent_one_is_not(smtp) -> None:  # noqa: ANN001
    _, busy = smtp("451 4.3.0 try again later")
    _, refuses = smtp("554 5.7.1 rejected")

    retried = deliver(mail(busy), notification("desk"), Backoff(initial_s=0.01, attempts=2))
    refused = deliver(mail(refuses), notification("desk"))

    assert [(a.outcome, a.status) for a in retried] == [("retry", 451), ("gave_up", 451)]
    assert [(a.outcome, a.status) for a in refused] == [("failed", 554)]
