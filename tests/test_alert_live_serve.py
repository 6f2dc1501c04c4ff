"""Alerting end to end, as a user runs it: a real `touchpoint serve` subprocess receives failing spans from the
OpenTelemetry SDK's own OTLP exporter and pages a webhook on 127.0.0.1 with a signed notification."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator

import pytest
from alert_journeys import FIXTURES
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode
from test_alert_notify import Recorder

from alerts.notify.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature

SECRET = "live-serve-test-secret"
RULES = """
rules:
  - id: pay-failing
    kind: failure
    blueprint: shop
    step: pay
    threshold: 0.2
destinations:
  - id: on-call
    kind: webhook
    url: {hook}
    secret_env: LIVE_HOOK_SECRET
"""
FIRING_WITHIN_S = 60.0


@pytest.fixture
def hook() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    recorder.close()


def send_failing_payments(url: str, count: int) -> None:
    """`count` failed `POST /pay` spans of the checkout service, each its own journey, through the SDK."""
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces", timeout=10)))
    tracer = provider.get_tracer("test_alert_live_serve")
    for n in range(count):
        with tracer.start_as_current_span("POST /pay", attributes={"journey.id": f"live-{n}"}) as span:
            span.set_status(Status(StatusCode.ERROR, "card declined by the gateway"))
    assert provider.force_flush(30_000), "the OTLP exporter did not flush its spans"
    provider.shutdown()


def firing_notifications(hook: Recorder, rule_id: str) -> list[tuple[dict[str, str], bytes]]:
    """The firing notifications the hook received that carry an alert of `rule_id`, headers and body.

    The blueprint's generated rules on the same step may page first, in a notification of their own."""
    found = []
    for _, headers, body in hook.requests:
        if headers.get("X-Touchpoint-Event") != "firing":
            continue
        if any(a["rule_id"] == rule_id for a in json.loads(body)["alerts"]):
            found.append((headers, body))
    return found


def test_failing_spans_page_the_webhook_with_a_signed_firing_alert_on_the_step(
    serve_process,  # noqa: ANN001 - the conftest fixture
    tmp_path,  # noqa: ANN001
    hook: Recorder,
) -> None:
    shutil.copytree(FIXTURES / "blueprints", tmp_path / "maps")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "shop.yaml").write_text(RULES.format(hook=hook.url + "/hook"))
    server = serve_process(
        extra_env={
            "TOUCHPOINT_EVALUATE_EVERY_S": "0.5",
            "TOUCHPOINT_BLUEPRINTS": str(tmp_path / "maps"),
            "TOUCHPOINT_RULES": str(tmp_path / "rules"),
            "LIVE_HOOK_SECRET": SECRET,
        }
    )

    send_failing_payments(server.url, 30)
    deadline = time.monotonic() + FIRING_WITHIN_S
    while not firing_notifications(hook, "pay-failing"):
        assert time.monotonic() < deadline, f"no firing notification within {FIRING_WITHIN_S:g} s: {server.output()}"
        time.sleep(0.25)

    headers, body = firing_notifications(hook, "pay-failing")[0]
    notification = json.loads(body)
    ours = [a for a in notification["alerts"] if a["rule_id"] == "pay-failing"]
    assert ours and ours[0]["step"] == "pay" and ours[0]["state"] == "firing"
    assert notification["episode"]["blueprint"] == "shop"
    assert verify_signature(SECRET.encode(), headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert not verify_signature(b"another secret", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
