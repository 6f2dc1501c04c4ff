"""`touchpoint import FILE`: send the people steps of an XES or CSV event log to a running Touchpoint.

Exit codes: 0 imported (malformed rows skipped and reported), 1 bad input (unreadable file, a mapping
that does not fit, --strict with malformed rows), 2 the server is unreachable or refused the spans.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from collectors.eventlog import (
    DEFAULT_URL,
    ImportOptions,
    ImportProgress,
    ImportReport,
    LogMapping,
    LogUnreadable,
    Malformed,
    MalformedLog,
    MappingError,
    ServerRejected,
    ServerUnreachable,
    import_log,
)
from collectors.eventlog.otlp_send import traces_url
from collectors.eventlog.to_spans import ACTOR_TYPES

EXIT_OK, EXIT_BAD_INPUT, EXIT_SERVER = 0, 1, 2
PROGRESS_INTERVAL_S = 0.2


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `import` subcommand; its `func` default runs it and returns the exit code."""
    parser = subparsers.add_parser(
        "import",
        help="import people steps from an XES or CSV event log (tickets, calls, visits)",
        description="Read an event log exported from a CRM or ticketing system and send each case as one "
        "journey of step spans to a running Touchpoint over OTLP/HTTP. Importing the same log again "
        "reproduces the same trace and span ids.",
    )
    parser.add_argument("file", help="an .xes, .xes.gz, .csv or .csv.gz event log")
    columns = parser.add_argument_group(
        "fields",
        "CSV column names (XES attribute keys for an XES log); unnamed ones are detected from "
        "common names such as 'Case ID', 'case:concept:name', 'Activity', 'Timestamp', 'Resource'",
    )
    columns.add_argument("--case", metavar="COL", help="the case id column (one case = one journey)")
    columns.add_argument("--activity", metavar="COL", help="the activity column (the span name)")
    columns.add_argument("--timestamp", metavar="COL", help="the completion timestamp column")
    columns.add_argument("--start-timestamp", metavar="COL", help="a start timestamp column, if any")
    columns.add_argument("--lifecycle", metavar="COL", help="a lifecycle column (start / complete), if any")
    columns.add_argument("--resource", metavar="COL", help="who did it: becomes actor.id")
    columns.add_argument("--channel", metavar="COL", help="the contact channel: becomes touchpoint.channel")
    columns.add_argument(
        "--time-format",
        metavar="FMT",
        help="strptime format of the timestamps (default ISO 8601), e.g. '%%d/%%m/%%Y %%H:%%M'",
    )
    columns.add_argument(
        "--timezone",
        metavar="ZONE",
        help="zone of timestamps without an offset (default UTC), e.g. Europe/Berlin",
    )
    columns.add_argument(
        "--delimiter", metavar="CHAR", help="CSV delimiter (default: detected; 'tab' for tab)"
    )
    columns.add_argument(
        "--encoding",
        default="utf-8-sig",
        help="CSV text encoding (default utf-8, with or without a byte order mark)",
    )
    columns.add_argument("--format", choices=("xes", "csv"), help="the log format (default: from the name)")
    spans = parser.add_argument_group("spans")
    spans.add_argument("--service", help="service.name of the spans (default: the file name, e.g. helpdesk)")
    spans.add_argument("--source", help="seed of the trace and span ids (default: the service name)")
    spans.add_argument(
        "--actor-type", choices=ACTOR_TYPES, default="person", help="actor.type (default person)"
    )
    spans.add_argument(
        "--bind-steps",
        action="store_true",
        help="set blueprint.step to a slug of the activity ('Resolve ticket' -> resolve-ticket)",
    )
    sending = parser.add_argument_group("sending")
    sending.add_argument("--url", default=DEFAULT_URL, help=f"the Touchpoint server (default {DEFAULT_URL})")
    sending.add_argument(
        "--batch-size", type=_positive_int, default=1000, help="spans per request (default 1000)"
    )
    sending.add_argument(
        "--strict",
        action="store_true",
        help="refuse the whole file if any row is malformed (checked before sending)",
    )
    sending.add_argument("--dry-run", action="store_true", help="read and convert, send nothing")
    sending.add_argument("--quiet", action="store_true", help="no progress line")
    sending.add_argument(
        "--show-malformed",
        type=int,
        default=20,
        metavar="N",
        help="print the first N malformed rows (default 20; all are counted)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run `touchpoint import` with parsed arguments; returns the exit code."""
    out, err = sys.stdout, sys.stderr
    try:
        mapping = _mapping(args)
    except ValueError as problem:
        print(f"touchpoint import: {problem}", file=err)
        return EXIT_BAD_INPUT
    options = ImportOptions(
        service=args.service,
        source=args.source,
        actor_type=args.actor_type,
        bind_steps=args.bind_steps,
        batch_size=args.batch_size,
        strict=args.strict,
        dry_run=args.dry_run,
        log_format=args.format,
    )
    progress = _ProgressLine(err, enabled=not args.quiet and err.isatty())
    shown = _MalformedPrinter(err, limit=args.show_malformed, progress=progress)
    started = time.monotonic()
    try:
        report = import_log(
            args.file, mapping, args.url, options, on_progress=progress.update, on_malformed=shown.print
        )
    except MalformedLog as refused:
        progress.clear()
        print(f"touchpoint import: {refused}; nothing was sent", file=err)
        return EXIT_BAD_INPUT
    except (LogUnreadable, MappingError) as problem:
        progress.clear()
        print(f"touchpoint import: {problem}", file=err)
        return EXIT_BAD_INPUT
    except (ServerUnreachable, ServerRejected) as problem:
        progress.clear()
        print(f"touchpoint import: {problem}", file=err)
        return EXIT_SERVER
    progress.clear()
    print(summary(report, traces_url(args.url), time.monotonic() - started, shown.printed), file=out)
    return EXIT_OK


def summary(report: ImportReport, url: str, elapsed_s: float, malformed_shown: int) -> str:
    """The lines printed after an import: what was read, what was sent, what was skipped and why."""
    where = "nothing sent (dry run)" if report.dry_run else f"sent to {url}"
    lines = [
        f"{report.source}: {report.events_read:,} events in {report.cases:,} cases -> "
        f"{report.spans_built:,} spans of service '{report.service}', {where} in {elapsed_s:.1f} s",
    ]
    if not report.dry_run:
        lines.append(f"  spans accepted: {report.spans_sent:,} in {report.requests_sent:,} requests")
    if report.spans_rejected:
        lines.append(f"  spans rejected by the server: {report.spans_rejected:,}")
        lines.extend(f"    {message}" for message in report.rejections)
    if report.malformed_count:
        note = f" (first {malformed_shown} shown above)" if malformed_shown < report.malformed_count else ""
        lines.append(
            f"  malformed, skipped: {report.malformed_count:,} ({report.events_skipped:,} events){note}"
        )
    if report.unfinished:
        lines.append(f"  started but never completed: {report.unfinished:,} (sent as zero-length spans)")
    if report.ignored_transitions:
        counts = ", ".join(f"{name} {count:,}" for name, count in report.ignored_transitions)
        lines.append(f"  lifecycle events without a step of their own, not sent: {counts}")
    return "\n".join(lines)


def _mapping(args: argparse.Namespace) -> LogMapping:
    zone = None
    if args.timezone:
        try:
            zone = ZoneInfo(args.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"--timezone '{args.timezone}' is not a known time zone (e.g. Europe/Berlin)"
            ) from None
    delimiter = args.delimiter
    if delimiter is not None:
        delimiter = {"tab": "\t", "\\t": "\t"}.get(delimiter.lower(), delimiter)
        if len(delimiter) != 1:
            raise ValueError(f"--delimiter '{args.delimiter}' must be one character (or 'tab')")
    return LogMapping(
        case=args.case,
        activity=args.activity,
        timestamp=args.timestamp,
        start_timestamp=args.start_timestamp,
        lifecycle=args.lifecycle,
        resource=args.resource,
        channel=args.channel,
        time_format=args.time_format,
        timezone=zone,
        delimiter=delimiter,
        encoding=args.encoding,
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


class _ProgressLine:
    """One status line rewritten in place on a terminal, at most every PROGRESS_INTERVAL_S."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.last = 0.0
        self.width = 0

    def update(self, progress: ImportProgress) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.last < PROGRESS_INTERVAL_S:
            return
        self.last = now
        text = (
            f"{progress.phase}: {progress.events_read:,} events read, {progress.spans_sent:,} spans sent, "
            f"{progress.cases:,} cases, {progress.malformed:,} malformed"
        )
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)

    def clear(self) -> None:
        if self.enabled and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0


class _MalformedPrinter:
    """Prints the first `limit` malformed rows as they are found (a negative limit prints none)."""

    def __init__(self, stream: TextIO, limit: int, progress: _ProgressLine) -> None:
        self.stream = stream
        self.limit = limit
        self.progress = progress
        self.printed = 0

    def print(self, problem: Malformed) -> None:
        if self.printed < self.limit:
            self.progress.clear()
            print(problem, file=self.stream)
            self.printed += 1
