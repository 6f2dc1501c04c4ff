"""Cross-site request forgery: every state-changing request a browser session makes must prove it came from
our own pages.

Two checks, both needed for a session-authenticated POST, PUT, PATCH or DELETE (Dash's
``POST /_dash-update-component`` included):

- the CSRF token: the session holds a random token; our pages send it back in the ``X-CSRFToken`` header
  (Dash's renderer reads it from the ``_csrf_token`` cookie and sends it with every callback) or in the
  ``csrf_token`` field of a form. Another site can neither read the cookie nor set that header.
- the origin: when the browser says where the request comes from (``Origin``, ``Sec-Fetch-Site``), it must
  be this server.

API tokens are exempt (browsers never attach them by themselves). In local mode there is no session, so
only the origin check applies — it is what stops a web page from silencing alerts on 127.0.0.1.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import flask

CSRF_COOKIE = "_csrf_token"  # the name Dash's renderer reads
CSRF_HEADER = "X-CSRFToken"  # the header Dash's renderer sends
CSRF_FIELD = "csrf_token"  # the form field of the sign-in and sign-out forms
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Fields(Protocol):
    """Request headers or form fields: anything with `get` (werkzeug's Headers and MultiDict, dicts)."""

    def get(self, key: str) -> str | None: ...


def csrf_token() -> str:
    """This session's CSRF token, made on first use (an anonymous session gets one for the sign-in form)."""
    token = flask.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        flask.session["csrf"] = token
    return token


def token_problem(session: Mapping[str, Any], headers: Fields, form: Fields) -> str | None:
    """Why the request's CSRF token does not match the session's, or None when it does."""
    expected = session.get("csrf")
    presented = headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    if not isinstance(expected, str) or not expected:
        return "the session has no CSRF token: reload the page and try again"
    if not presented:
        return f"the {CSRF_HEADER} header (or the {CSRF_FIELD} form field) is missing: reload the page"
    if not hmac.compare_digest(expected.encode(), presented.encode("utf-8", "replace")):
        return "the CSRF token does not match this session: reload the page and try again"
    return None


def origin_problem(headers: Fields, host: str) -> str | None:
    """Why the browser's own account of where the request comes from rules it out, or None.

    `host` is the Host the request was sent to (after a trusted proxy's X-Forwarded-Host).
    """
    if (headers.get("Sec-Fetch-Site") or "").lower() == "cross-site":
        return "the browser reports a cross-site request"
    origin = headers.get("Origin")
    if origin is None:
        return None  # not a browser, or a browser that does not send it for this request
    if origin == "null":
        return "the request comes from an opaque origin (Origin: null)"
    parts = urlsplit(origin)
    if not parts.netloc or parts.netloc.lower() != host.lower():
        return f"the request comes from {origin}, not from this server"
    return None


def set_csrf_cookie(response: flask.Response, token: str, secure: bool) -> None:
    """Give the page's scripts the token (readable by our scripts: not HttpOnly; SameSite=Lax)."""
    response.set_cookie(CSRF_COOKIE, token, path="/", secure=secure, httponly=False, samesite="Lax")
