"""Exceptions raised by collectors/: one root, a few kinds a caller can act on."""

from __future__ import annotations


class CollectorError(Exception):
    """Root of every error raised by collectors/."""


class InvalidDsn(CollectorError):
    """The TOUCHPOINT_DB / --db value is not a DSN we can open."""


class DatabaseLocked(CollectorError):
    """Another process already owns the embedded engine's data directory."""


class DecodeError(CollectorError):
    """An OTLP request body could not be decoded (HTTP 400)."""


class PayloadTooLarge(CollectorError):
    """An OTLP request body is larger than the configured limit, after decompression (HTTP 413)."""


class UnsupportedMediaType(CollectorError):
    """An OTLP request has a content type or encoding we do not accept (HTTP 415)."""


class Overloaded(CollectorError):
    """The write queue is full; the client should retry after `retry_after_s` seconds (HTTP 503)."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class WriteFailed(CollectorError):
    """ClickHouse refused or failed a write; nothing of that batch was acknowledged.

    `retryable` is True when sending the same spans again may succeed (the database was unreachable or busy),
    False when ClickHouse refused the data itself.
    """

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable
