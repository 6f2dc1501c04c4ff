"""People steps from systems of record: XES and CSV event logs imported as step spans over OTLP.

    report = import_log("exports/helpdesk.xes.gz", LogMapping(), "http://127.0.0.1:8050")

Stages, each usable alone: `read_log` (file -> Event | Malformed), `events_to_spans` (events -> StepSpan),
`events_to_requests` / `spans_to_requests` (-> ExportTraceServiceRequest batches), `OtlpTraceSender`
(requests -> the server).
"""

from collectors.eventlog.errors import (
    EventLogError,
    LogUnreadable,
    MalformedLog,
    MappingError,
    ServerRejected,
    ServerUnreachable,
)
from collectors.eventlog.importer import ImportOptions, ImportProgress, ImportReport, import_log
from collectors.eventlog.model import Event, LogMapping, Malformed
from collectors.eventlog.otlp_encode import events_to_requests, spans_to_requests
from collectors.eventlog.otlp_send import DEFAULT_URL, OtlpTraceSender, SendOutcome
from collectors.eventlog.reader import default_service, read_log
from collectors.eventlog.to_spans import SpanOptions, StepSpan, events_to_spans, step_slug

__all__ = [
    "DEFAULT_URL",
    "Event",
    "EventLogError",
    "ImportOptions",
    "ImportProgress",
    "ImportReport",
    "LogMapping",
    "LogUnreadable",
    "Malformed",
    "MalformedLog",
    "MappingError",
    "OtlpTraceSender",
    "SendOutcome",
    "ServerRejected",
    "ServerUnreachable",
    "SpanOptions",
    "StepSpan",
    "default_service",
    "events_to_requests",
    "events_to_spans",
    "import_log",
    "read_log",
    "spans_to_requests",
    "step_slug",
]
