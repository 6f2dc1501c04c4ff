"""`touchpoint serve` as a user runs it: one owner per data directory, clean stop, nothing lost on restart."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import psutil
import requests

from bench.otlp_payloads import build_request
from tests.conftest import ROOT, free_port

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def _span_count(url: str) -> int:
    return int(requests.get(f"{url}/api/v1/health", timeout=10).json()["database"]["spans"])


def test_second_serve_on_the_same_data_directory_fails_at_once_with_a_clear_message(serve_process, tmp_path) -> None:
    first = serve_process()
    started = time.monotonic()
    second = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 1
    assert time.monotonic() - started < 30
    assert "is in use by another process (pid " in second.stderr
    assert "Traceback" not in second.stderr
    assert requests.get(f"{first.url}/api/v1/health", timeout=5).status_code == 200


def test_restart_keeps_every_acknowledged_span(serve_process, tmp_path) -> None:
    server = serve_process()
    sent = 0
    for seed in range(5):
        body = build_request(400, seed=seed, start_ns=1_700_000_000_000_000_000).SerializeToString()
        assert requests.post(f"{server.url}/v1/traces", data=body, headers=PROTOBUF, timeout=30).status_code == 200
        sent += 400
    # the span mapping workers, and the resource tracker multiprocessing starts beside them
    helpers = psutil.Process(server.proc.pid).children(recursive=True)
    assert helpers
    assert server.stop() == 0
    assert "Traceback" not in server.output()
    _, alive = psutil.wait_procs(helpers, timeout=10)  # the tracker leaves when it reads the end of its pipe
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], "helper processes outlived serve"

    restarted = serve_process()
    assert _span_count(restarted.url) == sent


def test_unknown_database_address_is_refused_with_the_expected_forms(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--db", "postgres://x"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "is not understood: expected chdb://./path" in result.stderr


def test_a_plain_serve_runs_every_part_blueprints_state_and_alerts(serve_process, tmp_path) -> None:
    shutil.copytree(ROOT / "blueprints" / "maps", tmp_path / "blueprints" / "maps")
    shutil.copytree(ROOT / "alerts" / "rules", tmp_path / "alerts" / "rules")
    server = serve_process(extra_env={"TOUCHPOINT_EVALUATE_EVERY_S": "0.5"})

    listed = requests.get(f"{server.url}/api/v1/blueprints", timeout=10).json()["blueprints"]
    state = requests.get(f"{server.url}/api/v1/blueprints/online-order/state?window=15m", timeout=30)
    rules = requests.get(f"{server.url}/api/v1/alerts/rules", timeout=10).json()
    alerts = requests.get(f"{server.url}/api/v1/alerts", timeout=10)

    assert {b["id"] for b in listed} == {"online-order", "store-visit", "support-line"}
    assert state.status_code == 200
    assert {s["step_id"] for s in state.json()["steps"]} >= {"checkout", "payment"}
    assert any(rule["id"] == "web-shop-failing" for rule in rules["rules"])
    assert alerts.status_code == 200 and alerts.json()["alerts"] == []
    deadline = time.monotonic() + 30
    while (status := requests.get(f"{server.url}/api/v1/alerts/status", timeout=10).json())["at"] is None:
        assert time.monotonic() < deadline, "the alert engine never evaluated"
        time.sleep(0.5)
    assert status["leading"] is True and status["error"] is None
