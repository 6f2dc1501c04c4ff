"""Nothing acknowledged is lost: `touchpoint serve` killed with SIGKILL in the middle of sustained ingest from
several clients, restarted, and every span it answered 200 for is there — and, once the clients have resent
what was not answered, every span is there exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from bench.otlp_payloads import build_request

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 4
SPANS_PER_BATCH = 200
INGEST_BEFORE_KILL_S = 3.0
PROTOBUF = {"Content-Type": "application/x-protobuf"}


@dataclass
class Client:
    """One sending client: the batches the server acknowledged and those it did not."""

    number: int
    acknowledged: list[int] = field(default_factory=list)
    unanswered: list[int] = field(default_factory=list)
    sent: int = 0


def batch(seed: int) -> bytes:
    return build_request(
        SPANS_PER_BATCH, seed=seed, start_ns=time.time_ns() - 120_000_000_000
    ).SerializeToString()


def span_ids(seed: int) -> set[str]:
    request = build_request(SPANS_PER_BATCH, seed=seed, start_ns=0)
    return {
        span.trace_id.hex() + span.span_id.hex()
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    }


def keep_sending(url: str, client: Client, stop: threading.Event) -> None:
    """Send batch after batch until told to stop; a batch without a 200 is kept for resending."""
    while not stop.is_set():
        seed = client.number * 1_000_000 + client.sent
        client.sent += 1
        try:
            answer = requests.post(url + "/v1/traces", data=batch(seed), headers=PROTOBUF, timeout=15)
        except requests.RequestException:
            client.unanswered.append(seed)
            continue
        if answer.status_code == 200:
            client.acknowledged.append(seed)
        else:
            client.unanswered.append(seed)
            time.sleep(float(answer.headers.get("Retry-After", "0.2")))


def resend(url: str, seeds: list[int]) -> None:
    for seed in seeds:
        for _ in range(100):
            try:
                if requests.post(url + "/v1/traces", data=batch(seed), headers=PROTOBUF, timeout=30).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        else:
            raise AssertionError(f"batch {seed} was never acknowledged after the restart")


def stored_spans(workdir: Path) -> tuple[int, set[str], list[int]]:
    """(rows, distinct TraceId+SpanId, spans counted by the minute and hourly rollups) read from the data
    directory by a separate process."""
    script = (
        "import json, sys\n"
        "from collectors.db import connect\n"
        "client = connect('chdb://./.touchpoint/data')\n"
        "rows = client.query('SELECT TraceId || SpanId FROM otel_traces').result_rows\n"
        "rolled = [int(client.query(f'SELECT sum(Spans) FROM {t}').result_rows[0][0]) for t in "
        "('touchpoint_span_rollup', 'touchpoint_span_rollup_hourly')]\n"
        "json.dump([[r[0] for r in rows], rolled], sys.stdout)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=workdir,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    ids, rolled = json.loads(done.stdout)
    return len(ids), set(ids), rolled


# Landed: every batch goes into a landing table and none is moved before the kill (collectors.landing).
LANDING = {
    "straight": {"TOUCHPOINT_LAND_ABOVE_SPANS_PER_S": "0"},
    "landed": {"TOUCHPOINT_LAND_ABOVE_SPANS_PER_S": "1", "TOUCHPOINT_LANDING_MOVE_S": "30"},
}


@pytest.mark.slow
@pytest.mark.parametrize("landing", LANDING)
def test_sigkill_during_ingest_loses_no_acknowledged_span_and_resends_count_once(
    serve_process, tmp_path: Path, landing: str
) -> None:  # noqa: ANN001
    first = serve_process(extra_env=LANDING[landing])
    clients = [Client(number=n + 1) for n in range(CLIENTS)]
    stop = threading.Event()
    threads = [threading.Thread(target=keep_sending, args=(first.url, c, stop)) for c in clients]
    for thread in threads:
        thread.start()
    time.sleep(INGEST_BEFORE_KILL_S)
    waiting = requests.get(first.url + "/api/v1/health", timeout=10).json()["ingest"].get("landing", {})
    assert (waiting.get("waiting_rows", 0) > 0) == (landing == "landed")

    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(30)
    time.sleep(0.5)  # the clients notice the server is gone
    stop.set()
    for thread in threads:
        thread.join(60)
    acknowledged = {seed for c in clients for seed in c.acknowledged}
    unanswered = [seed for c in clients for seed in c.unanswered]
    first.stop()

    second = serve_process(extra_env=LANDING[landing])
    health = requests.get(second.url + "/api/v1/health", timeout=10).json()
    found_after_restart = health["database"]["spans"]
    resend(second.url, unanswered)
    assert second.stop() == 0
    rows, stored, rolled = stored_spans(tmp_path)

    wanted = set().union(*(span_ids(seed) for seed in acknowledged))
    resent = set().union(*(span_ids(seed) for seed in unanswered)) if unanswered else set()
    print(
        f"\n{landing}: SIGKILL after {INGEST_BEFORE_KILL_S:.0f} s of ingest from {CLIENTS} clients: "
        f"{len(wanted)} spans acknowledged ({len(acknowledged)} batches), "
        f"{found_after_restart} found at restart, {len(unanswered)} unanswered batches resent, "
        f"{rows} rows and {len(stored)} distinct spans at the end"
    )
    assert len(acknowledged) >= CLIENTS, "the clients hardly sent anything before the kill"
    assert found_after_restart >= len(wanted)
    assert wanted <= stored, f"{len(wanted - stored)} acknowledged spans are missing"
    assert stored == wanted | resent
    assert rows == len(stored), f"{rows - len(stored)} spans were stored twice"
    # Spans acknowledged but not yet fed to the rollup when the process died are folded at the restart.
    assert rolled == [rows, rows]
