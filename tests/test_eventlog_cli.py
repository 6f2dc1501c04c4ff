"""`touchpoint import FILE`: flags, output, and exit codes (0 ok, 1 bad input, 2 server unreachable)."""

from __future__ import annotations

import argparse
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from eventlog_sink import Sink, running_sink
from test_eventlog_send import closed_port_url

from app.commands import import_log as command
from collectors.eventlog import ImportProgress

FIXTURES = Path(__file__).parent / "fixtures" / "eventlogs"


@pytest.fixture
def sink() -> Iterator[Sink]:
    with running_sink() as running:
        yield running


def touchpoint_import(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="touchpoint")
    command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["import", *argv])
    return int(args.func(args))


def test_import_prints_a_summary_and_exits_0(sink: Sink, tmp_path: Path, capsys) -> None:
    log = tmp_path / "tickets.csv"
    shutil.copy(FIXTURES / "tickets.good.csv", log)
    assert touchpoint_import(str(log), "--url", sink.url, "--quiet") == 0
    out = capsys.readouterr().out
    assert out.startswith(
        f"tickets.csv: 6 events in 2 cases -> 6 spans of service 'tickets', sent to {sink.url}/v1/traces in "
    )
    assert "  spans accepted: 6 in 1 requests" in out


def test_mapping_flags_reach_the_reader(sink: Sink, capsys) -> None:
    code = touchpoint_import(
        str(FIXTURES / "calls.good.csv"),
        "--url",
        sink.url,
        "--case",
        "call_ref",
        "--activity",
        "what",
        "--timestamp",
        "when",
        "--time-format",
        "%d/%m/%Y %H:%M",
        "--service",
        "callcenter",
        "--bind-steps",
        "--actor-type",
        "process",
    )
    assert code == 0
    attributes = [{kv.key: kv.value.string_value for kv in s.attributes} for s in sink.spans]
    assert [
        (a["journey.id"], a["blueprint.step"], a["actor.type"], a["touchpoint.channel"]) for a in attributes
    ] == [
        ("C-9", "inbound-call", "process", "phone"),
        ("C-9", "callback", "process", "phone"),
        ("C-10", "inbound-call", "process", "chat"),
    ]


def test_malformed_rows_are_printed_to_stderr_counted_and_the_rest_imported(sink: Sink, capsys) -> None:
    assert (
        touchpoint_import(str(FIXTURES / "tickets.bad-rows.csv"), "--url", sink.url, "--show-malformed", "2")
        == 0
    )
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "tickets.bad-rows.csv:3 timestamp '2021-13-01' is not a date (expected ISO 8601 or --time-format)",
        "tickets.bad-rows.csv:4 case id is empty (column 'case_id')",
    ]
    assert "  malformed, skipped: 5 (5 events) (first 2 shown above)" in captured.out
    assert len(sink.spans) == 2


def test_strict_refuses_a_file_with_malformed_rows_with_exit_1_and_sends_nothing(sink: Sink, capsys) -> None:
    assert touchpoint_import(str(FIXTURES / "tickets.bad-rows.csv"), "--url", sink.url, "--strict") == 1
    err = capsys.readouterr().err
    assert err.splitlines()[0] == (
        "tickets.bad-rows.csv:3 timestamp '2021-13-01' is not a date (expected ISO 8601 or --time-format)"
    )
    assert err.splitlines()[-1] == (
        "touchpoint import: tickets.bad-rows.csv: 5 malformed row(s) or event(s); --strict refuses the whole "
        "file; nothing was sent"
    )
    assert sink.received == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing.csv"], "missing.csv: no such file"),
        ([str(FIXTURES / "calls.good.csv")], "calls.good.csv: no case id column found among"),
        ([str(FIXTURES / "not-a-log.bad-format.xes")], "root element is <html>, expected <log> (not XES)"),
        (
            [str(FIXTURES / "tickets.good.csv"), "--timezone", "Mars/Olympus"],
            "--timezone 'Mars/Olympus' is not",
        ),
        ([str(FIXTURES / "tickets.good.csv"), "--delimiter", ";;"], "--delimiter ';;' must be one character"),
    ],
)
def test_bad_input_exits_1_with_a_message_and_no_traceback(argv: list[str], message: str, capsys) -> None:
    assert touchpoint_import(*argv, "--url", closed_port_url()) == 1
    err = capsys.readouterr().err
    assert err.startswith("touchpoint import: ") and message in err
    assert "Traceback" not in err


def test_unreachable_server_exits_2_with_a_message_and_no_traceback(capsys) -> None:
    url = closed_port_url()
    assert touchpoint_import(str(FIXTURES / "tickets.good.csv"), "--url", url) == 2
    err = capsys.readouterr().err
    assert err == (
        f"touchpoint import: cannot reach {url}/v1/traces: connection refused; "
        "is `touchpoint serve` running there? (--url)\n"
    )


def test_dry_run_needs_no_server(capsys) -> None:
    assert (
        touchpoint_import(str(FIXTURES / "lifecycle.good.xes"), "--dry-run", "--url", closed_port_url()) == 0
    )
    out = capsys.readouterr().out
    assert "8 events in 2 cases -> 4 spans of service 'lifecycle.good', nothing sent (dry run)" in out
    assert "  started but never completed: 1 (sent as zero-length spans)" in out
    assert "  lifecycle events without a step of their own, not sent: schedule 1" in out


def test_progress_line_rewrites_itself_in_place_and_clears() -> None:
    stream = io.StringIO()
    line = command._ProgressLine(stream, enabled=True)
    line.update(ImportProgress("importing", 12000, 11000, 2500, 3))
    line.clear()
    text = "importing: 12,000 events read, 11,000 spans sent, 2,500 cases, 3 malformed"
    assert stream.getvalue() == "\r" + text + "\r" + " " * len(text) + "\r"
