"""Access control and request safety for the running server: who may do what, sign-in, API tokens, CSRF,
rate limits, ingest admission, and dropping retried spans.

`install(app, ctx)` is called once by app.server.create_app. For the rest of the app:

- :func:`auth_mode` — local mode or sign-in; the dashboard shows ``auth_mode(ctx).banner`` when it is set;
- :func:`current_identity` — who the request acts as (name, role, scopes), e.g. to record who acknowledged;
- :func:`require` — refuse inside a handler unless the caller holds a scope (the policy table in
  :mod:`app.auth.policy` already does this for every route; this is for belt and braces).

See docs/security.md for the threat model and the deployment advice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import flask
from google.protobuf.message import DecodeError as ProtobufDecodeError

from app.auth.banner import AuthMode, auth_mode, choose_mode
from app.auth.errors import AuthError, PermissionDenied, StartRefused
from app.auth.gate import AccessGate, GateLimits, current_identity, undecodable
from app.auth.ratelimit import RateLimit
from app.auth.roles import Identity, Role, Scope
from app.auth.users import CredentialsFile

__all__ = [
    "AuthError",
    "AuthMode",
    "Identity",
    "PermissionDenied",
    "Role",
    "Scope",
    "StartRefused",
    "auth_mode",
    "current_identity",
    "install",
    "require",
]

log = logging.getLogger(__name__)
PART = "auth"


def install(app: flask.Flask, ctx: Any) -> AccessGate:
    """Guard `app`: the access gate ahead of every other hook, sessions, sign-in routes, retried-span dedup.

    Raises StartRefused (the process stops with its message, status 1) when the server must not start:
    a non-loopback bind without a users file, or a users file or secret key that cannot be used.
    """
    from werkzeug.middleware.proxy_fix import ProxyFix

    from app.auth import login, sessions

    settings = ctx.settings
    mode = choose_mode(settings)
    credentials = CredentialsFile(settings.auth_file) if settings.auth_file is not None else None
    secret = settings.secret_key.get_secret_value() if settings.secret_key is not None else None
    if not mode.signs_in and secret is None:
        # No sign-in in local mode: cookies only carry the sign-in form's token, so a per-process key will do.
        import secrets as _secrets

        key = _secrets.token_bytes(32)
    else:
        key = sessions.load_secret_key(secret, settings.secret_key_file)
    sessions.configure(app, key, settings.session_hours, settings.secure_cookies)
    if settings.forwarded_hops:
        hops = settings.forwarded_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    threads = int(settings.threads)
    gate = AccessGate(
        mode=mode,
        credentials=credentials,
        limits=GateLimits(
            ingest=RateLimit(settings.ingest_rate_per_s, settings.ingest_burst),
            api=RateLimit(settings.api_rate_per_s, settings.api_burst),
            max_api_body_bytes=settings.max_api_body_bytes,
            ingest_concurrency=settings.ingest_concurrency or max(1, threads // 2),
            session_hours=settings.session_hours,
        ),
        dash_callbacks=_dash_callback_lookup(app),
    )
    app.before_request_funcs.setdefault(None, []).insert(0, gate.before_request)
    app.after_request(gate.after_request)
    app.teardown_request(gate.teardown_request)
    app.register_error_handler(RecursionError, undecodable)
    app.register_error_handler(ProtobufDecodeError, undecodable)
    login.register(
        app,
        mode,
        credentials.current if credentials is not None else None,
        RateLimit(settings.login_attempts_per_min / 60.0, max(1.0, settings.login_attempts_per_min)),
        current_identity,
    )
    ctx.parts[PART] = gate
    _install_span_dedup(ctx)
    if mode.local:
        log.warning("%s: anyone on this machine can use the dashboard and the API", mode.banner)
    elif not mode.signs_in:
        log.warning("%s (TOUCHPOINT_ALLOW_ANONYMOUS): no sign-in on %s", mode.banner, settings.host)
    return gate


def require(scope: Scope | str) -> Identity:
    """The current identity, if it holds `scope`; raises PermissionDenied otherwise."""
    identity = current_identity()
    wanted = Scope(scope)
    if not identity.holds(wanted):
        who = identity.name or "an anonymous caller"
        raise PermissionDenied(f"{who} lacks the '{wanted}' scope", str(wanted))
    return identity


def _dash_callback_lookup(app: flask.Flask) -> Any:
    """A function from a Dash callback key to Dash's entry for it (the one Dash will run), or None."""
    from dash import _callback

    def dash_app() -> Any:
        found = app.extensions.get("dash")
        if found is not None:
            return found
        for hook in app.before_request_funcs.get(None, []):
            owner = getattr(hook, "__self__", None)
            if owner is not None and hasattr(owner, "callback_map"):
                return owner
        return None

    def lookup(key: str) -> dict[str, Any] | None:
        owner = dash_app()
        entry = owner.callback_map.get(key) if owner is not None else None
        return entry if entry is not None else _callback.GLOBAL_CALLBACK_MAP.get(key)

    return lookup


def _install_span_dedup(ctx: Any) -> None:
    from collectors.span_dedup import install_span_dedup

    if "span_dedup" in ctx.parts:
        return
    ctx.parts["span_dedup"] = install_span_dedup(
        ctx.receiver,
        ctx.writer,
        ctx.client(),
        ctx.settings.dedup_memory_spans,
        datetime.now(UTC),
        ctx.settings.dedup_seed_hours,
    )
