"""GET /api/v1/blueprints/{id}/state and /api/v1/discover over real HTTP, and `touchpoint discover` talking
to that server."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta

import pytest
import requests
from state_scenario import TWO_STEP_LINE, Span, insert, step_span

from app.api.state import install
from app.cli import main
from blueprints.state_model import BlueprintState
from tests.conftest import free_port


@pytest.fixture(scope="module")
def api(dsn: str, ch, tmp_path_factory):  # noqa: ANN001, ANN201
    from app.api import blueprints
    from app.server import serve_in_thread
    from app.settings import Settings

    maps = tmp_path_factory.mktemp("maps")
    (maps / "line.yaml").write_text(textwrap.dedent(TWO_STEP_LINE))
    (maps / "broken.yaml").write_text("id: broken\nname: Broken\nsteps: [{id: a, lane: backstag}]\n")

    now = datetime.now(UTC).replace(microsecond=0)
    insert(
        ch,
        now - timedelta(minutes=5),
        [s for j in ("j1", "j2", "j3") for s in (step_span("a", 0, 1, j), step_span("b", 3, 1, j))],
    )
    insert(ch, now - timedelta(minutes=5), [Span("web", "GET /x", n, 0.1, f"x{n}") for n in range(4)])
    running = serve_in_thread(
        Settings(db=dsn, port=0, evaluate_alerts=False, blueprints=maps),
        start_hooks=[blueprints.install, install],
    )
    yield running.url
    running.stop()


def test_state_of_the_last_15_minutes_by_default(api: str) -> None:
    reply = requests.get(f"{api}/api/v1/blueprints/line/state", timeout=30)
    assert reply.status_code == 200
    state = BlueprintState.model_validate(reply.json())
    assert state.window.end - state.window.start == timedelta(minutes=15)
    assert [(s.step_id, s.count) for s in state.steps] == [("a", 3), ("b", 3)]
    assert reply.json()["edges"][0]["from"] == "a"  # serialised by alias


def test_state_of_an_explicit_window(api: str) -> None:
    reply = requests.get(
        f"{api}/api/v1/blueprints/line/state",
        params={"from": "2025-03-01T09:00:00Z", "to": "2025-03-01T11:00:00+01:00"},
        timeout=30,
    )
    assert reply.status_code == 200
    window = reply.json()["window"]
    assert (window["start"], window["end"], window["bucket_s"]) == (
        "2025-03-01T09:00:00Z",
        "2025-03-01T10:00:00Z",
        120,
    )


def test_unknown_blueprint_is_404(api: str) -> None:
    reply = requests.get(f"{api}/api/v1/blueprints/nope/state", timeout=30)
    assert reply.status_code == 404
    assert reply.json() == {"error": "no blueprint 'nope': GET /api/v1/blueprints lists the known ones"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"window": "15x"}, "window '15x' is not a duration such as 90s, 15m, 2h or 1d"),
        (
            {"from": "2025-03-01T09:00:00Z"},
            "give both 'from' and 'to' (ISO 8601, e.g. 2025-03-01T09:00:00Z), or 'window' alone",
        ),
        (
            {"from": "2025-03-01T09:00:00", "to": "2025-03-01T10:00:00Z"},
            "'from' 2025-03-01T09:00:00 has no timezone: add Z or an offset such as +02:00",
        ),
        (
            {"from": "yesterday", "to": "2025-03-01T10:00:00Z"},
            "'from' 'yesterday' is not an ISO 8601 instant such as 2025-03-01T09:00:00Z",
        ),
        (
            {"from": "2025-03-01T10:00:00Z", "to": "2025-03-01T09:00:00Z"},
            "'to' 2025-03-01T09:00:00Z must be after 'from' 2025-03-01T10:00:00Z",
        ),
        ({"window": "90d"}, "a window may span at most 31 days, got 90 days"),
    ],
)  # fmt: skip
def test_bad_windows_are_400_with_what_is_expected(api: str, params: dict[str, str], message: str) -> None:
    reply = requests.get(f"{api}/api/v1/blueprints/line/state", params=params, timeout=30)
    assert (reply.status_code, reply.json()) == (400, {"error": message})


def test_discover_returns_a_draft_as_yaml(api: str) -> None:
    reply = requests.get(f"{api}/api/v1/discover", params={"window": "1h", "id": "seen"}, timeout=30)
    assert reply.status_code == 200
    draft = reply.json()
    assert draft["yaml"].startswith("id: seen\n")
    assert (draft["steps"], draft["spans"], draft["journeys"]) == (3, 10, 7)


def test_discover_command_prints_the_draft(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["discover", "--url", api, "--window", "1h", "--id", "seen"]) == 0
    assert capsys.readouterr().out.startswith("id: seen\n")


def test_discover_command_writes_a_file(api: str, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    out = tmp_path / "seen.yaml"
    assert main(["discover", "--url", api, "--out", str(out)]) == 0
    assert out.read_text().startswith("id: discovered\n")
    assert capsys.readouterr().out == f"{out}: 3 steps from 10 spans in 7 journeys\n"


def test_discover_command_says_when_the_server_is_unreachable(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["discover", "--url", url, "--timeout", "2"]) == 2
    assert capsys.readouterr().err.startswith(
        f"touchpoint discover: cannot reach {url}/api/v1/discover: ConnectionError"
    )


def test_discover_command_passes_on_a_bad_window(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["discover", "--url", api, "--window", "soon"]) == 1
    assert (
        capsys.readouterr().err
        == "touchpoint discover: window 'soon' is not a duration such as 90s, 15m, 2h or 1d\n"
    )


def test_an_invalid_blueprint_file_has_no_state_and_says_why(api: str) -> None:
    reply = requests.get(f"{api}/api/v1/blueprints/broken/state", timeout=30)
    assert reply.status_code == 422
    assert "backstag" in reply.json()["error"]
