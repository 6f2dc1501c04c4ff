"""The sign-in page (GET/POST /login), sign-out (GET shows a button, POST signs out) and
GET /api/v1/auth/whoami: plain Flask routes, every value they echo escaped."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import flask
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from app.auth import csrf
from app.auth.banner import AuthMode
from app.auth.passwords import verify_password
from app.auth.ratelimit import ClientBuckets, RateLimit
from app.auth.roles import Identity
from app.auth.sessions import sign_in, sign_out
from app.auth.users import Credentials

log = logging.getLogger(__name__)

# Each argon2 check holds 64 MiB for a fifth of a second: a few at a time keeps a sign-in flood bounded.
CONCURRENT_CHECKS = 2
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Touchpoint</title>
<style>
body {{ font-family: system-ui, sans-serif; background: #f5f6f8; margin: 0; }}
main {{ max-width: 22rem; margin: 12vh auto; background: #fff; padding: 2rem; border-radius: 8px;
        box-shadow: 0 1px 4px rgba(0,0,0,.12); }}
h1 {{ font-size: 1.3rem; margin-top: 0; }}
label {{ display: block; margin: .8rem 0 .3rem; }}
input[type=text], input[type=password] {{ width: 100%; padding: .45rem; box-sizing: border-box; }}
button {{ margin-top: 1.2rem; padding: .5rem 1.2rem; }}
.problem {{ color: #a40000; }}
</style></head>
<body><main><h1>{title}</h1>{body}</main></body></html>
"""


def safe_next(target: str | None) -> str:
    """A path on this server to go to after signing in; anything else (another site, a scheme) gives "/"."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ord(c) < 0x20 or c == "\\" for c in target):
        return "/"
    return target


def page(title: str, body: Markup, status: int = 200) -> Response:
    """An HTML page with `body` (already escaped Markup) and a strict Content-Security-Policy."""
    html = _PAGE.format(title=escape(title), body=body)
    response = flask.make_response(html, status)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Content-Security-Policy"] = PAGE_CSP
    response.headers["Cache-Control"] = "no-store"
    return response


def sign_in_form(next_path: str, user: str = "", problem: str = "") -> Markup:
    """The sign-in form, with every echoed value escaped."""
    notice = Markup('<p class="problem" role="alert">{}</p>').format(problem) if problem else Markup("")
    return Markup(
        '{notice}<form method="post" action="/login">'
        '<input type="hidden" name="csrf_token" value="{token}">'
        '<input type="hidden" name="next" value="{next}">'
        '<label for="user">User name</label>'
        '<input id="user" name="user" type="text" autocomplete="username" value="{user}" required autofocus>'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password" autocomplete="current-password" required>'
        '<button type="submit">Sign in</button></form>'
    ).format(notice=notice, token=csrf.csrf_token(), next=next_path, user=user)


def register(
    app: flask.Flask,
    mode: AuthMode,
    credentials: Callable[[], Credentials] | None,
    login_limit: RateLimit,
    identity: Callable[[], Identity],
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Add /login, /logout and /api/v1/auth/whoami to `app`."""
    by_address = ClientBuckets(login_limit)
    by_user = ClientBuckets(login_limit)
    checks = threading.BoundedSemaphore(CONCURRENT_CHECKS)

    def login() -> Response:
        request = flask.request
        next_path = safe_next(request.values.get("next"))
        if not mode.signs_in or credentials is None:
            return flask.redirect(next_path)
        if request.method == "GET":
            if identity().signed_in:
                return flask.redirect(next_path)
            return page("Sign in", sign_in_form(next_path))
        name = request.form.get("user", "")[:64]
        password = request.form.get("password", "")[:1024]
        now = clock()
        wait = max(by_address.take(request.remote_addr or "", now), by_user.take(name.lower(), now))
        if wait:
            log.warning("sign-in throttled", extra={"user": name, "address": request.remote_addr})
            form = sign_in_form(next_path, name, "Too many attempts: wait a minute.")
            response = page("Sign in", form, 429)
            response.headers["Retry-After"] = str(max(1, int(wait + 0.999)))
            return response
        if not checks.acquire(timeout=5):
            response = page("Sign in", sign_in_form(next_path, name, "The server is busy: try again."), 503)
            response.headers["Retry-After"] = "2"
            return response
        try:
            user = credentials().users.get(name)
            ok = verify_password(user.password_hash if user else None, password)
        finally:
            checks.release()
        if not ok or user is None:
            log.warning("sign-in failed", extra={"user": name, "address": request.remote_addr})
            return page("Sign in", sign_in_form(next_path, name, "Wrong user name or password."), 401)
        sign_in(user, time.time())
        log.info(
            "signed in",
            extra={"user": user.name, "role": str(user.role), "address": request.remote_addr},
        )
        return flask.redirect(next_path)

    def logout() -> Response:
        if flask.request.method == "GET":
            if not identity().signed_in or not mode.signs_in:
                return flask.redirect("/login")
            form = Markup(
                '<p>Signed in as <b>{user}</b>.</p><form method="post" action="/logout">'
                '<input type="hidden" name="csrf_token" value="{token}">'
                '<button type="submit">Sign out</button></form>'
            ).format(user=identity().name, token=csrf.csrf_token())
            return page("Sign out", form)
        who = identity().name
        sign_out()
        if who:
            log.info("signed out", extra={"user": who})
        response = flask.redirect("/login")
        response.delete_cookie(csrf.CSRF_COOKIE, path="/")
        return response

    def whoami() -> Response:
        me = identity()
        document: dict[str, Any] = {
            "mode": mode.kind,
            "banner": mode.banner,
            "signed_in": me.signed_in,
            "name": me.name or None,
            "via": me.via,
            "role": str(me.role) if me.role else None,
            "scopes": sorted(me.scopes),
        }
        response = flask.jsonify(document)
        response.headers["Cache-Control"] = "no-store"
        return response

    app.add_url_rule("/login", "touchpoint_login", login, methods=["GET", "POST"])
    app.add_url_rule("/logout", "touchpoint_logout", logout, methods=["GET", "POST"])
    app.add_url_rule("/api/v1/auth/whoami", "touchpoint_whoami", whoami, methods=["GET"])
