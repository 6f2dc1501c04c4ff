"""Replays simulated spans through the real OpenTelemetry SDK, one TracerProvider per service.

Each service gets a `TracerProvider` with its own `Resource` (`service.name`) and a
`BatchSpanProcessor` around an exporter from the caller's factory, exactly as an instrumented
service would have. Spans are started and ended with the record's explicit timestamps, and
their ids are the record's ids (fed to the SDK through an `IdGenerator`), so a seed that gives
the same records gives the same spans on the wire.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from app.demo.spans import SpanKindName, SpanRecord

ExporterFactory = Callable[[], SpanExporter]

INSTRUMENTATION_SCOPE = "touchpoint.demo"
_KINDS = {
    SpanKindName.SERVER: SpanKind.SERVER,
    SpanKindName.CLIENT: SpanKind.CLIENT,
    SpanKindName.INTERNAL: SpanKind.INTERNAL,
    SpanKindName.PRODUCER: SpanKind.PRODUCER,
    SpanKindName.CONSUMER: SpanKind.CONSUMER,
}
# The SDK drops spans when a processor's queue is full; flushing a provider well before that
# gives a backfill, which produces spans faster than any exporter takes them, back-pressure.
_QUEUE_SIZE = 16384
_FLUSH_EVERY = 4096


@dataclass(frozen=True, slots=True)
class SendCounts:
    """Spans the exporters accepted and refused, and the last refusal."""

    sent: int
    failed: int
    failed_batches_in_a_row: int
    last_error: str | None


class SendTally:
    """Thread-safe counts of export results (exporters run on the processors' threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent = 0
        self._failed = 0
        self._in_a_row = 0
        self._last_error: str | None = None
        self._given_up = False

    def give_up(self) -> None:
        """From now on every batch counts as refused without being sent (the receiver is gone)."""
        with self._lock:
            self._given_up = True

    @property
    def given_up(self) -> bool:
        """Whether sending was abandoned."""
        with self._lock:
            return self._given_up

    def record(self, spans: int, ok: bool, error: str | None = None) -> None:
        with self._lock:
            if ok:
                self._sent += spans
                self._in_a_row = 0
            else:
                self._failed += spans
                self._in_a_row += 1
                self._last_error = error

    def counts(self) -> SendCounts:
        with self._lock:
            return SendCounts(self._sent, self._failed, self._in_a_row, self._last_error)


class CountingExporter(SpanExporter):
    """Passes batches to `inner` and tallies what it accepted and refused; once the tally gave up,
    refuses at once, so shutting down after losing the receiver does not wait on retries."""

    def __init__(self, inner: SpanExporter, tally: SendTally) -> None:
        self._inner = inner
        self._tally = tally

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._tally.given_up:
            self._tally.record(len(spans), False, "not sent: the receiver had stopped accepting spans")
            return SpanExportResult.FAILURE
        try:
            result = self._inner.export(spans)
        except Exception as exc:  # an exporter that raises is counted as refusing, not crashing the run
            self._tally.record(len(spans), False, f"{type(exc).__name__}: {exc}")
            return SpanExportResult.FAILURE
        ok = result is SpanExportResult.SUCCESS
        self._tally.record(len(spans), ok, None if ok else "the exporter refused the batch")
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class _PlannedIds(IdGenerator):
    """Hands the SDK the ids chosen by the simulation for the span being started."""

    def __init__(self) -> None:
        self.trace_id = 0
        self.span_id = 0

    def generate_trace_id(self) -> int:
        return self.trace_id

    def generate_span_id(self) -> int:
        return self.span_id

    def is_trace_id_random(self) -> bool:
        return True


class SdkSpanSink:
    """Sends `SpanRecord`s as real SDK spans; call `shutdown()` once at the end.

    `exporter_factory` is called once per service. It may return one shared exporter only if that
    exporter tolerates `shutdown()` being called once per service after everything was flushed.
    `emit` must be called from one thread.
    """

    def __init__(
        self,
        exporter_factory: ExporterFactory,
        *,
        schedule_delay_ms: float = 500,
        max_export_batch_size: int = 512,
    ) -> None:
        self.tally = SendTally()
        self._factory = exporter_factory
        self._schedule_delay_ms = schedule_delay_ms
        self._batch = max_export_batch_size
        self._ids = _PlannedIds()
        self._providers: dict[str, TracerProvider] = {}
        self._tracers: dict[str, trace.Tracer] = {}
        self._unflushed: dict[str, int] = {}

    def emit(self, record: SpanRecord) -> None:
        """Start and end one SDK span exactly as `record` describes it."""
        tracer = self._tracers.get(record.service) or self._add_service(record.service)
        self._ids.trace_id = record.trace_id
        self._ids.span_id = record.span_id
        if record.parent_span_id is None:
            context = Context()
        else:
            parent = SpanContext(
                record.trace_id,
                record.parent_span_id,
                is_remote=False,
                trace_flags=TraceFlags(TraceFlags.SAMPLED),
            )
            context = trace.set_span_in_context(NonRecordingSpan(parent), Context())
        span = tracer.start_span(
            record.name,
            context=context,
            kind=_KINDS[record.kind],
            attributes=dict(record.attributes),
            start_time=record.start_ns,
        )
        for event in record.events:
            span.add_event(event.name, dict(event.attributes), timestamp=event.time_ns)
        if record.error is not None:
            span.set_status(Status(StatusCode.ERROR, record.error))
        span.end(end_time=record.end_ns)
        count = self._unflushed[record.service] + 1
        if count >= _FLUSH_EVERY:
            self._providers[record.service].force_flush()
            count = 0
        self._unflushed[record.service] = count

    def flush(self) -> None:
        """Export everything emitted so far (blocks until the exporters have answered)."""
        for service, provider in self._providers.items():
            provider.force_flush()
            self._unflushed[service] = 0

    def shutdown(self) -> None:
        """Flush every provider, then shut them (and their exporters) down."""
        self.flush()
        for provider in self._providers.values():
            provider.shutdown()

    @property
    def services(self) -> tuple[str, ...]:
        """The services that have sent spans so far."""
        return tuple(self._providers)

    def _add_service(self, service: str) -> trace.Tracer:
        provider = TracerProvider(
            resource=Resource.create({"service.name": service, "service.namespace": "touchpoint-demo"}),
            sampler=ALWAYS_ON,
            id_generator=self._ids,
            shutdown_on_exit=False,
        )
        provider.add_span_processor(
            BatchSpanProcessor(
                CountingExporter(self._factory(), self.tally),
                max_queue_size=_QUEUE_SIZE,
                schedule_delay_millis=self._schedule_delay_ms,
                max_export_batch_size=self._batch,
            )
        )
        tracer = provider.get_tracer(INSTRUMENTATION_SCOPE)
        self._providers[service] = provider
        self._tracers[service] = tracer
        self._unflushed[service] = 0
        return tracer
