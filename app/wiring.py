"""Which parts a full server starts, in order. Each package's wiring adds its hook here."""

from __future__ import annotations

from typing import Any


def start_hooks() -> list[Any]:
    """Start hooks for open_runtime: each takes the AppContext and may return a stop function."""
    return []
