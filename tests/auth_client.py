"""Helpers for the access-control tests: a full server whose Flask app the test can reach, and browser-like
sign-in over real HTTP."""

from __future__ import annotations

import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flask
import requests

from app.server import BackgroundServer, create_app, make_server, open_runtime
from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
USERS = ROOT / "tests" / "fixtures" / "auth" / "users.good.toml"
PASSWORDS = {name: f"{name}-password" for name in ("alice", "eddie", "olga", "vic")}
TOKENS = {
    "collector": "tp_test-collector-token-0000000000000000000000",
    "reader": "tp_test-reader-token-000000000000000000000000000",
    "oncall-bot": "tp_test-oncall-token-00000000000000000000000000",
}


@dataclass
class AppServer(BackgroundServer):
    """A real server on 127.0.0.1 together with its Flask app."""

    app: flask.Flask | None = None

    def dash(self) -> Any:
        """The Dash app mounted on this server."""
        assert self.app is not None
        return next(
            h.__self__
            for h in self.app.before_request_funcs[None]
            if hasattr(getattr(h, "__self__", None), "callback_map")
        )


def start_app_server(settings: Settings, start_hooks: list[Any] | None = None) -> AppServer:
    """Like app.server.serve_in_thread, keeping the Flask app at hand."""
    runtime = open_runtime(settings, start_hooks if start_hooks is not None else [])
    app = create_app(runtime.ctx)
    server = make_server(app, settings)
    thread = threading.Thread(target=server.run, name="touchpoint-auth-test", daemon=True)
    thread.start()
    url = f"http://{server.effective_host}:{server.effective_port}"
    return AppServer(url=url, runtime=runtime, server=server, thread=thread, app=app)


def signin_settings(dsn: str, folder: Path, **overrides: Any) -> Settings:
    """Settings for a server with the test users (copied into `folder`, with the session key beside it)."""
    users = folder / "users.toml"
    if not users.exists():
        shutil.copy(USERS, users)
    fields: dict[str, Any] = {
        "db": dsn,
        "port": 0,
        "evaluate_alerts": False,
        "auth_file": users,
        "secret_key_file": folder / "secret_key",
        "blueprints": ROOT / "blueprints" / "maps",
    }
    return Settings(**{**fields, **overrides})


def form_token(html: str) -> str:
    """The CSRF token of the sign-in (or sign-out) form in `html`."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no csrf_token field"
    return found.group(1)


def sign_in(url: str, user: str, password: str | None = None) -> requests.Session:
    """A requests session signed in through the form, sending the CSRF token and Origin as our pages do."""
    browser = requests.Session()
    page = browser.get(url + "/login", timeout=10)
    answer = browser.post(
        url + "/login",
        data={"user": user, "password": password or PASSWORDS[user], "csrf_token": form_token(page.text)},
        headers={"Origin": url},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text
    browser.headers["Origin"] = url
    browser.headers["X-CSRFToken"] = browser.cookies["_csrf_token"]
    return browser


def bearer(name: str) -> dict[str, str]:
    """Headers carrying the named test token."""
    return {"Authorization": f"Bearer {TOKENS[name]}"}
