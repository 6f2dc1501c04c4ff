"""Which parts a full server starts, in order. Each part's start hook installs its routes and threads."""

from __future__ import annotations

from typing import Any


def start_hooks() -> list[Any]:
    """Start hooks for open_runtime: each takes the AppContext and may return a stop function.

    Order matters: the blueprint store comes before the live state that reads it, and the evaluation lease
    before the alert engine that evaluates only while this process holds it. Stops run in reverse order.
    """
    from app import leader
    from app.api import alerts, blueprints, state

    return [blueprints.install, state.install, leader.start_hook, alerts.start]
