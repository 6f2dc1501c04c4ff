"""Shared fixtures: one real embedded ClickHouse engine per test session, a fresh database per test module,
and full servers on 127.0.0.1 (in this process, sharing the engine, or as `touchpoint serve` subprocesses)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent

# CI tests a clean clone, with no example database: there every run draws the same examples, so whether a
# change lands never depends on the cases one run happened to draw. Elsewhere the search stays random and
# remembers what it found (.hypothesis/), which is how new counterexamples turn up.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def engine_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data directory of this test process's embedded engine (chdb allows one per process)."""
    return tmp_path_factory.mktemp("engine")


def _database_name(request: pytest.FixtureRequest) -> str:
    return "t_" + re.sub(r"[^a-zA-Z0-9_]", "_", request.module.__name__.rsplit(".", 1)[-1])


@pytest.fixture(scope="module")
def dsn(engine_path: Path, request: pytest.FixtureRequest) -> str:
    """A DSN naming a fresh, migrated database for this test module."""
    from collectors.db import connect
    from collectors.schema import migrate

    name = _database_name(request)
    url = f"chdb://{engine_path}?database={name}"
    client = connect(url)
    client.command(f"DROP DATABASE IF EXISTS {name}")
    client.close()
    client = connect(url)
    migrate(client)
    client.close()
    return url


@pytest.fixture(scope="module")
def ch(dsn: str):  # noqa: ANN201 - a clickhouse-connect client
    """A clickhouse-connect client on this module's fresh, migrated database."""
    from collectors.db import connect

    client = connect(dsn)
    yield client
    client.close()


@pytest.fixture(scope="module")
def server(dsn: str, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - a BackgroundServer
    """A full Touchpoint server in this process on 127.0.0.1 (free port), on this module's database."""
    from app.server import serve_in_thread
    from app.settings import Settings

    settings = Settings(db=dsn, port=0, evaluate_alerts=False, blueprints=ROOT / "blueprints" / "maps")
    running = serve_in_thread(settings)
    yield running
    running.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServeProcess:
    """A `touchpoint serve` subprocess with its own data directory."""

    def __init__(
        self, workdir: Path, port: int, extra_env: dict[str, str] | None = None, args: list[str] | None = None
    ):
        self.workdir = workdir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PYTHONPATH": str(ROOT), **(extra_env or {})}
        self.log = open(workdir / f"serve-{port}.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port), *(args or [])],
            cwd=workdir,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"touchpoint serve exited with {self.proc.returncode}: {self.output()}")
            try:
                if requests.get(self.url + "/api/v1/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError(f"touchpoint serve did not become ready: {self.output()}")

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return (self.workdir / f"serve-{self.port}.log").read_text(errors="replace")

    def stop(self, sig: int = 15, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return int(self.proc.returncode)


@pytest.fixture
def serve_process(tmp_path: Path) -> Iterator[callable]:  # type: ignore[valid-type]
    """Start `touchpoint serve` subprocesses in a temporary working directory; all are stopped afterwards."""
    started: list[ServeProcess] = []

    def start(
        workdir: Path | None = None,
        extra_env: dict[str, str] | None = None,
        args: list[str] | None = None,
        wait: bool = True,
    ) -> ServeProcess:
        process = ServeProcess(workdir or tmp_path, free_port(), extra_env, args)
        started.append(process)
        if wait:
            process.wait_ready()
        return process

    yield start
    for process in started:
        process.stop()
