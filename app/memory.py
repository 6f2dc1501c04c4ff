"""Keeping the serving process's memory near what it holds, under glibc's allocator, without paying for it
in page faults while ingesting.

While ingesting, the server's threads allocate and free large buffers all the time: request bodies of
hundreds of KB, Arrow streams of a few MB from the mapping workers, and for every insert on the embedded engine
an Arrow stream of ~8 MB copied out to the file the engine reads. glibc raises its mmap threshold each time
such a buffer is freed, so after a few inserts those buffers come from the per-thread arenas (up to 8 per
core), and freed space inside an arena stays resident. Handing it back costs too: every page returned is
faulted in again when the next buffer reuses it. With the threshold fixed at 4 MB (insert buffers mapped and
unmapped each time) and the arenas trimmed every second, the serving process faulted ~50,000 pages a second at
~100,000 spans/s and ingested ~9 % slower (bench/ingest.py, interleaved 40 s runs, 2026-11-24). So the threshold
is fixed high, keeping every buffer a request or an insert needs in the arenas to be reused, and the arenas are
trimmed every 30 s by default: little to fault in again while ingest runs, and what they hold goes back within
half a minute once it quiets down.

Both are no-ops where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from typing import Any

log = logging.getLogger(__name__)

MMAP_THRESHOLD_BYTES = 64 * 1024 * 1024  # what ingest allocates stays in the arenas; only larger gets its own mapping
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
