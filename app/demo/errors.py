"""The demo's exceptions: one root, so the CLI can turn any of them into a message and an exit code."""

from __future__ import annotations


class DemoError(Exception):
    """Root of every error the demo raises on purpose; its message is meant for the person running it."""


class FaultSyntaxError(DemoError, ValueError):
    """A `--fault` value that does not follow KIND:BLUEPRINT/TARGET[@START[/DURATION]][=MAGNITUDE]."""


class FaultTargetError(DemoError, ValueError):
    """A fault aimed at a blueprint, step or touchpoint the demo does not play, or cannot fault that way."""


class ServerUnreachable(DemoError):
    """The Touchpoint server did not accept spans at its OTLP endpoint."""
