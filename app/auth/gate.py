"""The request gate: every request passes here first (a Flask `before_request` hook placed ahead of all
others), so no endpoint — API route, Dash callback, page or future addition — is reachable without it.

In order: body size, who is asking, local-mode confinement, per-client rate, the policy's need, CSRF and
origin, and ingest admission. A refusal says what was wrong and what to do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import flask
from werkzeug.wrappers import Response

from app.auth import csrf, policy
from app.auth.admission import IngestGate
from app.auth.banner import AuthMode, is_loopback
from app.auth.ratelimit import ClientBuckets, RateLimit
from app.auth.roles import ANONYMOUS, LOCAL, Identity, Scope
from app.auth.sessions import session_identity
from app.auth.tokens import bearer_token, token_identity
from app.auth.users import Credentials, CredentialsFile

log = logging.getLogger(__name__)

INGEST_PATH = "/v1/traces"
G_IDENTITY = "touchpoint_identity"
G_INGEST_SLOT = "touchpoint_ingest_slot"


@dataclass(frozen=True)
class GateLimits:
    """The limits the gate enforces (from Settings)."""

    ingest: RateLimit
    api: RateLimit
    max_api_body_bytes: int
    ingest_concurrency: int
    session_hours: float


class AccessGate:
    """Decides, for each request, whether it goes on, and answers it when it does not."""

    def __init__(
        self,
        mode: AuthMode,
        credentials: CredentialsFile | None,
        limits: GateLimits,
        dash_callbacks: Callable[[str], dict[str, Any] | None],
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.mode = mode
        self.credentials_file = credentials
        self.limits = limits
        self.dash_callbacks = dash_callbacks
        self.clock = clock
        self.wall_clock = wall_clock
        self.ingest_buckets = ClientBuckets(limits.ingest)
        self.api_buckets = ClientBuckets(limits.api)
        self.ingest_gate = IngestGate(limits.ingest_concurrency)
        self.refused: dict[int, int] = {}

    def credentials(self) -> Credentials:
        assert self.credentials_file is not None
        return self.credentials_file.current()

    # ------------------------------------------------------------------ hooks

    def before_request(self) -> Response | None:
        """The before_request hook: None lets the request through; a response refuses it."""
        request = flask.request
        path, method = request.path, request.method.upper()
        if path != INGEST_PATH:  # the receiver limits OTLP bodies itself, after decompression
            request.max_content_length = self.limits.max_api_body_bytes
            if (request.content_length or 0) > self.limits.max_api_body_bytes:
                return self._refuse(413, f"request body exceeds {self.limits.max_api_body_bytes} bytes")

        identity, problem = self._identify(request)
        flask.g.setdefault(G_IDENTITY, identity)
        if problem:
            return self._refuse(401, problem, bearer=True)

        if self.mode.local:
            confined = self._local_problem(request)
            if confined:
                return self._refuse(403, confined)

        wait = self._rate(path, identity, request.remote_addr or "")
        if wait:
            return self._refuse(
                429,
                f"too many requests from {identity.name or request.remote_addr}: retry in {wait:.0f} s",
                retry_after=wait,
            )

        decision = self._decide(method, path, request)
        if decision is None:
            return self._refuse(400, "this is not a call of a callback of this dashboard (no such output)")
        if decision.need != policy.PUBLIC and not identity.holds(Scope(decision.need)):
            if not identity.signed_in:
                return self._unauthenticated(request, method, path)
            return self._refuse(
                403,
                f"{identity.name} may not do this ({decision.why}): it needs the '{decision.need}' scope, "
                f"which {_whose(identity)} does not include",
            )

        if method not in policy.SAFE:
            forged = self._csrf_problem(request, identity, path)
            if forged:
                log.warning("request refused as cross-site", extra={"path": path, "why": forged})
                return self._refuse(403, f"refused as a possible cross-site request: {forged}")

        if path == INGEST_PATH and method == "POST":
            if not self.ingest_gate.enter():
                return self._refuse(
                    503, "the server is busy storing spans from other requests; retry shortly", retry_after=1
                )
            flask.g.setdefault(G_INGEST_SLOT, True)
        return None

    def after_request(self, response: flask.Response) -> flask.Response:
        """Security headers on every answer; the CSRF cookie for Dash whenever the session has a token."""
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
        token = flask.session.get("csrf") if self.mode.signs_in else None
        if isinstance(token, str) and flask.request.cookies.get(csrf.CSRF_COOKIE) != token:
            app = flask.current_app
            csrf.set_csrf_cookie(response, token, app.session_interface.get_cookie_secure(app))
        return response

    def teardown_request(self, _error: BaseException | None) -> None:
        """Give back the ingest slot, whatever happened to the request."""
        if flask.g.pop(G_INGEST_SLOT, False):
            self.ingest_gate.leave()

    # ------------------------------------------------------------------ steps

    def _identify(self, request: flask.Request) -> tuple[Identity, str | None]:
        if not self.mode.signs_in:
            return LOCAL, None
        token = bearer_token(request.headers.get("Authorization"))
        if token is not None:
            identity = token_identity(self.credentials(), token)
            if identity is None:
                return (
                    ANONYMOUS,
                    "the bearer token is unknown (mistyped, or removed from the users file)",
                )
            return identity, None
        return (
            session_identity(flask.session, self.credentials(), self.wall_clock(), self.limits.session_hours),
            None,
        )

    def _local_problem(self, request: flask.Request) -> str | None:
        peer = request.remote_addr or ""
        if peer and not is_loopback(peer):
            return (
                f"this server runs in local mode (no sign-in) and answers only this machine, not {peer}; "
                "configure TOUCHPOINT_AUTH_FILE to let others in"
            )
        host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
        if host and not is_loopback(host):
            # A page on another site can point a name it controls at 127.0.0.1 (DNS rebinding).
            return (
                f"this server runs in local mode (no sign-in) and answers only to localhost or 127.0.0.1, "
                f"not to the name {host!r}; configure TOUCHPOINT_AUTH_FILE to serve it under other names"
            )
        return None

    def _rate(self, path: str, identity: Identity, peer: str) -> float:
        client = identity.name if identity.via in ("session", "token") else f"addr:{peer}"
        buckets = self.ingest_buckets if path == INGEST_PATH else self.api_buckets
        return buckets.take(client, self.clock())

    def _decide(self, method: str, path: str, request: flask.Request) -> policy.Decision | None:
        callback = None
        if path == policy.DASH_UPDATE and method == "POST":
            body = request.get_json(silent=True)
            key = body.get("output") if isinstance(body, dict) else None
            callback = self.dash_callbacks(key) if isinstance(key, str) else None
            if callback is None:
                return None
            callback = {**callback, "output_key": key}
        return policy.decide(method, path, callback)

    def _csrf_problem(self, request: flask.Request, identity: Identity, path: str) -> str | None:
        if identity.via == "token":
            return None
        problem = csrf.origin_problem(request.headers, request.host)
        if problem or identity.via == "local":
            return problem
        if identity.via == "session" or "csrf" in flask.session or path == "/login":
            return csrf.token_problem(flask.session, request.headers, request.form)
        return None

    # ------------------------------------------------------------------ answers

    def _unauthenticated(self, request: flask.Request, method: str, path: str) -> Response:
        browser_page = (
            method == "GET"
            and not path.startswith(("/api/", "/v1/", "/_dash-"))
            and "text/html" in request.headers.get("Accept", "")
        )
        if browser_page:
            target = request.full_path if request.query_string else path
            self.refused[302] = self.refused.get(302, 0) + 1
            return flask.redirect("/login?next=" + quote(target, safe="/"), code=302)
        return self._refuse(
            401, "sign in, or send an API token as 'Authorization: Bearer <token>'", bearer=True
        )

    def _refuse(
        self, status: int, message: str, retry_after: float | None = None, bearer: bool = False
    ) -> flask.Response:
        self.refused[status] = self.refused.get(status, 0) + 1
        response = flask.make_response(flask.jsonify({"error": message}), status)
        if retry_after is not None:
            response.headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))
        if bearer:
            response.headers["WWW-Authenticate"] = 'Bearer realm="touchpoint"'
        return response


def undecodable(error: Exception) -> flask.Response:
    """Answer 400, not 500, for a body that fails to decode past the receiver's own checks.

    Registered for RecursionError (JSON nested thousands deep) and protobuf's DecodeError (a corrupt value
    nested inside an otherwise well-formed request, decoded late), which only hostile or broken input raises.
    At /v1/traces the answer is OTLP's error form (a google.rpc.Status, code 3), so exporters drop the batch
    rather than resend it.
    """
    if isinstance(error, RecursionError):
        message = "request body nests too deeply to decode"
    else:
        message = f"request body is not a valid OTLP ExportTraceServiceRequest: {error}"
    log.info("undecodable request refused", extra={"path": flask.request.path, "error": message})
    if flask.request.path == INGEST_PATH:
        from google.protobuf import json_format
        from google.rpc import status_pb2

        status = status_pb2.Status(code=3, message=message)
        if flask.request.mimetype == "application/json":
            body, kind = json_format.MessageToJson(status, indent=None).encode(), "application/json"
        else:
            body, kind = status.SerializeToString(), "application/x-protobuf"
        return flask.Response(body, status=400, content_type=kind)
    return flask.make_response(flask.jsonify({"error": message}), 400)


def _whose(identity: Identity) -> str:
    if identity.via == "token":
        return f"the token's scopes ({', '.join(sorted(identity.scopes)) or 'none'})"
    return f"the role {identity.role}" if identity.role else "this identity"


def current_identity() -> Identity:
    """Who the current request acts as (the gate sets it first thing); anonymous outside a request."""
    if not flask.has_request_context():
        return ANONYMOUS
    return flask.g.get(G_IDENTITY, ANONYMOUS)  # type: ignore[no-any-return]
