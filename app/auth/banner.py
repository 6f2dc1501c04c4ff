"""Which way the server lets people in:

- sign-in: a users file is configured; people sign in, tools send API tokens;
- local: no users file and bound to loopback: one person on their own machine, no sign-in, a banner saying
  so, and only this machine served;
- open: no users file, bound beyond loopback, and `allow_anonymous` set on purpose (a network trusted
  entirely, such as a compose network published on 127.0.0.1): no sign-in, a banner saying so.

A server reachable from other machines without a users file, and without that deliberate setting, is refused
at start.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Literal

from app.auth.errors import StartRefused

LOCAL_BANNER = "No sign-in: local mode"
OPEN_BANNER = "No sign-in: open to everyone who can reach this server"
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


@dataclass(frozen=True)
class AuthMode:
    """`kind` "local" (no sign-in, loopback only), "open" (no sign-in, by choice) or "sign-in"; `banner` is
    the text to show, if any."""

    kind: Literal["local", "open", "sign-in"]
    banner: str | None

    @property
    def local(self) -> bool:
        """True when only this machine is served (loopback peers and names)."""
        return self.kind == "local"

    @property
    def signs_in(self) -> bool:
        """True when people sign in and tools send tokens; False when everyone acts as the local admin."""
        return self.kind == "sign-in"


LOCAL = AuthMode(kind="local", banner=LOCAL_BANNER)
OPEN = AuthMode(kind="open", banner=OPEN_BANNER)
SIGN_IN = AuthMode(kind="sign-in", banner=None)


def is_loopback(host: str) -> bool:
    """True for names and addresses that only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def choose_mode(settings: Any) -> AuthMode:
    """The mode the settings call for; raises StartRefused for a non-loopback bind with no users file."""
    if settings.auth_file is not None:
        return SIGN_IN
    if is_loopback(settings.host):
        return LOCAL
    if getattr(settings, "allow_anonymous", False):
        return OPEN
    raise StartRefused(
        f"touchpoint serve: refusing to listen on {settings.host} without sign-in: anyone who can reach it "
        "could change blueprints and silence alerts. Either bind to 127.0.0.1 (local mode, no sign-in), or "
        "create a users file and set TOUCHPOINT_AUTH_FILE=/path/to/users.toml "
        "(see docs/security.md; `python -m app.auth hash-password` makes password hashes)."
    )


def auth_mode(ctx: Any) -> AuthMode:
    """The running server's mode, for the dashboard to show `banner` (None when people sign in)."""
    guard = ctx.parts.get("auth")
    if guard is not None:
        return guard.mode  # type: ignore[no-any-return]
    return SIGN_IN if ctx.settings.auth_file is not None else LOCAL
