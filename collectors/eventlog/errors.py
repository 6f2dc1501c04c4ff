"""Exceptions raised by the event-log import: one root under `CollectorError`, one kind per thing to fix.

A malformed row or event is not an exception: readers yield it as a `Malformed` value so the import can
skip and count it. Exceptions are for what stops the whole import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from collectors.errors import CollectorError

if TYPE_CHECKING:
    from collectors.eventlog.model import Malformed


class EventLogError(CollectorError):
    """Root of every error raised by collectors.eventlog."""


class LogUnreadable(EventLogError):
    """The file cannot be read as an event log at all: missing, empty, not XES/CSV, undecodable."""


class MappingError(EventLogError):
    """The field mapping does not fit the log: a required column is missing or a named one does not exist."""


class MalformedLog(EventLogError):
    """`--strict` refused the log because some rows or events are malformed; nothing was sent.

    `malformed` holds the first problems found (up to the reader's limit); `count` is the total.
    """

    def __init__(self, source: str, malformed: Sequence[Malformed], count: int) -> None:
        super().__init__(f"{source}: {count} malformed row(s) or event(s); --strict refuses the whole file")
        self.source = source
        self.malformed = tuple(malformed)
        self.count = count


class ServerUnreachable(EventLogError):
    """The OTLP endpoint could not be reached, or kept answering 'busy' past the retry budget."""


class ServerRejected(EventLogError):
    """The OTLP endpoint refused a request outright (an HTTP status that retrying will not fix)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status
