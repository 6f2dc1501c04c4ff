"""Access control on a real server with a users file: sign-in, roles, API tokens, CSRF, sessions, and the
answers people get when they are refused."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from auth_client import USERS, AppServer, bearer, form_token, sign_in, signin_settings, start_app_server

from app.api import alerts as alerts_api
from bench.otlp_payloads import build_request

ROOT = Path(__file__).resolve().parent.parent
SILENCE = {"matchers": ["step=checkout"], "duration": "1h", "comment": "maintenance"}


@pytest.fixture(scope="module")
def users_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("auth") / "users.toml"
    shutil.copy(USERS, path)
    return path


@pytest.fixture(scope="module")
def site(dsn: str, users_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """A server with sign-in, the alert API, and two Dash callbacks: one that draws, one that saves."""
    from dash import Input, Output

    settings = signin_settings(
        dsn,
        users_file.parent,
        rules=tmp_path_factory.mktemp("rules"),
        login_attempts_per_min=1000,  # these tests sign in often from one address; throttling is tested apart
    )
    running = start_app_server(settings, [alerts_api.start])
    dash_app = running.dash()
    saved: list[int] = []

    @dash_app.callback(Output("authtest-chart", "children"), Input("authtest-refresh", "n_clicks"))
    def draw(clicks: int | None) -> str:
        return f"drawn {clicks}"

    @dash_app.callback(
        Output("editor-authtest-status", "children"), Input("editor-authtest-save", "n_clicks")
    )
    def save(clicks: int | None) -> str:
        saved.append(clicks or 0)
        return "saved"

    running.saved = saved  # type: ignore[attr-defined]
    yield running
    running.stop()


def dash_call(output_id: str, input_id: str) -> dict:
    return {
        "output": f"{output_id}.children",
        "outputs": {"id": output_id, "property": "children"},
        "inputs": [{"id": input_id, "property": "n_clicks", "value": 1}],
        "changedPropIds": [f"{input_id}.n_clicks"],
        "state": [],
    }


# ------------------------------------------------------------------ not signed in


def test_anonymous_browser_is_sent_to_sign_in_and_back(site: AppServer) -> None:
    answer = requests.get(
        site.url + "/blueprints?x=1", headers={"Accept": "text/html"}, allow_redirects=False
    )

    assert answer.status_code == 302
    assert answer.headers["Location"] == "/login?next=/blueprints%3Fx%3D1"


def test_anonymous_api_call_is_told_how_to_authenticate(site: AppServer) -> None:
    answer = requests.get(site.url + "/api/v1/alerts")

    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="touchpoint"'
    assert answer.json() == {"error": "sign in, or send an API token as 'Authorization: Bearer <token>'"}


def test_health_answers_without_sign_in(site: AppServer) -> None:
    assert requests.get(site.url + "/api/v1/health").status_code == 200


def test_anonymous_cannot_send_spans(site: AppServer) -> None:
    body = build_request(5, seed=1, start_ns=time.time_ns()).SerializeToString()

    answer = requests.post(
        site.url + "/v1/traces", data=body, headers={"Content-Type": "application/x-protobuf"}
    )

    assert answer.status_code == 401


# ------------------------------------------------------------------ the sign-in page


def test_sign_in_page_is_a_form_with_a_csrf_token_and_a_strict_policy(site: AppServer) -> None:
    answer = requests.get(site.url + "/login?next=/alerts")

    assert answer.status_code == 200
    assert 'name="next" value="/alerts"' in answer.text
    assert len(form_token(answer.text)) >= 40
    assert answer.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(("user", "password"), [("vic", "wrong"), ("nobody", "vic-password")])
def test_wrong_name_or_password_gets_the_same_answer(site: AppServer, user: str, password: str) -> None:
    browser = requests.Session()
    token = form_token(browser.get(site.url + "/login").text)

    answer = browser.post(
        site.url + "/login",
        data={"user": user, "password": password, "csrf_token": token},
        allow_redirects=False,
    )

    assert answer.status_code == 401
    assert "Wrong user name or password." in answer.text
    assert "touchpoint_session" not in answer.cookies or "user" not in answer.text


def test_sign_in_without_the_form_token_is_refused(site: AppServer) -> None:
    answer = requests.post(site.url + "/login", data={"user": "vic", "password": "vic-password"})

    assert answer.status_code == 403
    assert answer.json()["error"] == (
        "refused as a possible cross-site request: the session has no CSRF token: "
        "reload the page and try again"
    )


def test_session_cookie_is_httponly_lax_and_not_secure_over_plain_http(site: AppServer) -> None:
    browser = sign_in(site.url, "vic")
    cookies = {c.name: c for c in browser.cookies}

    session = cookies["touchpoint_session"]
    assert session.has_nonstandard_attr("HttpOnly")
    assert session.get_nonstandard_attr("SameSite") == "Lax"
    assert not session.secure
    assert not cookies["_csrf_token"].has_nonstandard_attr("HttpOnly")  # Dash's scripts read it


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"]
)
def test_sign_in_never_redirects_off_site(site: AppServer, target: str) -> None:
    browser = requests.Session()
    token = form_token(browser.get(site.url + "/login").text)

    answer = browser.post(
        site.url + "/login",
        data={"user": "vic", "password": "vic-password", "csrf_token": token, "next": target},
        allow_redirects=False,
    )

    assert answer.status_code == 302
    assert answer.headers["Location"] == "/"


def test_names_echoed_on_the_sign_in_page_are_escaped(site: AppServer) -> None:
    browser = requests.Session()
    token = form_token(browser.get(site.url + "/login").text)
    payload = '"><script>alert(1)</script>'

    answer = browser.post(
        site.url + "/login",
        data={"user": payload, "password": "x", "csrf_token": token, "next": payload},
        allow_redirects=False,
    )

    assert "<script>alert(1)</script>" not in answer.text
    assert "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in answer.text


# ------------------------------------------------------------------ roles


def test_viewer_reads_but_cannot_silence(site: AppServer) -> None:
    viewer = sign_in(site.url, "vic")

    assert viewer.get(site.url + "/api/v1/alerts").status_code == 200
    refused = viewer.post(site.url + "/api/v1/silences", json=SILENCE)

    assert refused.status_code == 403
    assert refused.json()["error"] == (
        "vic may not do this (create a silence): it needs the 'operate' scope, "
        "which the role viewer does not include"
    )


def test_operator_silences_with_the_csrf_token(site: AppServer) -> None:
    operator = sign_in(site.url, "olga")

    answer = operator.post(site.url + "/api/v1/silences", json=SILENCE)

    assert answer.status_code == 201, answer.text


def test_operator_without_the_csrf_token_is_refused(site: AppServer) -> None:
    operator = sign_in(site.url, "olga")
    del operator.headers["X-CSRFToken"]

    answer = operator.post(site.url + "/api/v1/silences", json=SILENCE)

    assert answer.status_code == 403
    assert answer.json()["error"] == (
        "refused as a possible cross-site request: the X-CSRFToken header (or the csrf_token form field) is "
        "missing: reload the page"
    )


def test_request_from_another_site_is_refused_even_with_a_session(site: AppServer) -> None:
    operator = sign_in(site.url, "olga")

    answer = operator.post(
        site.url + "/api/v1/silences", json=SILENCE, headers={"Origin": "https://evil.example"}
    )

    assert answer.status_code == 403
    assert "comes from https://evil.example" in answer.json()["error"]


def test_operator_cannot_change_blueprints_but_an_editor_gets_past_the_gate(site: AppServer) -> None:
    operator, editor = sign_in(site.url, "olga"), sign_in(site.url, "eddie")

    refused = operator.put(site.url + "/api/v1/blueprints/online-order", data="id: online-order")
    passed = editor.put(site.url + "/api/v1/blueprints/online-order", data="id: online-order")

    assert refused.status_code == 403 and "'edit' scope" in refused.json()["error"]
    assert passed.status_code not in (401, 403)


def test_unclassified_change_is_for_admins_only(site: AppServer) -> None:
    editor, admin = sign_in(site.url, "eddie"), sign_in(site.url, "alice")

    assert editor.post(site.url + "/api/v1/not-yet-classified").status_code == 403
    assert admin.post(site.url + "/api/v1/not-yet-classified").status_code not in (401, 403)


def test_who_am_i_names_the_user_and_role(site: AppServer) -> None:
    answer = sign_in(site.url, "olga").get(site.url + "/api/v1/auth/whoami").json()

    assert answer == {
        "mode": "sign-in",
        "banner": None,
        "signed_in": True,
        "name": "olga",
        "via": "session",
        "role": "operator",
        "scopes": ["operate", "read"],
    }


# ------------------------------------------------------------------ Dash callbacks


def test_viewer_may_run_a_drawing_callback(site: AppServer) -> None:
    viewer = sign_in(site.url, "vic")

    answer = viewer.post(
        site.url + "/_dash-update-component", json=dash_call("authtest-chart", "authtest-refresh")
    )

    assert answer.status_code == 200, answer.text
    assert "drawn 1" in answer.text


def test_saving_callback_needs_an_editor(site: AppServer) -> None:
    call = dash_call("editor-authtest-status", "editor-authtest-save")
    before = len(site.saved)  # type: ignore[attr-defined]

    refused = sign_in(site.url, "olga").post(site.url + "/_dash-update-component", json=call)
    assert len(site.saved) == before  # type: ignore[attr-defined]
    done = sign_in(site.url, "eddie").post(site.url + "/_dash-update-component", json=call)

    assert refused.status_code == 403 and "the blueprint editor" in refused.json()["error"]
    assert done.status_code == 200 and len(site.saved) == before + 1  # type: ignore[attr-defined]


def test_callback_call_without_the_csrf_header_is_refused(site: AppServer) -> None:
    editor = sign_in(site.url, "eddie")
    del editor.headers["X-CSRFToken"]

    answer = editor.post(
        site.url + "/_dash-update-component", json=dash_call("editor-authtest-status", "editor-authtest-save")
    )

    assert answer.status_code == 403


def test_callback_the_dashboard_does_not_have_is_a_400(site: AppServer) -> None:
    answer = sign_in(site.url, "alice").post(
        site.url + "/_dash-update-component", json=dash_call("no-such-output", "x")
    )

    assert answer.status_code == 400


# ------------------------------------------------------------------ tokens


def test_ingest_token_sends_spans_and_reads_nothing(site: AppServer) -> None:
    body = build_request(5, seed=2, start_ns=time.time_ns()).SerializeToString()
    headers = {"Content-Type": "application/x-protobuf", **bearer("collector")}

    sent = requests.post(site.url + "/v1/traces", data=body, headers=headers)
    read = requests.get(site.url + "/api/v1/alerts", headers=bearer("collector"))

    assert sent.status_code == 200
    assert read.status_code == 403
    assert read.json()["error"] == (
        "token:collector may not do this (pages, assets and API reads): it needs the 'read' scope, "
        "which the token's scopes (ingest) does not include"
    )


def test_read_token_reads_and_cannot_silence(site: AppServer) -> None:
    assert requests.get(site.url + "/api/v1/alerts", headers=bearer("reader")).status_code == 200
    assert (
        requests.post(site.url + "/api/v1/silences", json=SILENCE, headers=bearer("reader")).status_code
        == 403
    )


def test_operate_token_silences_without_a_csrf_token(site: AppServer) -> None:
    answer = requests.post(site.url + "/api/v1/silences", json=SILENCE, headers=bearer("oncall-bot"))

    assert answer.status_code == 201


def test_unknown_token_is_refused_even_with_a_valid_session(site: AppServer) -> None:
    viewer = sign_in(site.url, "vic")

    answer = viewer.get(site.url + "/api/v1/alerts", headers={"Authorization": "Bearer tp_not-a-token"})

    assert answer.status_code == 401
    assert "bearer token is unknown" in answer.json()["error"]


# ------------------------------------------------------------------ sessions end


def test_forged_session_cookie_is_anonymous(site: AppServer) -> None:
    viewer = sign_in(site.url, "vic")
    cookie = viewer.cookies["touchpoint_session"]
    forged = requests.Session()
    forged.cookies.set("touchpoint_session", cookie[:-3] + ("AAA" if not cookie.endswith("AAA") else "BBB"))

    assert forged.get(site.url + "/api/v1/alerts").status_code == 401


def test_sign_out_ends_the_session(site: AppServer) -> None:
    viewer = sign_in(site.url, "vic")
    kept = viewer.cookies["touchpoint_session"]
    token = form_token(viewer.get(site.url + "/logout").text)

    answer = viewer.post(site.url + "/logout", data={"csrf_token": token}, allow_redirects=False)

    assert answer.status_code == 302 and answer.headers["Location"] == "/login"
    assert viewer.get(site.url + "/api/v1/alerts").status_code == 401
    # A cookie copied before sign-out still works until it expires: sessions are signed cookies, not records.
    assert requests.get(site.url + "/api/v1/alerts", cookies={"touchpoint_session": kept}).status_code == 200


def test_changing_a_password_ends_that_users_sessions(site: AppServer, users_file: Path) -> None:
    from app.auth.passwords import hash_password

    operator = sign_in(site.url, "olga")
    assert operator.get(site.url + "/api/v1/alerts").status_code == 200
    text = users_file.read_text()
    start = text.index("[users.olga]")
    old = text[start:].split("password = ", 1)[1].split("\n", 1)[0]
    users_file.write_text(text.replace(old, f'"{hash_password("olga-new-password")}"'))
    time.sleep(1.1)  # the users file is looked at once a second

    try:
        assert operator.get(site.url + "/api/v1/alerts").status_code == 401
        assert (
            sign_in(site.url, "olga", "olga-new-password").get(site.url + "/api/v1/alerts").status_code == 200
        )
    finally:
        users_file.write_text(text)
        time.sleep(1.1)


def test_secure_flag_follows_https_and_the_setting(site: AppServer) -> None:
    from app.auth.sessions import TouchpointSessions

    interface = TouchpointSessions()
    with site.app.test_request_context("/", base_url="https://touchpoint.example"):
        assert interface.get_cookie_secure(site.app)
    with site.app.test_request_context("/", base_url="http://127.0.0.1"):
        assert not interface.get_cookie_secure(site.app)
        site.app.config["SESSION_COOKIE_SECURE"] = True
        try:
            assert interface.get_cookie_secure(site.app)
        finally:
            site.app.config["SESSION_COOKIE_SECURE"] = False


def test_oversized_api_body_is_refused_with_413(site: AppServer) -> None:
    operator = sign_in(site.url, "olga")

    answer = operator.post(site.url + "/api/v1/silences", data=b"x" * (2 * 1024 * 1024))

    assert answer.status_code == 413
