"""What people decide survives a crash: a silence created through the API (and answered 201) is still in
force after the server is killed with SIGKILL and restarted; one expired through the API stays expired.

Blueprint saves are meant to be checked the same way (PUT, SIGKILL, restart, GET) once the blueprint API
exists; see test_blueprint_save_survives_sigkill.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
class Server:
    """A server process on a data directory, started and killed at will."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        maps = self.workdir / "blueprints" / "maps"
        if not maps.exists():
            shutil.copytree(ROOT / "blueprints" / "maps", maps)
        log = open(self.workdir / "serve.log", "ab")  # noqa: SIM115 - kept open for the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
            cwd=self.workdir,
            env={
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "TOUCHPOINT_EVALUATE_ALERTS": "false",
                "TOUCHPOINT_RULES": str(ROOT / "alerts" / "rules"),
            },
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.workdir / "serve.log").read_text()
            try:
                if requests.get(self.url + "/api/v1/health", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.2)
        raise AssertionError("the server did not start: " + (self.workdir / "serve.log").read_text())

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


@pytest.fixture
def crashing(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.mark.slow
def test_silence_created_before_sigkill_is_in_force_after_restart(crashing: Server) -> None:
    kept = requests.post(
        crashing.url + "/api/v1/silences",
        json={
            "matchers": ["step=checkout"],
            "duration": "2h",
            "created_by": "olga",
            "comment": "planned work",
        },
        timeout=10,
    )
    ended = requests.post(
        crashing.url + "/api/v1/silences", json={"matchers": ["step=pay"], "duration": "2h"}, timeout=10
    )
    assert kept.status_code == ended.status_code == 201
    assert requests.delete(crashing.url + f"/api/v1/silences/{ended.json()['silence']['id']}", timeout=10).ok

    crashing.kill()
    crashing.start()
    silences = requests.get(crashing.url + "/api/v1/silences", timeout=10).json()["silences"]

    assert [(s["id"], s["matchers"], s["comment"]) for s in silences] == [
        (kept.json()["silence"]["id"], kept.json()["silence"]["matchers"], "planned work")
    ]


@pytest.mark.slow
def test_blueprint_save_survives_sigkill(crashing: Server) -> None:
    document = (ROOT / "blueprints" / "maps" / "online-order.yaml").read_text()
    changed = document.replace("Online order", "Online order (edited before the crash)", 1)
    current = requests.get(crashing.url + "/api/v1/blueprints/online-order", timeout=30)
    saved = requests.put(
        crashing.url + "/api/v1/blueprints/online-order",
        data=changed.encode(),
        headers={"Content-Type": "application/yaml", "If-Match": current.headers["ETag"]},
        timeout=30,
    )
    assert saved.status_code in (200, 201), saved.text

    crashing.kill()
    crashing.start()
    after = requests.get(crashing.url + "/api/v1/blueprints/online-order", timeout=30)

    assert after.status_code == 200
    assert "edited before the crash" in after.text
