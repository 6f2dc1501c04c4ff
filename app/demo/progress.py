"""The demo's one-line progress report in the terminal."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from app.demo.truth import iso_utc


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a run is: simulated moment, journeys, spans, send errors, faults on now.

    `done` is the finished share of a run with an end (0..1), None for an open-ended one.
    """

    mode: str
    moment: datetime
    done: float | None
    journeys_started: int
    journeys_finished: int
    spans_sent: int
    send_errors: int
    active_faults: tuple[str, ...]


def render_progress(progress: Progress) -> str:
    """One line, e.g. `backfill 42% 2024-05-01T10:31:05Z | journeys 1203 started, 1011 finished | …`."""
    done = f" {progress.done:.0%}" if progress.done is not None else ""
    faults = ", ".join(progress.active_faults) if progress.active_faults else "none"
    return (
        f"{progress.mode}{done} {iso_utc(progress.moment)[:19]}Z"
        f" | journeys {progress.journeys_started} started, {progress.journeys_finished} finished"
        f" | spans {progress.spans_sent} sent, {progress.send_errors} send errors"
        f" | faults: {faults}"
    )


class ProgressLine:
    """Rewrites one terminal line in place (at most every `every_s` seconds); on a non-terminal
    stream it prints a plain line now and then instead, so logs stay readable."""

    def __init__(
        self,
        stream: TextIO,
        *,
        every_s: float = 0.25,
        log_every_s: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._every = every_s if self._tty else log_every_s
        self._monotonic = monotonic
        self._last = -float("inf")
        self._width = 0

    def show(self, progress: Progress, *, force: bool = False) -> None:
        """Show `progress` unless the line was updated very recently (always when `force`)."""
        now = self._monotonic()
        if not force and now - self._last < self._every:
            return
        self._last = now
        text = render_progress(progress)
        if self._tty:
            padding = " " * max(0, self._width - len(text))
            self._stream.write("\r" + text + padding)
            self._width = len(text)
        else:
            self._stream.write(text + "\n")
        self._stream.flush()

    def close(self) -> None:
        """End the updating line so what follows starts on a fresh one."""
        if self._tty and self._width:
            self._stream.write("\n")
            self._stream.flush()
        self._width = 0
