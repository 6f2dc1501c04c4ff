"""The OTLP/HTTP trace receiver (POST /v1/traces), independent of any web framework.

Per the OTLP specification: protobuf or JSON bodies, optionally gzip-compressed; the answer in the request's
content type; ``partial_success`` for refused spans; 400 for undecodable bodies, 413 past the size limit (after
decompression, so gzip bombs are caught), 415 for other media types, 503 with Retry-After when the write queue
is full. 200 is sent only after the spans are committed.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collectors.clickhouse_writer import SpanWriter
from collectors.errors import (
    CollectorError,
    DecodeError,
    Overloaded,
    PayloadTooLarge,
    UnsupportedMediaType,
    WriteFailed,
)
from collectors.otlp_mapping import SpanBatch, map_body

log = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class ReceiverLimits:
    """Limits on one request."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES  # after decompression
    commit_timeout_s: float = 30.0


@dataclass
class Reply:
    """An HTTP answer: status, headers and body."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ReceiverStats:
    """Counters shown by /api/v1/health."""

    requests: int = 0
    spans_accepted: int = 0
    spans_rejected: int = 0
    errors_by_status: dict[int, int] = field(default_factory=dict)


def media_type(content_type: str | None) -> str:
    """The media type without parameters, lowercased."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def read_body(stream: BinaryIO, content_length: int | None, encoding: str | None, limit: int) -> bytes:
    """Read and decompress a request body, refusing anything larger than `limit` bytes once decompressed."""
    encoding = (encoding or "identity").strip().lower()
    if encoding not in ("identity", "gzip", "deflate"):
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported: use gzip or none")
    if content_length is not None and content_length > limit:
        raise PayloadTooLarge(f"request body of {content_length} bytes exceeds the limit of {limit} bytes")
    raw = stream.read(limit + 1) if content_length is None else stream.read(content_length)
    if len(raw) > limit:
        raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
    if encoding == "identity":
        return raw
    wbits = 47 if encoding == "gzip" else 15  # 47: gzip or zlib header, 15: zlib
    inflater = zlib.decompressobj(wbits)
    try:
        body = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise DecodeError(f"request body is not valid {encoding} data: {exc}") from None
    if len(body) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes once decompressed")
    if not inflater.eof:
        raise DecodeError(f"request body is truncated {encoding} data")
    return body


class TraceReceiver:
    """Turns OTLP/HTTP trace requests into committed otel_traces rows."""

    def __init__(
        self,
        writer: SpanWriter,
        limits: ReceiverLimits | None = None,
        mapper: Callable[[bytes, bool], SpanBatch] = map_body,
    ) -> None:
        """`mapper(body, as_json)` decodes and maps a body (see collectors.mapping_workers)."""
        self.writer = writer
        self.mapper = mapper
        self.limits = limits or ReceiverLimits()
        self.stats = ReceiverStats()

    def handle(
        self,
        read: Callable[[int], bytes] | BinaryIO,
        content_type: str | None,
        content_encoding: str | None,
        content_length: int | None,
    ) -> Reply:
        """Answer one POST /v1/traces."""
        self.stats.requests += 1
        kind = media_type(content_type)
        as_json = kind == JSON
        try:
            if kind not in (PROTOBUF, JSON):
                raise UnsupportedMediaType(
                    f"Content-Type {content_type!r} is not supported: use {PROTOBUF} or {JSON}"
                )
            stream = read if hasattr(read, "read") else _CallableStream(read)  # type: ignore[arg-type]
            body = read_body(stream, content_length, content_encoding, self.limits.max_body_bytes)  # type: ignore[arg-type]
            with self.writer.incoming():  # the next insert waits for these spans
                batch = self.mapper(body, as_json)
                committed = self.writer.submit(batch.table) if batch.accepted else None
            if committed is not None:
                committed.result(self.limits.commit_timeout_s)
        except Overloaded as exc:
            return self._error(503, str(exc), as_json, {"Retry-After": str(max(1, round(exc.retry_after_s)))})
        except PayloadTooLarge as exc:
            return self._error(413, str(exc), as_json)
        except UnsupportedMediaType as exc:
            return self._error(415, str(exc), as_json)
        except DecodeError as exc:
            return self._error(400, str(exc), as_json)
        except WriteFailed as exc:
            log.warning("spans not committed", extra={"error": str(exc)})
            if exc.retryable:
                return self._error(503, f"spans were not stored: {exc}", as_json, {"Retry-After": "2"})
            return self._error(500, f"spans were refused by the database: {exc}", as_json)
        except TimeoutError as exc:
            return self._error(503, f"spans were not stored in time: {exc}", as_json, {"Retry-After": "2"})
        except CollectorError as exc:  # pragma: no cover - every kind is handled above
            return self._error(500, str(exc), as_json)
        self.stats.spans_accepted += batch.accepted
        self.stats.spans_rejected += batch.rejected
        response = ExportTraceServiceResponse()
        if batch.rejected:
            response.partial_success.rejected_spans = batch.rejected
            response.partial_success.error_message = batch.rejection_message()
        return self._ok(response, as_json)

    def _ok(self, response: ExportTraceServiceResponse, as_json: bool) -> Reply:
        if as_json:
            body = json_format.MessageToJson(response, indent=None).encode()
            return Reply(200, body, {"Content-Type": JSON})
        return Reply(200, response.SerializeToString(), {"Content-Type": PROTOBUF})

    def _error(self, status: int, message: str, as_json: bool, headers: dict[str, str] | None = None) -> Reply:
        self.stats.errors_by_status[status] = self.stats.errors_by_status.get(status, 0) + 1
        grpc_code = {400: 3, 413: 8, 415: 3, 503: 14}.get(status, 13)
        rpc_status = status_pb2.Status(code=grpc_code, message=message)
        if as_json:
            body = json_format.MessageToJson(rpc_status, indent=None).encode()
            content_type = JSON
        else:
            body = rpc_status.SerializeToString()
            content_type = PROTOBUF
        return Reply(status, body, {"Content-Type": content_type, **(headers or {})})


class _CallableStream:
    def __init__(self, read: Callable[[int], bytes]) -> None:
        self.read = read
