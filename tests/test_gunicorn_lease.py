"""Exactly one evaluator across real gunicorn workers.

Three gunicorn worker processes each run a LeaderElection and an evaluation loop gated on it. No ClickHouse
server runs here and the embedded engine admits one process, so the lease log lives in this test process's
engine and the workers reach it through a small HTTP lease store served from here: the SQL, the
deduplication and the clock are ClickHouse's; the processes, the fork and the signals are gunicorn's.

This module is also the workers' app: gunicorn loads `test_gunicorn_lease:contender_app()` in each worker.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from app.leader import ClickHouseLeaseStore, LeaderElection, LeasePolicy, LeaseRecord, Observation
from collectors.db import ClientPool

ROOT = Path(__file__).resolve().parent.parent
LEASE = "alerts-gunicorn"
POLICY = LeasePolicy(
    ttl=timedelta(seconds=1),
    renew_after=timedelta(milliseconds=300),
    clock_skew=timedelta(milliseconds=100),
    poll=timedelta(milliseconds=100),
)


# ---------------------------------------------------------------- the lease store over HTTP


def _record_json(record: LeaseRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        **record.__dict__,
        "written_at": record.written_at.isoformat(),
        "expires_at": record.expires_at.isoformat(),
    }


def _record(document: dict[str, Any] | None) -> LeaseRecord | None:
    if document is None:
        return None
    return LeaseRecord(
        **{
            **document,
            "written_at": datetime.fromisoformat(document["written_at"]),
            "expires_at": datetime.fromisoformat(document["expires_at"]),
        }
    )


class HttpLeaseStore:
    """A LeaseStore whose log is a ClickHouseLeaseStore in another process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()

    def _post(self, path: str, document: dict[str, Any]) -> dict[str, Any]:
        reply = self.session.post(self.url + path, json=document, timeout=5)
        reply.raise_for_status()
        return reply.json()

    def observe(self, name: str) -> Observation:
        doc = self._post("/observe", {"name": name})
        return Observation(_record(doc["latest"]), datetime.fromisoformat(doc["now"]), doc["at_epoch"])

    def append(self, record: LeaseRecord) -> None:
        self._post("/append", _record_json(record) or {})

    def prune(self, name: str, below_epoch: int) -> None:
        self._post("/prune", {"name": name, "below_epoch": below_epoch})


@contextmanager
def lease_store_server(dsn: str) -> Iterator[str]:
    """Serve this process's ClickHouseLeaseStore on 127.0.0.1; one client per connection thread."""
    pool = ClientPool(dsn)
    ClickHouseLeaseStore(pool.client()).create()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            document = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            store = ClickHouseLeaseStore(pool.client())
            if self.path == "/observe":
                seen = store.observe(document["name"])
                reply: dict[str, Any] = {
                    "latest": _record_json(seen.latest),
                    "now": seen.now.isoformat(),
                    "at_epoch": seen.at_epoch,
                }
            elif self.path == "/append":
                store.append(_record(document))  # type: ignore[arg-type]
                reply = {}
            else:
                store.prune(document["name"], document["below_epoch"])
                reply = {}
            body = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        pool.close()


# ---------------------------------------------------------------- the workers' app


def _append_line(path: Path, line: str) -> None:
    with path.open("a") as out:  # one short write per line: appends from several processes do not interleave
        out.write(line + "\n")


def contender_app() -> Any:
    """A gunicorn worker: contend for the lease, evaluate every 50 ms while leading, log each evaluation."""
    log = Path(os.environ["EVALUATIONS_LOG"])
    election = LeaderElection(HttpLeaseStore(os.environ["LEASE_STORE_URL"]), LEASE, policy=POLICY)
    stopping = threading.Event()

    def evaluate() -> None:
        while not stopping.wait(0.05):
            lead = election.leadership()
            if lead is not None:
                _append_line(log, f"evaluate {os.getpid()} {lead.term} {time.monotonic_ns()}")

    def shutdown() -> None:
        stopping.set()
        election.stop(release=True)
        _append_line(log, f"stopped {os.getpid()}")

    _append_line(log, f"contender {os.getpid()}")
    election.start()
    threading.Thread(target=evaluate, daemon=True).start()
    atexit.register(shutdown)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        lead = election.leadership()
        body = json.dumps({"pid": os.getpid(), "term": lead.term if lead else None}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    return app


# ---------------------------------------------------------------- the test


def _lines(log: Path, kind: str) -> list[list[str]]:
    if not log.exists():
        return []
    return [line.split()[1:] for line in log.read_text().splitlines() if line.startswith(kind + " ")]


def _wait_for(condition: Any, timeout: float, what: str, output: Any) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; gunicorn said:\n{output()}")
        time.sleep(0.05)


@pytest.mark.skipif(
    shutil.which("gunicorn", path=str(Path(sys.executable).parent)) is None, reason="needs gunicorn"
)
def test_three_gunicorn_workers_run_one_evaluator_and_hand_over_when_it_dies(
    dsn: str, ch, tmp_path: Path
) -> None:  # noqa: ANN001
    log = tmp_path / "evaluations.log"
    output = tmp_path / "gunicorn.log"
    with lease_store_server(dsn) as store_url, output.open("wb") as sink:
        env = {
            **os.environ,
            "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}",
            "LEASE_STORE_URL": store_url,
            "EVALUATIONS_LOG": str(log),
        }
        gunicorn = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "--workers", "3", "--bind", "127.0.0.1:0",
             "--no-control-socket", "--graceful-timeout", "10", "test_gunicorn_lease:contender_app()"],
            cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            _wait_for(lambda: len(_lines(log, "contender")) >= 3, 30, "three contenders", output.read_text)
            _wait_for(lambda: _lines(log, "evaluate"), 10, "a first evaluation", output.read_text)
            time.sleep(2.0)  # steady state: one leader, renewing
            steady = _lines(log, "evaluate")
            leader_pid, leader_term = int(steady[-1][0]), int(steady[-1][1])

            os.kill(leader_pid, signal.SIGKILL)  # no release: the others must wait for the lease to expire
            killed_at = time.monotonic_ns()
            _wait_for(
                lambda: any(int(term) > leader_term for _, term, _ in _lines(log, "evaluate")),
                10, "a new leader after the kill", output.read_text,
            )  # fmt: skip
            time.sleep(1.0)
        finally:
            gunicorn.send_signal(signal.SIGTERM)
            assert gunicorn.wait(20) == 0, output.read_text()

    contenders = {pid for (pid,) in _lines(log, "contender")}
    evaluations = [(int(pid), int(term), int(ns)) for pid, term, ns in _lines(log, "evaluate")]
    assert len(contenders) >= 4  # three workers, and the one gunicorn started in place of the killed one

    pids_of_term: dict[int, set[int]] = {}
    span_of_term: dict[int, tuple[int, int]] = {}
    for pid, term, ns in evaluations:
        pids_of_term.setdefault(term, set()).add(pid)
        first, last = span_of_term.get(term, (ns, ns))
        span_of_term[term] = (min(first, ns), max(last, ns))
    assert all(len(pids) == 1 for pids in pids_of_term.values()), pids_of_term
    terms = sorted(span_of_term)
    for earlier, later in zip(terms, terms[1:], strict=False):
        assert span_of_term[earlier][1] < span_of_term[later][0], f"terms {earlier} and {later} overlap"

    steady_pids = {int(pid) for pid, _, _ in steady[len(steady) // 2 :]}
    assert steady_pids == {leader_pid}, "one evaluator in the steady state"
    successor = [(pid, term, ns) for pid, term, ns in evaluations if term > leader_term]
    assert successor[0][0] != leader_pid and successor[0][2] > killed_at
    assert span_of_term[leader_term][1] < successor[0][2]

    # In the lease log, every takeover waited out the previous holder's lease (plus the clock skew).
    entries = ch.query(
        "SELECT epoch, term, holder, written_at, expires_at FROM touchpoint_leases "
        "WHERE name = {n:String} ORDER BY epoch",
        parameters={"n": LEASE},
    ).result_rows
    takeovers = [
        (before, after)
        for before, after in zip(entries, entries[1:], strict=False)
        if before[2] and after[2] and after[2] != before[2]
    ]
    assert takeovers, "the kill should have forced a takeover of a live holder's lease"
    for (_, term_a, _, _, expires_a), (_, term_b, _, written_b, _) in takeovers:
        assert term_b == term_a + 1 and written_b >= expires_a + POLICY.clock_skew

    stopped = {pid for (pid,) in _lines(log, "stopped")}
    assert str(leader_pid) not in stopped  # killed, never ran its exit
    latest = ClickHouseLeaseStore(ch).observe(LEASE).latest
    assert latest is not None and latest.released, "the last leader handed the lease back on SIGTERM"
