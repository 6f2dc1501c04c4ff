"""An OpenTelemetry SpanExporter that writes straight into ClickHouse through the same writer as the receiver.

For Python services living next to Touchpoint's database (a batch job, a test, a benchmark). Services elsewhere
should export OTLP/HTTP to `touchpoint serve` instead: the embedded engine admits one process only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from collectors.clickhouse_writer import SpanWriter, span_insert_settings
from collectors.db import DEFAULT_DSN, connect, parse_dsn
from collectors.errors import CollectorError
from collectors.otlp_mapping import map_protobuf

log = logging.getLogger(__name__)


class ClickHouseSpanExporter(SpanExporter):
    """Exports finished spans as otel_traces rows; `export` returns only once they are committed.

    Give it a `writer` to share one (inside the server), or a `dsn` (default: TOUCHPOINT_DB, then the embedded
    default) to open its own.
    """

    def __init__(self, dsn: str | None = None, writer: SpanWriter | None = None, timeout_s: float = 30.0) -> None:
        self._own_writer = writer is None
        if writer is None:
            parsed = parse_dsn(dsn or os.environ.get("TOUCHPOINT_DB", DEFAULT_DSN))
            writer = SpanWriter(lambda: connect(parsed), insert_settings=span_insert_settings(parsed.embedded))
        self._writer = writer
        self._timeout_s = timeout_s
        self._shutdown = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Write the spans; FAILURE if ClickHouse refused them or the exporter is shut down."""
        if self._shutdown:
            return SpanExportResult.FAILURE
        try:
            batch = map_protobuf(encode_spans(spans).SerializeToString())
            self._writer.write(batch.table, timeout=self._timeout_s)
        except (CollectorError, TimeoutError) as exc:
            log.warning("span export failed", extra={"spans": len(spans), "error": str(exc)})
            return SpanExportResult.FAILURE
        if batch.rejected:
            log.warning("spans refused", extra={"rejected": batch.rejected, "why": batch.rejection_message()})
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Every export is already synchronous; waits for anything another thread queued."""
        return self._writer.flush(timeout_millis / 1000)

    def shutdown(self) -> None:
        """Refuse further exports and, if this exporter opened its own writer, close it."""
        self._shutdown = True
        if self._own_writer:
            self._writer.close()
