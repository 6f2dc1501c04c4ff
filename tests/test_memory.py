"""The serving process hands memory it no longer uses back to the system (glibc only).

Each test runs a fresh interpreter, so the allocator's state is its own: a thread allocates the way the
server's threads do (several-MB insert buffers, 64 KB blocks), frees most of it, and the resident anonymous
memory is read from /proc.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc" or not Path("/proc/self/status").exists(),
    reason="glibc's allocator on Linux",
)

PRELUDE = f"""
import sys, threading
sys.path.insert(0, {str(ROOT)!r})
from app.memory import MemoryTrimmer, fix_mmap_threshold

def resident_mb():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) // 1024

kept = []

def in_a_thread(work):
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
"""

INSERT_BUFFERS = """
def inserts():
    for _ in range(3):
        buffers = [bytearray(8 * 1024 * 1024) for _ in range(4)]
        blocks = [bytearray(64 * 1024) for _ in range(50)]
        kept.extend(blocks[::10])
        del buffers, blocks

before = resident_mb()
in_a_thread(inserts)
print(resident_mb() - before)
"""


def run(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PRELUDE + code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_freed_buffers_at_or_above_a_fixed_mmap_threshold_leave_the_process() -> None:
    (kept_by_default,) = run(INSERT_BUFFERS)
    (kept_fixed,) = run("assert fix_mmap_threshold(4 * 1024 * 1024)\n" + INSERT_BUFFERS)

    assert int(kept_by_default) >= 16  # glibc moved its threshold and kept freed 8 MB buffers in the arena
    assert int(kept_fixed) <= 8


def test_a_trim_returns_the_free_pages_a_thread_left_in_its_arena() -> None:
    before, fragmented, trimmed = run(
        """
before = resident_mb()
def fragment():
    blocks = [bytearray(64 * 1024) for _ in range(1600)]  # 100 MB
    kept.extend(blocks[::50])  # a block in every 3 MB stays in use
in_a_thread(fragment)
fragmented = resident_mb()
MemoryTrimmer().trim()
print(before, fragmented, resident_mb())
"""
    )

    assert int(fragmented) - int(before) >= 80
    assert int(trimmed) - int(before) <= 20


def test_the_trimmer_thread_trims_on_its_interval_and_stops() -> None:
    (fragmented, trimmed, alive) = run(
        """
import time
trimmer = MemoryTrimmer(every_s=0.05).start()
def fragment():
    blocks = [bytearray(64 * 1024) for _ in range(1600)]
    kept.extend(blocks[::50])
in_a_thread(fragment)
fragmented = resident_mb()
time.sleep(0.5)
trimmed = resident_mb()
trimmer.stop()
print(fragmented, trimmed, any(t.name == "touchpoint-memory-trim" for t in threading.enumerate()))
"""
    )

    assert int(fragmented) - int(trimmed) >= 60
    assert alive == "False"


def test_a_trim_interval_must_be_positive() -> None:
    from app.memory import MemoryTrimmer

    with pytest.raises(ValueError, match="memory trim interval must be positive seconds, got 0"):
        MemoryTrimmer(every_s=0)
