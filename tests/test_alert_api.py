"""The alert API of a real server on 127.0.0.1: alerts found by the engine, what people do to them, silences,
rules in force, the delivery log — and all of it still there after a restart."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from alert_journeys import FIXTURES, USUAL, Shape, insert, traffic
from test_alert_notify import Recorder

from alerts.notify.dispatch import Backoff
from app.api import alerts as alerts_api
from app.server import BackgroundServer, serve_in_thread
from app.settings import Settings

RULES = """
rules:
  - id: shop-web-failing
    kind: failure
    blueprint: shop
    touchpoint: web
    threshold: 0.05
destinations:
  - id: on-call
    kind: webhook
    url: {hook}
    match:
      severity: page
  - id: broken
    kind: webhook
    url: http://127.0.0.1:9/nobody-listens
"""


@pytest.fixture(scope="module")
def hook() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    recorder.close()


@pytest.fixture(scope="module")
def settings(dsn: str, hook: Recorder, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    rules = tmp_path_factory.mktemp("rules")
    (rules / "shop.yaml").write_text(RULES.format(hook=hook.url + "/hook"))
    return Settings(db=dsn, port=0, evaluate_alerts=False, blueprints=FIXTURES / "blueprints", rules=rules)


def start(settings: Settings) -> BackgroundServer:
    return serve_in_thread(settings, start_hooks=[alerts_api.start])


@pytest.fixture(scope="module")
def server(settings: Settings, ch) -> Iterator[BackgroundServer]:  # noqa: ANN001
    now = datetime.now(UTC)
    failing = Shape(fail=frozenset({"pay"}))
    insert(
        ch,
        traffic(
            now - timedelta(hours=1),
            now,
            5,
            lambda at, n: failing if at > now - timedelta(minutes=4) else USUAL,
        ),
    )
    running = start(settings)
    engine = running.runtime.ctx.parts["alerts"]
    engine.backoff = Backoff(initial_s=0.01, attempts=2)
    engine.run_once()
    engine.run_once()  # a destination that cannot be reached does not stop the next cycle
    assert engine.wait_for_deliveries(30)
    yield running
    running.stop()


def api(server: BackgroundServer, path: str) -> str:
    return f"{server.url}/api/v1{path}"


def firing_on_pay(server: BackgroundServer) -> dict:
    alerts = requests.get(api(server, "/alerts"), timeout=10).json()["alerts"]
    return next(a for a in alerts if a["rule_id"] == "shop.pay.failure")


def test_the_engine_finds_the_failing_step_and_the_api_lists_it(server: BackgroundServer) -> None:
    alert = firing_on_pay(server)

    assert alert["state"] in ("firing", "acknowledged")
    assert alert["blueprint"] == "shop" and alert["step"] == "pay"
    assert server.runtime.ctx.parts["alerts"].status.error is None


def test_only_the_states_asked_for_are_listed(server: BackgroundServer) -> None:
    assert requests.get(api(server, "/alerts?state=resolved"), timeout=10).json()["alerts"] == []
    bad = requests.get(api(server, "/alerts?state=burning"), timeout=10)
    assert bad.status_code == 400
    assert bad.json()["error"] == "state 'burning' is not one of pending, firing, acknowledged, resolved, all"


def test_the_page_reached_the_webhook_and_the_delivery_log(server: BackgroundServer, hook: Recorder) -> None:
    pages = [r for r in hook.requests if r[0] == "/hook"]
    assert pages
    deliveries = requests.get(api(server, "/alerts/deliveries"), timeout=10).json()["deliveries"]
    outcomes = {(d["destination"], d["outcome"]) for d in deliveries}
    assert ("on-call", "delivered") in outcomes
    assert ("broken", "retry") in outcomes


def test_acknowledging_assigning_and_noting_are_recorded_in_the_audit_trail(server: BackgroundServer) -> None:
    alert_id = firing_on_pay(server)["id"]

    acked = requests.post(api(server, f"/alerts/{alert_id}/ack"), json={"by": "sam"}, timeout=10)
    again = requests.post(api(server, f"/alerts/{alert_id}/ack"), json={"by": "kim"}, timeout=10)
    requests.post(
        api(server, f"/alerts/{alert_id}/assign"), json={"by": "sam", "assignee": "kim"}, timeout=10
    )
    requests.post(
        api(server, f"/alerts/{alert_id}/note"), json={"by": "kim", "text": "gateway restarted"}, timeout=10
    )

    assert acked.status_code == 200 and acked.json()["alert"]["acknowledged_by"] == "sam"
    assert again.status_code == 409 and "is already acknowledged by sam" in again.json()["error"]
    detail = requests.get(api(server, f"/alerts/{alert_id}"), timeout=10).json()
    assert detail["alert"]["assignee"] == "kim"
    assert [n["text"] for n in detail["alert"]["notes"]] == ["gateway restarted"]
    actions = [e["action"] for e in detail["audit"]]
    assert actions[:2] == ["pending", "firing"]
    assert {"acknowledged", "assigned", "note", "notified"} <= set(actions)
    assert detail["episode"]["target"] == "pay"


def test_acting_on_an_unknown_alert_is_a_404(server: BackgroundServer) -> None:
    response = requests.post(api(server, "/alerts/a-nope/resolve"), json={}, timeout=10)

    assert response.status_code == 404
    assert response.json() == {"error": "no alert has the id 'a-nope'"}


def test_silences_are_added_listed_and_expired(server: BackgroundServer) -> None:
    created = requests.post(
        api(server, "/silences"),
        json={
            "matchers": ["blueprint=shop", "step=~pa.*"],
            "duration": "2h",
            "created_by": "sam",
            "comment": "gateway maintenance",
        },
        timeout=10,
    )
    assert created.status_code == 201
    silence = created.json()["silence"]
    listed = requests.get(api(server, "/silences"), timeout=10).json()["silences"]
    assert silence["id"] in [s["id"] for s in listed]

    expired = requests.delete(api(server, f"/silences/{silence['id']}"), timeout=10)

    assert expired.status_code == 200
    assert silence["id"] not in [
        s["id"] for s in requests.get(api(server, "/silences"), timeout=10).json()["silences"]
    ]
    assert requests.delete(api(server, f"/silences/{silence['id']}"), timeout=10).status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"matchers": ["step"], "duration": "1h"}, "matcher 'step' is not understood: expected NAME=VALUE"),
        ({"matchers": ["step=pay"]}, 'a silence needs "duration" (e.g. "2h") or "ends_at"'),
        ({"matchers": [], "duration": "1h"}, "a silence needs at least one matcher, such as step=checkout"),
        ({"matchers": ["step=pay"], "duration": "soon"}, "'soon' is not a duration"),
        (
            {"matchers": ["step=pay"], "ends_at": "2024-05-01T12:00:00"},
            "ends_at '2024-05-01T12:00:00' needs a time zone",
        ),
    ],
)
def test_a_bad_silence_is_refused_with_what_to_fix(
    server: BackgroundServer, body: dict, message: str
) -> None:
    response = requests.post(api(server, "/silences"), json=body, timeout=10)

    assert response.status_code == 400
    assert response.json()["error"].startswith(message)


def test_the_rules_in_force_say_where_each_comes_from(server: BackgroundServer) -> None:
    body = requests.get(api(server, "/alerts/rules"), timeout=10).json()

    origins = {r["id"]: r["origin"] for r in body["rules"]}
    assert origins["shop-web-failing"].endswith("shop.yaml:3")
    assert origins["shop.pay.failure"] == "generated from blueprint shop"
    assert {d["id"]: d["ready"] for d in body["destinations"]} == {"on-call": True, "broken": True}
    assert body["problems"] == []


def test_alert_state_survives_a_restart(server: BackgroundServer, settings: Settings) -> None:
    alert_id = firing_on_pay(server)["id"]
    server.stop()
    again = start(settings)
    try:
        engine = again.runtime.ctx.parts["alerts"]
        assert alert_id in {a.id for a in engine.book.open_alerts()}
        listed = requests.get(api(again, "/alerts"), timeout=10).json()["alerts"]
        assert alert_id in [a["id"] for a in listed]
    finally:
        again.stop()
        server.stop = lambda: None  # type: ignore[method-assign]


def test_rules_directory_changes_are_picked_up_and_a_broken_one_keeps_the_last_good(tmp_path: Path) -> None:
    from alerts.rule_source import RuleSource, directory_blueprints

    (tmp_path / "a.yaml").write_text(RULES.format(hook="http://127.0.0.1:9/h"))
    source = RuleSource(tmp_path, directory_blueprints(FIXTURES / "blueprints"))
    assert "shop-web-failing" in source.current().rules.by_id()

    (tmp_path / "a.yaml").write_text("rules:\n  - id: x\n    kind: nope\n")
    broken = source.current()

    assert "shop-web-failing" in broken.rules.by_id()
    assert broken.problems and "rules[0].kind 'nope' is not one of" in broken.problems[0]
