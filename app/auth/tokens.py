"""API tokens: `Authorization: Bearer tp_…`, each with scopes, stored in the users file only as a SHA-256.

Tokens are 256 random bits, so a plain SHA-256 is enough to keep the file from revealing them (a slow hash
protects guessable passwords, not random keys) and lets every OTLP request be checked in microseconds.
"""

from __future__ import annotations

import hashlib
import secrets

from app.auth.roles import Identity
from app.auth.users import Credentials

PREFIX = "tp_"


def new_token() -> tuple[str, str]:
    """A fresh token and the SHA-256 hex digest to put in the users file."""
    token = PREFIX + secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    """The SHA-256 hex digest the users file keeps for `token`."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer …` header; None when there is no such header."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def token_identity(credentials: Credentials, token: str) -> Identity | None:
    """The identity a presented token acts as, or None when no token in the users file has that digest."""
    grant = credentials.tokens.get(token_digest(token))
    if grant is None:
        return None
    return Identity(name=f"token:{grant.name}", scopes=grant.scopes, via="token")
