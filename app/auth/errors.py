"""Exceptions raised by app/auth: one root for refusals at request time, one for refusing to start."""

from __future__ import annotations


class AuthError(Exception):
    """Root of the errors app/auth raises while serving requests."""


class PermissionDenied(AuthError):
    """The caller is signed in (or holds a token) but lacks the scope an action needs."""

    def __init__(self, message: str, needed: str) -> None:
        super().__init__(message)
        self.needed = needed


class StartRefused(SystemExit):
    """The server must not start as configured; the message says what to change.

    A SystemExit on purpose: raised while `touchpoint serve` (or a gunicorn worker) builds its app, it stops
    the process with status 1 and this message on stderr, not a traceback.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class AuthConfigInvalid(StartRefused):
    """The users file or the secret key cannot be used; the message names the file, the place and the fix."""
