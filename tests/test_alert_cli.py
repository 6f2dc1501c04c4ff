"""`touchpoint alerts`: rules files checked from the command line; a running server's alerts and silences."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alert_journeys import FIXTURES, USUAL, Shape, insert, traffic

from app.api import alerts as alerts_api
from app.cli import main
from app.server import BackgroundServer, serve_in_thread
from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
RULE_FIXTURES = FIXTURES / "rules"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_valid_rules_files_pass(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        "alerts",
        "rules",
        "validate",
        str(ROOT / "alerts" / "rules"),
        "--blueprints",
        str(ROOT / "blueprints" / "maps"),
    )

    assert (code, err) == (0, "")
    assert out == "2 rules and 0 destinations are valid\n"


def test_invalid_rules_files_fail_with_every_problem_located(capsys: pytest.CaptureFixture[str]) -> None:
    path = RULE_FIXTURES / "checkout.bad-target.yaml"

    code, out, err = run(capsys, "alerts", "rules", "validate", str(path))

    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"{path}:2:5 rules[0] must name exactly one of step, touchpoint",
        f"{path}:8:5 rules[1] must name exactly one of step, touchpoint",
    ]


def test_rules_that_do_not_fit_the_blueprints_fail(capsys: pytest.CaptureFixture[str]) -> None:
    path = RULE_FIXTURES / "checkout.bad-blueprint.yaml"

    code, _, err = run(
        capsys, "alerts", "rules", "validate", str(path), "--blueprints", str(ROOT / "blueprints" / "maps")
    )

    assert code == 1
    assert f"{path}:6:11 rules[0].step 'chekout' is not a step of online-order" in err


def test_the_rules_in_force_include_the_generated_ones(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "alerts",
        "rules",
        "list",
        "--rules",
        str(ROOT / "alerts" / "rules"),
        "--blueprints",
        str(FIXTURES / "blueprints"),
    )

    assert code == 0
    lines = out.splitlines()
    assert any(
        line.startswith("shop.pay.failure ") and "(generated from blueprint shop)" in line for line in lines
    )


def test_the_webhook_schema_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "alerts", "webhook-schema")

    schema = json.loads(out)
    assert code == 0
    assert {"episode", "alerts", "affected", "status", "reason"} <= set(schema["properties"])


@pytest.fixture(scope="module")
def server(dsn: str, ch) -> Iterator[BackgroundServer]:  # noqa: ANN001
    now = datetime.now(UTC)
    insert(
        ch,
        traffic(
            now - timedelta(hours=1),
            now,
            5,
            lambda at, n: Shape(fail=frozenset({"pay"})) if at > now - timedelta(minutes=4) else USUAL,
        ),
    )
    running = serve_in_thread(
        Settings(
            db=dsn,
            port=0,
            evaluate_alerts=False,
            blueprints=FIXTURES / "blueprints",
            rules=FIXTURES / "no-rules",
        ),
        start_hooks=[alerts_api.start],
    )
    running.runtime.ctx.parts["alerts"].run_once()
    yield running
    running.stop()


def test_a_servers_alerts_are_listed_and_acknowledged(
    server: BackgroundServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "alerts", "list", "--url", server.url)
    [line] = [x for x in out.splitlines() if "shop/pay shop.pay.failure: pay error rate" in x]
    alert_id = line.split()[0]

    acked = run(capsys, "alerts", "ack", alert_id, "--by", "sam", "--url", server.url)
    again = run(capsys, "alerts", "ack", alert_id, "--by", "sam", "--url", server.url)

    assert code == 0 and " firing " in line
    assert acked[:2] == (0, f"{alert_id} is acknowledged\n")
    assert again[0] == 1 and "is already acknowledged by sam" in again[2] and "(HTTP 409)" in again[2]


def test_silences_are_added_listed_and_expired_from_the_command_line(
    server: BackgroundServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys,
        "alerts",
        "silence",
        "add",
        "step=pay",
        "severity!=info",
        "--for",
        "2h",
        "--comment",
        "card gateway maintenance",
        "--by",
        "sam",
        "--url",
        server.url,
    )
    silence_id = out.split()[1]
    listed = run(capsys, "alerts", "silence", "list", "--url", server.url)
    expired = run(capsys, "alerts", "silence", "expire", silence_id, "--url", server.url)

    assert code == 0 and out.startswith(f"silence {silence_id} until ")
    assert (
        f"{silence_id}  until" in listed[1] and "step=pay, severity!=info  by sam: card gateway" in listed[1]
    )
    assert expired[:2] == (0, f"silence {silence_id} expired\n")


def test_an_unreachable_server_is_said_so(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "alerts", "list", "--url", "http://127.0.0.1:9")

    assert code == 1
    assert err.startswith("touchpoint alerts: cannot reach http://127.0.0.1:9:")
