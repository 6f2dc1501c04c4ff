"""Reading CSV event logs: column detection, explicit mappings, timestamps, and malformed rows."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.eventlog import Event, LogMapping, LogUnreadable, Malformed, MappingError, read_log
from collectors.eventlog.csv_log import read_csv
from collectors.eventlog.mapping import resolve_columns
from collectors.eventlog.timestamps import parse_timestamp

FIXTURES = Path(__file__).parent / "fixtures" / "eventlogs"


def _read(text: str, mapping: LogMapping | None = None, source: str = "log.csv") -> list[Event | Malformed]:
    return list(read_csv(io.BytesIO(text.encode()), source, mapping or LogMapping()))


def test_common_column_names_are_detected_and_the_rest_become_attributes() -> None:
    items = list(read_log(FIXTURES / "tickets.good.csv"))
    assert all(isinstance(i, Event) for i in items)
    triage = items[1]
    assert (triage.case_id, triage.index, triage.activity, triage.resource) == ("T-1", 1, "Triage", "dana")
    assert triage.start == datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
    assert triage.timestamp == datetime(2024, 5, 1, 8, 45, tzinfo=UTC)
    assert triage.attributes == (("Priority", "high"),)
    assert [(e.channel, e.start) for e in items if e.activity == "Open ticket"] == [
        ("email", None),
        ("phone", None),
    ]


def test_case_positions_count_per_case_even_when_cases_interleave() -> None:
    items = list(read_log(FIXTURES / "tickets.good.csv"))
    assert [(e.case_id, e.index) for e in items] == [
        ("T-1", 0),
        ("T-1", 1),
        ("T-2", 0),
        ("T-1", 2),
        ("T-2", 1),
        ("T-1", 3),
    ]


def test_quoted_fields_keep_their_delimiters_and_empty_cells_are_left_out() -> None:
    items = list(read_log(FIXTURES / "tickets.good.csv"))
    assert items[-1].attributes == (("Priority", "high, escalated"),)
    assert items[2].attributes == ()


def test_naive_timestamps_are_utc_unless_a_timezone_is_given() -> None:
    text = "case,activity,timestamp\nA,Call,2024-05-01 09:00:00\n"
    (utc,) = _read(text)
    (berlin,) = _read(text, LogMapping(timezone=ZoneInfo("Europe/Berlin")))
    assert utc.timestamp == datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    assert berlin.timestamp == datetime(2024, 5, 1, 7, 0, tzinfo=UTC)


def test_explicit_mapping_with_strftime_format_and_detected_semicolon() -> None:
    mapping = LogMapping(case="call_ref", activity="what", timestamp="when", time_format="%d/%m/%Y %H:%M")
    items = list(read_log(FIXTURES / "calls.good.csv", mapping))
    assert [(e.case_id, e.activity, e.timestamp, e.resource, e.channel) for e in items] == [
        ("C-9", "Inbound call", datetime(2024, 4, 3, 14, 5, tzinfo=UTC), "fay", "phone"),
        ("C-9", "Callback", datetime(2024, 4, 4, 9, 30, tzinfo=UTC), "gus", "phone"),
        ("C-10", "Inbound call", datetime(2024, 4, 4, 10, 0, tzinfo=UTC), "fay", "chat"),
    ]
    assert items[0].attributes == (("duration_s", "310"),)


def test_mapping_names_match_headers_case_insensitively() -> None:
    (event,) = _read(
        "Ticket Ref,Step Name,At\nX,Reply,2024-01-01T00:00:00Z\n",
        LogMapping(case="ticket ref", activity="step name", timestamp="at"),
    )
    assert (event.case_id, event.activity) == ("X", "Reply")


def test_lifecycle_column_is_read_as_xes_transitions() -> None:
    items = list(read_log(FIXTURES / "lifecycle.good.csv"))
    assert [(e.activity, e.lifecycle, e.resource) for e in items] == [
        ("Home visit", "start", "hal"),
        ("Home visit", "complete", "hal"),
        ("Report", "complete", "hal"),
    ]


@pytest.mark.parametrize(
    ("header", "roles"),
    [
        (
            "case:concept:name,concept:name,time:timestamp,org:resource",
            ("case:concept:name", "concept:name", "time:timestamp", "org:resource"),
        ),
        (
            "Case ID,Activity,Complete Timestamp,Resource",
            ("Case ID", "Activity", "Complete Timestamp", "Resource"),
        ),
        ("case_id,activity_name,end_time,agent", ("case_id", "activity_name", "end_time", "agent")),
        ("TicketId;Task;Timestamp;Assignee", ("TicketId", "Task", "Timestamp", "Assignee")),
    ],
)
def test_common_spellings_of_each_role_are_detected(header: str, roles: tuple[str, ...]) -> None:
    columns = resolve_columns(header.replace(";", ",").split(","), LogMapping(), "log.csv")
    assert (columns.case.name, columns.activity.name, columns.timestamp.name, columns.resource.name) == roles


def test_start_and_end_columns_are_told_apart() -> None:
    columns = resolve_columns(["case", "activity", "start_time", "end_time"], LogMapping(), "log.csv")
    assert (columns.start_timestamp.name, columns.timestamp.name) == ("start_time", "end_time")


def test_missing_required_column_names_the_flag_to_use() -> None:
    with pytest.raises(MappingError) as raised:
        list(read_log(FIXTURES / "calls.good.csv"))
    assert str(raised.value) == (
        "calls.good.csv: no case id column found among 'call_ref', 'what', 'when', 'agent', 'medium', "
        "'duration_s'; name it with --case COLUMN"
    )


def test_a_named_column_that_does_not_exist_is_refused() -> None:
    with pytest.raises(
        MappingError,
        match=r"log.csv: --timestamp 'closed_at' is not a column; the columns are "
        r"'case', 'activity', 'timestamp'",
    ):
        _read("case,activity,timestamp\n", LogMapping(timestamp="closed_at"))


def test_malformed_rows_are_reported_with_line_field_and_value_and_good_rows_are_kept() -> None:
    items = list(read_log(FIXTURES / "tickets.bad-rows.csv"))
    assert [str(i) for i in items if isinstance(i, Malformed)] == [
        "tickets.bad-rows.csv:3 timestamp '2021-13-01' is not a date (expected ISO 8601 or --time-format)",
        "tickets.bad-rows.csv:4 case id is empty (column 'case_id')",
        "tickets.bad-rows.csv:5 row has 3 fields, the header has 4",
        "tickets.bad-rows.csv:6 activity is empty (column 'activity')",
        "tickets.bad-rows.csv:7 timestamp is empty (column 'timestamp')",
    ]
    assert [(e.line, e.case_id, e.index) for e in items if isinstance(e, Event)] == [
        (2, "T-1", 0),
        (8, "T-1", 2),
    ]


def test_timestamp_not_matching_the_given_format_says_so() -> None:
    (problem,) = _read("case,activity,timestamp\nA,Call,2024-05-01\n", LogMapping(time_format="%d/%m/%Y"))
    assert str(problem) == "log.csv:2 timestamp '2024-05-01' does not match --time-format '%d/%m/%Y'"


def test_start_after_end_and_unknown_lifecycle_are_malformed() -> None:
    text = (
        "case,activity,start,timestamp,lifecycle\n"
        "A,Call,2024-05-01T10:00:00Z,2024-05-01T09:00:00Z,\n"
        "A,Call,,2024-05-01T10:00:00Z,done\n"
    )
    assert [str(i) for i in _read(text)] == [
        "log.csv:2 start timestamp '2024-05-01T10:00:00Z' is after timestamp '2024-05-01T09:00:00Z'",
        "log.csv:3 lifecycle 'done' is not a lifecycle transition (expected start or complete)",
    ]


def test_line_numbers_count_physical_lines_of_multi_line_quoted_fields() -> None:
    text = 'case,activity,timestamp,note\nA,Call,2024-05-01T10:00:00Z,"two\nlines"\nA,Call,bad,\n'
    items = _read(text)
    assert isinstance(items[0], Event) and items[0].attributes == (("note", "two\nlines"),)
    assert str(items[1]) == "log.csv:4 timestamp 'bad' is not a date (expected ISO 8601 or --time-format)"


def test_blank_lines_are_not_events_and_do_not_shift_line_numbers() -> None:
    items = _read("case,activity,timestamp\n\nA,Call,nope\n")
    assert [str(i) for i in items] == [
        "log.csv:3 timestamp 'nope' is not a date (expected ISO 8601 or --time-format)"
    ]


def test_tab_separated_with_byte_order_mark_is_read() -> None:
    (event,) = list(
        read_csv(
            io.BytesIO("\ufeffcase\tactivity\ttimestamp\nA\tCall\t2024-01-01\n".encode()),
            "log.tsv",
            LogMapping(),
        )
    )
    assert (event.case_id, event.timestamp) == ("A", datetime(2024, 1, 1, tzinfo=UTC))


def test_empty_file_is_refused() -> None:
    with pytest.raises(LogUnreadable, match="log.csv: the first line is empty"):
        _read("")


def test_text_in_another_encoding_is_refused_with_the_flag_to_use() -> None:
    with pytest.raises(LogUnreadable, match=r"log.csv: not utf-8-sig text .*; use --encoding"):
        list(read_csv(io.BytesIO("case,activité,timestamp\n".encode("latin-1")), "log.csv", LogMapping()))
    (event,) = list(
        read_csv(
            io.BytesIO("case,activity,timestamp,note\nA,B,2024-01-01,café\n".encode("latin-1")),
            "log.csv",
            LogMapping(encoding="latin-1"),
        )
    )
    assert event.attributes == (("note", "café"),)


# --- properties -------------------------------------------------------------------------------------------

aware_moments = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]),
)
cell_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(
    lambda s: s.strip() == s and s != ""
)
any_note = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=30
).filter(lambda s: s.strip() == s and s != "")


@given(aware_moments)
def test_any_iso_8601_timestamp_reads_back_as_the_same_instant(moment: datetime) -> None:
    assert parse_timestamp(moment.isoformat()) == moment
    assert parse_timestamp(moment.isoformat(sep=" ", timespec="seconds")) == moment.replace(microsecond=0)


@given(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)).map(
        lambda d: d.replace(microsecond=0)
    ),
    st.sampled_from(["%d/%m/%Y %H:%M:%S", "%m-%d-%Y %I:%M:%S %p", "%Y%m%d%H%M%S", "%d.%m.%Y %H:%M:%S"]),
)
def test_any_timestamp_written_with_a_format_reads_back_with_that_format(moment: datetime, fmt: str) -> None:
    assert parse_timestamp(moment.strftime(fmt), fmt) == moment.replace(tzinfo=UTC)


@given(st.text(max_size=40))
def test_parsing_arbitrary_text_either_gives_an_aware_datetime_or_none(text: str) -> None:
    parsed = parse_timestamp(text)
    assert parsed is None or parsed.tzinfo is not None


@given(
    st.lists(st.tuples(cell_text, cell_text, aware_moments, any_note), min_size=1, max_size=20),
    st.sampled_from([",", ";", "\t", "|"]),
)
def test_any_rows_written_by_the_csv_module_read_back_as_the_same_events(rows, delimiter: str) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(["case_id", "activity", "timestamp", "note"])
    for case, activity, moment, note in rows:
        writer.writerow([case, activity, moment.isoformat(), note])
    items = _read(buffer.getvalue())
    assert [(e.case_id, e.activity, e.timestamp, e.attributes) for e in items] == [
        (case, activity, moment, (("note", note),)) for case, activity, moment, note in rows
    ]
