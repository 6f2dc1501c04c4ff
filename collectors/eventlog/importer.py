"""Importing an event log into Touchpoint: read -> spans -> OTLP requests -> the server, counting everything.

This is the one place that strings the pure stages together with the file and the network. Reading streams;
the spans are then sent in time order, because otel_traces is partitioned by day and an insert touching
hundreds of days writes hundreds of parts (a log ordered by case spans years in every batch: seconds per batch
instead of milliseconds). So memory holds the log's spans, not its events or text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collectors.eventlog.errors import MalformedLog, ServerUnreachable
from collectors.eventlog.model import Event, LogFormat, LogMapping, Malformed
from collectors.eventlog.otlp_encode import DEFAULT_BATCH_SIZE, spans_to_requests
from collectors.eventlog.otlp_send import DEFAULT_URL, OtlpTraceSender
from collectors.eventlog.reader import default_service, read_log
from collectors.eventlog.to_spans import SpanOptions, StepSpanAssembler

PROGRESS_EVERY_EVENTS = 1000


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """What to call the imported spans and how to send them.

    `service` defaults to the file name's stem (``helpdesk.xes.gz`` -> ``helpdesk``); `source`, which
    seeds the trace and span ids, defaults to the service, so re-importing under the same service
    reproduces the same ids. `strict` reads the whole file first and refuses it if anything is
    malformed; `dry_run` builds the requests but sends nothing. `keep_malformed` bounds how many
    Malformed values the report keeps (all are counted and passed to `on_malformed`).
    """

    service: str | None = None
    source: str | None = None
    actor_type: str = "person"
    bind_steps: bool = False
    batch_size: int = DEFAULT_BATCH_SIZE
    strict: bool = False
    dry_run: bool = False
    log_format: LogFormat | None = None
    keep_malformed: int = 100


@dataclass(frozen=True, slots=True)
class ImportProgress:
    """Counts so far; `phase` is "checking" during --strict's first read, then "importing"."""

    phase: Literal["checking", "importing"]
    events_read: int
    spans_sent: int
    cases: int
    malformed: int


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did: events read, cases, spans built and sent, and every kind of thing skipped.

    `malformed` keeps the first problems (see ImportOptions.keep_malformed); `malformed_count` counts
    them all and `events_skipped` the events they cost. `unfinished` starts were sent as zero-length
    spans; `ignored_transitions` (e.g. schedule, suspend) carry no step and were not sent.
    `spans_rejected` and `rejections` are what the server refused by partial success.
    """

    source: str
    service: str
    events_read: int
    cases: int
    spans_built: int
    spans_sent: int
    requests_sent: int
    spans_rejected: int
    malformed_count: int
    events_skipped: int
    unfinished: int
    dry_run: bool
    malformed: tuple[Malformed, ...] = ()
    ignored_transitions: tuple[tuple[str, int], ...] = ()
    rejections: tuple[str, ...] = ()


ProgressCallback = Callable[[ImportProgress], None]
MalformedCallback = Callable[[Malformed], None]


def import_log(
    path: str | Path,
    mapping: LogMapping | None = None,
    url: str = DEFAULT_URL,
    options: ImportOptions | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    on_malformed: MalformedCallback | None = None,
    sender: OtlpTraceSender | None = None,
) -> ImportReport:
    """Read the log at `path`, turn its events into step spans and send them to the OTLP server at `url`.

    Malformed rows and events are skipped, counted and passed to `on_malformed`; with `options.strict`
    any of them raises MalformedLog before anything is sent. Raises LogUnreadable or MappingError for a
    file that cannot be read as a log, ServerUnreachable when the server cannot be reached (or stays
    busy), ServerRejected when it refuses a request.
    """
    options = options or ImportOptions()
    service = options.service or default_service(path)
    if options.strict:
        check = _Tally("checking", options.keep_malformed, on_progress, on_malformed)
        for _ in check.events(read_log(path, mapping, options.log_format)):
            pass
        if check.malformed_count:
            raise MalformedLog(Path(path).name, check.malformed, check.malformed_count)
        on_malformed = None
    tally = _Tally("importing", options.keep_malformed, on_progress, on_malformed)
    span_options = SpanOptions(
        source=options.source or service, actor_type=options.actor_type, bind_steps=options.bind_steps
    )
    assembler = StepSpanAssembler(span_options)
    events = tally.events(read_log(path, mapping, options.log_format))
    in_time_order = sorted(assembler.spans(events), key=lambda span: span.start_ns)
    requests = spans_to_requests(in_time_order, service, options.batch_size)
    if options.dry_run:
        _deliver(requests, None, tally)
    elif sender is not None:
        _deliver(requests, sender, tally)
    else:
        own = OtlpTraceSender(url)
        try:
            _deliver(requests, own, tally)
        finally:
            own.close()
    tally.progress()
    return ImportReport(
        source=Path(path).name,
        service=service,
        events_read=tally.events_read,
        cases=len(tally.cases),
        spans_built=tally.spans_built,
        spans_sent=tally.spans_sent,
        requests_sent=tally.requests_sent,
        spans_rejected=tally.spans_rejected,
        malformed_count=tally.malformed_count,
        events_skipped=tally.events_skipped,
        unfinished=assembler.unfinished,
        dry_run=options.dry_run,
        malformed=tuple(tally.malformed),
        ignored_transitions=tuple(sorted(assembler.ignored.items())),
        rejections=tuple(tally.rejections),
    )


def _deliver(
    requests: Iterable[ExportTraceServiceRequest], sender: OtlpTraceSender | None, tally: _Tally
) -> None:
    for request in requests:
        count = sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
        tally.spans_built += count
        if sender is None:
            continue
        try:
            outcome = sender.send(request)
        except ServerUnreachable as err:
            if tally.spans_sent:
                raise ServerUnreachable(
                    f"{err} ({tally.spans_sent} spans were sent before this; "
                    "importing again sends them again, with the same ids)"
                ) from None
            raise
        tally.requests_sent += 1
        tally.spans_sent += count - outcome.rejected_spans
        tally.spans_rejected += outcome.rejected_spans
        if outcome.message and len(tally.rejections) < 20:
            tally.rejections.append(outcome.message)
        tally.progress()


@dataclass
class _Tally:
    """Running counts of one pass over the log, and the callbacks that hear about them."""

    phase: Literal["checking", "importing"]
    keep_malformed: int
    on_progress: ProgressCallback | None
    on_malformed: MalformedCallback | None
    events_read: int = 0
    cases: set[str] = field(default_factory=set)
    malformed: list[Malformed] = field(default_factory=list)
    malformed_count: int = 0
    events_skipped: int = 0
    spans_built: int = 0
    spans_sent: int = 0
    spans_rejected: int = 0
    requests_sent: int = 0
    rejections: list[str] = field(default_factory=list)

    def events(self, items: Iterable[Event | Malformed]) -> Iterator[Event]:
        """The events among `items`; the malformed ones are counted and reported, never dropped silently."""
        for item in items:
            if isinstance(item, Malformed):
                self.malformed_count += 1
                self.events_skipped += item.events_skipped
                if len(self.malformed) < self.keep_malformed:
                    self.malformed.append(item)
                if self.on_malformed is not None:
                    self.on_malformed(item)
                continue
            self.events_read += 1
            self.cases.add(item.case_id)
            if self.events_read % PROGRESS_EVERY_EVENTS == 0:
                self.progress()
            yield item

    def progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(
                ImportProgress(
                    self.phase, self.events_read, self.spans_sent, len(self.cases), self.malformed_count
                )
            )
