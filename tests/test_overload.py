"""Under more ingest than it can take, the server turns the excess away at once with 503 + Retry-After,
stores everything it acknowledged, and keeps answering the dashboard and the API.

Figures (sustainable rate, twice that offered, UI latency, memory) come from `python -m bench.overload`.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import requests

from app.server import BackgroundServer, serve_in_thread
from app.settings import Settings
from bench.overload import Bodies

PROTOBUF = {"Content-Type": "application/x-protobuf"}
SENDERS = 8
FLOOD_S = 3.0


@pytest.fixture(scope="module")
def small(dsn: str) -> Iterator[BackgroundServer]:
    """A server that admits one OTLP request at a time and queues at most a thousand spans."""
    settings = Settings(
        db=dsn,
        port=0,
        evaluate_alerts=False,
        ingest_concurrency=1,
        max_pending_rows=1000,
        ingest_rate_per_s=0,
    )
    running = serve_in_thread(settings, start_hooks=[])
    yield running
    running.stop()


def test_flood_is_shed_with_retry_after_while_the_ui_answers(small: BackgroundServer, ch) -> None:  # noqa: ANN001
    bodies = Bodies(500)
    answers: Counter[int] = Counter()
    without_retry_after = []
    acknowledged = [0]
    ui: list[tuple[str, int, float]] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + FLOOD_S

    def flood() -> None:
        with requests.Session() as session:
            while time.monotonic() < stop_at:
                reply = session.post(
                    small.url + "/v1/traces", data=bodies.take(), headers=PROTOBUF, timeout=30
                )
                with lock:
                    answers[reply.status_code] += 1
                    if reply.status_code == 200:
                        acknowledged[0] += 500
                    elif "Retry-After" not in reply.headers:
                        without_retry_after.append(reply.status_code)

    def use_the_ui() -> None:
        with requests.Session() as session:
            while time.monotonic() < stop_at:
                for path in ("/", "/_dash-layout", "/api/v1/health"):
                    started = time.perf_counter()
                    status = session.get(small.url + path, timeout=10).status_code
                    ui.append((path, status, time.perf_counter() - started))

    before = ch.query("SELECT count() FROM otel_traces").result_rows[0][0]
    threads = [threading.Thread(target=flood) for _ in range(SENDERS)] + [threading.Thread(target=use_the_ui)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    stored = ch.query("SELECT count() FROM otel_traces").result_rows[0][0] - before

    assert answers[200] > 0 and answers[503] > 0, answers
    assert set(answers) <= {200, 503}, answers
    assert without_retry_after == []
    assert stored == acknowledged[0]
    assert ui and all(status == 200 for _, status, _ in ui), ui
    assert small.runtime.ctx.parts["auth"].ingest_gate.turned_away > 0


def test_after_the_flood_ingest_is_accepted_again(small: BackgroundServer) -> None:
    reply = requests.post(small.url + "/v1/traces", data=Bodies(10).take(), headers=PROTOBUF, timeout=30)

    assert reply.status_code == 200
