"""Browser sessions: a signed cookie (Flask's session, signed with itsdangerous) naming the signed-in user.

The cookie is HttpOnly, SameSite=Lax, and Secure whenever the request came over HTTPS (directly, or through a
trusted reverse proxy's X-Forwarded-Proto) or `secure_cookies` is set. It carries the user name, a fingerprint
of the user's password hash and role, the time of sign-in and the CSRF token; it is signed, not encrypted.
A session ends after `session_hours`, at sign-out, or as soon as the user's entry in the users file is
removed or its password or role changes.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import flask
from flask.sessions import SecureCookieSessionInterface

from app.auth.errors import AuthConfigInvalid
from app.auth.roles import ANONYMOUS, Identity
from app.auth.users import Credentials, User

log = logging.getLogger(__name__)

SESSION_COOKIE = "touchpoint_session"
MIN_SECRET_BYTES = 32


class TouchpointSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the Secure flag set per request when it came over HTTPS."""

    def get_cookie_secure(self, app: flask.Flask) -> bool:
        always = bool(app.config["SESSION_COOKIE_SECURE"])
        return always or (flask.has_request_context() and flask.request.is_secure)


def configure(app: flask.Flask, secret_key: bytes, session_hours: float, secure_cookies: bool) -> None:
    """Set the app's session cookie: name, key, lifetime and flags."""
    app.secret_key = secret_key
    app.session_interface = TouchpointSessions()
    app.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure_cookies,
        SESSION_REFRESH_EACH_REQUEST=False,  # a sign-in lasts session_hours from sign-in, not from last use
        PERMANENT_SESSION_LIFETIME=timedelta(hours=session_hours),
    )


def load_secret_key(given: str | None, path: Path) -> bytes:
    """The key that signs cookies: `given` (TOUCHPOINT_SECRET_KEY), else the file, created 0600 when missing.

    Every process serving the same users (gunicorn workers) must share it; keep it out of version control.
    """
    if given:
        key = given.encode()
        if len(key) < MIN_SECRET_BYTES:
            raise AuthConfigInvalid(
                f"TOUCHPOINT_SECRET_KEY is {len(key)} bytes; use at least {MIN_SECRET_BYTES} random bytes "
                '(python -c "import secrets; print(secrets.token_urlsafe(48))")'
            )
        return key
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    except OSError as exc:
        problem = exc.strerror or exc
        raise AuthConfigInvalid(f"secret key file {path}: cannot be created ({problem})") from None
    key = secrets.token_urlsafe(48).encode()
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    log.info("created a new session signing key", extra={"path": str(path)})
    return key


def _read_key(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        key = path.read_bytes().strip()
    except OSError as exc:
        raise AuthConfigInvalid(f"secret key file {path}: cannot be read ({exc.strerror or exc})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("secret key file %s is readable by other users; chmod 600 it", path)
    if len(key) < MIN_SECRET_BYTES:
        raise AuthConfigInvalid(
            f"secret key file {path}: holds {len(key)} bytes; it needs {MIN_SECRET_BYTES} or more random "
            "bytes (delete it and a new one is made at the next start)"
        )
    return key


def sign_in(user: User, now_s: float) -> None:
    """Start a fresh session for `user` (a new CSRF token too: nothing from before sign-in carries over)."""
    flask.session.clear()
    flask.session.permanent = True
    flask.session["user"] = user.name
    flask.session["fp"] = user.fingerprint
    flask.session["at"] = int(now_s)
    flask.session["csrf"] = secrets.token_urlsafe(32)


def sign_out() -> None:
    """End the session: the cookie is cleared in the answer."""
    flask.session.clear()


def session_identity(session: Any, credentials: Credentials, now_s: float, session_hours: float) -> Identity:
    """Who the session's cookie names, if that user still exists unchanged and the sign-in has not expired."""
    name = session.get("user")
    if not isinstance(name, str):
        return ANONYMOUS
    user = credentials.users.get(name)
    signed_at = session.get("at")
    if (
        user is None
        or session.get("fp") != user.fingerprint
        or not isinstance(signed_at, int)
        or now_s - signed_at > session_hours * 3600
        or signed_at > now_s + 300
    ):
        return ANONYMOUS
    return Identity(name=user.name, scopes=user.role.scopes, via="session", role=user.role)
