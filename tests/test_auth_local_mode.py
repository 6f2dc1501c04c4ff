"""Local mode: a loopback server without a users file runs without sign-in, says so, and answers only this
machine; anything else without a users file refuses to start."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests

from app.auth import auth_mode
from app.auth.banner import choose_mode, is_loopback
from app.auth.errors import StartRefused
from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
USERS = ROOT / "tests" / "fixtures" / "auth" / "users.good.toml"


def test_loopback_server_without_users_runs_in_local_mode_with_a_banner(server) -> None:  # noqa: ANN001
    mode = auth_mode(server.runtime.ctx)

    assert (mode.kind, mode.banner) == ("local", "No sign-in: local mode")
    assert requests.get(server.url + "/api/v1/auth/whoami").json() == {
        "mode": "local",
        "banner": "No sign-in: local mode",
        "signed_in": True,
        "name": "local",
        "via": "local",
        "role": "admin",
        "scopes": ["admin", "edit", "ingest", "operate", "read"],
    }


def test_local_mode_needs_no_sign_in(server) -> None:  # noqa: ANN001
    assert requests.get(server.url + "/", headers={"Accept": "text/html"}).status_code == 200
    assert requests.get(server.url + "/login", allow_redirects=False).headers["Location"] == "/"


def test_local_mode_refuses_changes_from_other_sites(server) -> None:  # noqa: ANN001
    silences = server.url + "/api/v1/silences"
    evil = requests.post(silences, json={}, headers={"Origin": "http://evil.example"})
    fetched = requests.post(silences, json={}, headers={"Sec-Fetch-Site": "cross-site"})
    own = requests.post(silences, json={}, headers={"Origin": server.url})

    assert evil.status_code == 403
    assert evil.json()["error"] == (
        "refused as a possible cross-site request: "
        "the request comes from http://evil.example, not from this server"
    )
    assert fetched.status_code == 403
    assert own.status_code not in (401, 403)


def test_local_mode_answers_only_loopback_names(server) -> None:  # noqa: ANN001
    rebound = requests.get(server.url + "/api/v1/alerts", headers={"Host": "attacker.example"})

    assert rebound.status_code == 403
    assert "not to the name 'attacker.example'" in rebound.json()["error"]
    assert requests.get(server.url + "/api/v1/health", headers={"Host": "localhost:8050"}).status_code == 200


def test_local_mode_refuses_peers_from_other_machines(server) -> None:  # noqa: ANN001
    gate = server.runtime.ctx.parts["auth"]
    import flask

    app = flask.Flask("probe")
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "10.1.2.3"}):
        problem = gate._local_problem(flask.request)

    assert problem is not None and "not 10.1.2.3" in problem


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("app.localhost", True),
        ("0.0.0.0", False),
        ("", False),
        ("192.168.1.10", False),
        ("touchpoint.example", False),
        ("::", False),
    ],
)
def test_loopback_addresses_are_recognised(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_non_loopback_bind_without_users_is_refused_with_what_to_do() -> None:
    with pytest.raises(StartRefused) as refused:
        choose_mode(Settings(host="0.0.0.0"))

    assert str(refused.value) == (
        "touchpoint serve: refusing to listen on 0.0.0.0 without sign-in: anyone who can reach it could "
        "change blueprints and silence alerts. Either bind to 127.0.0.1 (local mode, no sign-in), or "
        "create a users file and set TOUCHPOINT_AUTH_FILE=/path/to/users.toml (see docs/security.md; "
        "`python -m app.auth hash-password` makes password hashes)."
    )


def test_anonymous_access_beyond_loopback_must_be_asked_for_and_is_announced() -> None:
    mode = choose_mode(Settings(host="0.0.0.0", allow_anonymous=True))

    assert (mode.kind, mode.banner) == ("open", "No sign-in: open to everyone who can reach this server")
    assert choose_mode(Settings(host="0.0.0.0", allow_anonymous=True, auth_file=USERS)).kind == "sign-in"


def test_open_server_serves_any_name_but_still_refuses_other_sites(dsn: str) -> None:
    from app.server import serve_in_thread

    running = serve_in_thread(
        Settings(db=dsn, host="0.0.0.0", port=0, evaluate_alerts=False, allow_anonymous=True), start_hooks=[]
    )
    url = running.url.replace("0.0.0.0", "127.0.0.1")
    try:
        named = requests.get(url + "/api/v1/auth/whoami", headers={"Host": "touchpoint:8050"})
        forged = requests.post(url + "/api/v1/silences", json={}, headers={"Origin": "http://evil.example"})
    finally:
        running.stop()

    assert named.status_code == 200 and named.json()["mode"] == "open"
    assert forged.status_code == 403


@pytest.mark.slow
def test_serve_on_all_interfaces_without_users_exits_1_without_a_traceback(serve_process) -> None:  # noqa: ANN001
    process = serve_process(args=["--host", "0.0.0.0"], wait=False)

    status = process.proc.wait(60)

    assert status == 1
    assert "refusing to listen on 0.0.0.0 without sign-in" in process.output()
    assert "Traceback" not in process.output()


@pytest.mark.slow
def test_serve_with_a_broken_users_file_exits_1_naming_the_problem(serve_process, tmp_path: Path) -> None:  # noqa: ANN001
    users = tmp_path / "users.toml"
    users.write_text('[users.bob]\nrole = "viewer"\npassword = "hunter2"\n')
    process = serve_process(extra_env={"TOUCHPOINT_AUTH_FILE": str(users)}, wait=False)

    status = process.proc.wait(60)

    assert status == 1
    assert f"users file {users}: users.bob.password is not an argon2" in process.output()
    assert "Traceback" not in process.output()


@pytest.mark.slow
def test_serve_on_all_interfaces_with_users_asks_for_sign_in(serve_process, tmp_path: Path) -> None:  # noqa: ANN001
    users = tmp_path / "users.toml"
    shutil.copy(USERS, users)
    process = serve_process(args=["--host", "0.0.0.0"], extra_env={"TOUCHPOINT_AUTH_FILE": str(users)})

    assert requests.get(process.url + "/api/v1/alerts").status_code == 401
    key = tmp_path / ".touchpoint" / "secret_key"
    assert key.stat().st_mode & 0o777 == 0o600  # made on first start, readable by its owner only
