"""`gunicorn -c python:app.wsgi`: the real Touchpoint app under real gunicorn.

Only the embedded engine runs here, so the app is served by one worker; that several workers are refused on
it, and that a server that cannot be reached stops the master with a message, are checked too.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from conftest import free_port

from bench.otlp_payloads import build_request

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"

pytestmark = pytest.mark.skipif(not GUNICORN.exists(), reason="needs gunicorn")


def _gunicorn(tmp_path: Path, db: str, *args: str, **env: str) -> tuple[subprocess.Popen[bytes], Path]:
    output = tmp_path / "gunicorn.log"
    process = subprocess.Popen(
        [str(GUNICORN), "-c", "python:app.wsgi", "--no-control-socket", *args],
        cwd=tmp_path,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "TOUCHPOINT_DB": db,
            "TOUCHPOINT_BLUEPRINTS": str(ROOT / "blueprints" / "maps"),
            **env,
        },
        stdout=output.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return process, output


def _wait_healthy(url: str, process: subprocess.Popen[bytes], output: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {process.returncode}:\n{output.read_text()}")
        try:
            if requests.get(url + "/api/v1/health", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"gunicorn did not become healthy:\n{output.read_text()}")


def test_gunicorn_serves_touchpoint_and_commits_spans_before_it_stops(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    process, output = _gunicorn(tmp_path, f"chdb://{data}", "--workers", "1", "--bind", f"127.0.0.1:{port}")
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, output)
        body = build_request(40, seed=7, start_ns=time.time_ns() - 10**9).SerializeToString()
        reply = requests.post(
            url + "/v1/traces", data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=30
        )
        assert reply.status_code == 200
        assert requests.get(url + "/api/v1/health", timeout=5).json()["database"]["spans"] == 40
        assert requests.get(url + "/", timeout=30).status_code == 200  # the dashboard, from the same app
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
    assert code == 0, output.read_text()
    # The worker closed its runtime on the way out: the data directory's lock is free again.
    with (data / "touchpoint.lock").open("rb+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_several_workers_on_the_embedded_engine_are_refused_with_what_to_do(tmp_path: Path) -> None:
    process, output = _gunicorn(
        tmp_path, f"chdb://{tmp_path / 'data'}", "--workers", "3", "--bind", f"127.0.0.1:{free_port()}"
    )
    assert process.wait(30) == 1
    text = output.read_text()
    assert (
        "is the embedded engine, which only one process may open, but gunicorn was asked for 3 workers"
        in text
    )
    assert "Run with --workers 1, or point TOUCHPOINT_DB at a ClickHouse server" in text
    assert not (tmp_path / "data").exists()  # the master never opened the engine


def test_an_unreachable_server_stops_the_master_with_a_message_and_no_password(tmp_path: Path) -> None:
    process, output = _gunicorn(
        tmp_path,
        f"http://touchpoint:s3cret@127.0.0.1:{free_port()}/touchpoint",
        "--workers", "3", "--bind", f"127.0.0.1:{free_port()}",
    )  # fmt: skip
    assert process.wait(60) == 1
    text = output.read_text()
    assert "cannot prepare the schema at http://touchpoint:***@127.0.0.1:" in text
    assert "s3cret" not in text


def test_invalid_settings_stop_the_master_naming_the_variable(tmp_path: Path) -> None:
    process, output = _gunicorn(
        tmp_path, f"chdb://{tmp_path / 'data'}", "--workers", "1", "--bind", f"127.0.0.1:{free_port()}",
        TOUCHPOINT_CLUSTER_NAME="x'; DROP TABLE otel_traces",
    )  # fmt: skip
    assert process.wait(30) == 1
    assert "touchpoint settings: TOUCHPOINT_CLUSTER_NAME: String should match pattern" in output.read_text()
