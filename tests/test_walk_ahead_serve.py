"""`touchpoint serve` walks journeys ahead on the embedded engine, and its live state reads them: the same
answer over real HTTP, counted in /api/v1/health."""

from __future__ import annotations

import textwrap
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from state_scenario import TWO_STEP_LINE, blueprint, insert, step_span

from app.api.state import install
from blueprints.state import compute_state


@pytest.fixture(scope="module")
def served(dsn: str, ch, tmp_path_factory):  # noqa: ANN001, ANN201
    from app.api import blueprints
    from app.server import serve_in_thread
    from app.settings import Settings

    maps = tmp_path_factory.mktemp("maps")
    (maps / "line.yaml").write_text(textwrap.dedent(TWO_STEP_LINE))
    now = datetime.now(UTC).replace(microsecond=0)
    journeys = [f"j{n}" for n in range(6)]
    insert(
        ch,
        now - timedelta(minutes=8),
        [s for j in journeys for s in (step_span("a", 0, 1, j), step_span("b", 3, 1, j))],
    )
    running = serve_in_thread(
        Settings(db=dsn, port=0, evaluate_alerts=False, blueprints=maps, walk_ahead_s=0.2, walk_ahead_settle_s=60),
        start_hooks=[blueprints.install, install],
    )
    yield running.url, now
    running.stop()


def _walk_ahead(url: str) -> dict:
    return requests.get(f"{url}/api/v1/health", timeout=30).json()["walk_ahead"]


def test_the_state_reads_journeys_walked_ahead_and_answers_the_same(served, ch) -> None:  # noqa: ANN001
    url, now = served
    deadline = time.monotonic() + 30
    while _walk_ahead(url)["passes"] < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    start, end = now - timedelta(minutes=10), now - timedelta(minutes=2)
    params = {"from": start.isoformat(), "to": end.isoformat()}
    reply = requests.get(f"{url}/api/v1/blueprints/line/state", params=params, timeout=30)
    assert reply.status_code == 200
    live = compute_state(ch, blueprint(TWO_STEP_LINE), start, end, end)
    served_state = reply.json()
    assert [(s["step_id"], s["count"]) for s in served_state["steps"]] == [("a", 6), ("b", 6)]
    expected = live.model_dump(mode="json", by_alias=True)
    timing = ("query_ms", "generated_at")
    assert {k: v for k, v in served_state.items() if k not in timing} == {
        k: v for k, v in expected.items() if k not in timing
    }
    assert _walk_ahead(url)["answered"] >= 1
