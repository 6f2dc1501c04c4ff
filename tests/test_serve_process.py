"""`touchpoint serve` as a user runs it: one owner per data directory, clean stop, nothing lost on restart."""

from __future__ import annotations

import subprocess
import sys
import time

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
        cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60,
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
    assert server.stop() == 0
    assert "Traceback" not in server.output()

    restarted = serve_process()
    assert _span_count(restarted.url) == sent


def test_unknown_database_address_is_refused_with_the_expected_forms(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--db", "postgres://x"],
        cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert "is not understood: expected chdb://./path" in result.stderr
