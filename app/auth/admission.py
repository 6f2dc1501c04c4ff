"""Admission of OTLP requests: at most `limit` are decoded and written at once; the rest are turned away at
once with 503 + Retry-After rather than queued, so that ingest can never take every server thread and the
dashboard and API keep answering under overload."""

from __future__ import annotations

import threading


class IngestGate:
    """A counting gate: `enter()` is True (and must be paired with `leave()`) or False when full."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._slots = threading.BoundedSemaphore(self.limit)
        self.turned_away = 0

    def enter(self) -> bool:
        """Take a slot without waiting; False when all are taken."""
        if self._slots.acquire(blocking=False):
            return True
        self.turned_away += 1
        return False

    def leave(self) -> None:
        """Give back a slot taken by `enter()`."""
        self._slots.release()
