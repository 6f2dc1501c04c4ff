"""Keeping the serving process's memory near what it holds, under glibc's allocator.

While ingesting, the server's threads allocate and free large buffers all the time: request bodies of
hundreds of KB, and for every insert on the embedded engine an Arrow stream of several MB copied out to the
file the engine reads. glibc raises its mmap threshold each time such a buffer is freed, so after a few
inserts those buffers come from the per-thread arenas (up to 8 per core), and freed space inside an arena
stays resident. Measured on 30 s ingest runs, three interleaved pairs each (bench/ingest.py, 2026-11-24):
the serving process peaked 100-170 MB lower with both measures below, at the same rate.

Both are no-ops where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from typing import Any

log = logging.getLogger(__name__)

MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024  # an insert's Arrow stream (~8 MB) and larger; bodies stay in arenas
_M_MMAP_THRESHOLD = -3  # mallopt parameter numbers from glibc's malloc.h


def _glibc() -> Any | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version  # noqa: B018 - present in glibc only
    except (OSError, AttributeError):
        return None
    return libc


def fix_mmap_threshold(threshold_bytes: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Serve allocations of `threshold_bytes` and more from their own mappings, returned to the system when
    freed, and stop glibc moving that threshold. Returns whether the allocator took the setting."""
    libc = _glibc()
    return bool(libc is not None and libc.mallopt(_M_MMAP_THRESHOLD, threshold_bytes) == 1)


class MemoryTrimmer:
    """A daemon thread handing the allocator's free pages back to the system every `every_s` seconds
    (glibc's `malloc_trim`, which walks every arena, not only the top of the main heap).

    `trim()` does one pass at once; `stop()` ends the thread. Without glibc, `start()` does nothing.
    """

    def __init__(self, every_s: float = 1.0) -> None:
        if every_s <= 0:
            raise ValueError(f"memory trim interval must be positive seconds, got {every_s!r}")
        self.every_s = every_s
        self._libc = _glibc()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def trim(self) -> bool:
        """Release free memory now; True if some was released."""
        return bool(self._libc is not None and self._libc.malloc_trim(0))

    def start(self) -> MemoryTrimmer:
        """Start trimming in the background (once); returns self."""
        if self._libc is None:
            log.info("memory trimming off: the C library is not glibc")
        elif self._thread is None:
            self._thread = threading.Thread(target=self._run, name="touchpoint-memory-trim", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and wait for it."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stopped.wait(self.every_s):
            self.trim()
