"""Reading XES event logs: the real help-desk log, lifecycle pairs, typed attributes, and broken files."""

from __future__ import annotations

import gzip
import io
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from collectors.eventlog import Event, LogMapping, LogUnreadable, Malformed, read_log
from collectors.eventlog.xes import read_xes

FIXTURES = Path(__file__).parent / "fixtures" / "eventlogs"
HELPDESK = Path(__file__).resolve().parents[2] / "shared" / "data" / "helpdesk.xes.gz"


def _events(items: list[Event | Malformed]) -> list[Event]:
    return [i for i in items if isinstance(i, Event)]


def _problems(items: list[Event | Malformed]) -> list[str]:
    return [str(i) for i in items if isinstance(i, Malformed)]


@pytest.fixture(scope="module")
def helpdesk() -> list[Event | Malformed]:
    if not HELPDESK.exists():
        pytest.skip(f"{HELPDESK} is not here")
    return list(read_log(HELPDESK))


def test_helpdesk_log_has_4580_cases_and_21348_events_none_malformed(helpdesk) -> None:
    events = _events(helpdesk)
    assert _problems(helpdesk) == []
    assert len(events) == 21348
    assert len({e.case_id for e in events}) == 4580


def test_helpdesk_activities_are_counted_as_in_the_log(helpdesk) -> None:
    counts = Counter(e.activity for e in _events(helpdesk))
    assert counts == {
        "Take in charge ticket": 5060,
        "Resolve ticket": 4983,
        "Assign seriousness": 4938,
        "Closed": 4574,
        "Wait": 1463,
        "Require upgrade": 119,
        "Insert ticket": 118,
        "Create SW anomaly": 67,
        "Resolve SW anomaly": 13,
        "Schedule intervention": 5,
        "VERIFIED": 3,
        "INVALID": 2,
        "RESOLVED": 2,
        "DUPLICATE": 1,
    }


def test_helpdesk_first_case_reads_in_order_with_times_resources_and_attributes(helpdesk) -> None:
    first = [e for e in _events(helpdesk) if e.case_id == "Case 1"]
    assert [(e.index, e.activity, e.timestamp, e.resource) for e in first] == [
        (0, "Assign seriousness", datetime(2012, 10, 9, 14, 50, 17, tzinfo=UTC), "Value 1"),
        (1, "Take in charge ticket", datetime(2012, 10, 9, 14, 51, 1, tzinfo=UTC), "Value 1"),
        (2, "Take in charge ticket", datetime(2012, 10, 12, 15, 2, 56, tzinfo=UTC), "Value 2"),
        (3, "Resolve ticket", datetime(2012, 10, 25, 11, 54, 26, tzinfo=UTC), "Value 1"),
        (4, "Closed", datetime(2012, 11, 9, 12, 54, 39, tzinfo=UTC), "Value 3"),
    ]
    assert first[0].line == 9
    assert first[0].lifecycle is None
    assert dict(first[2].attributes)["service_level"] == "Value 2"
    assert "concept:name" not in dict(first[0].attributes)
    assert "time:timestamp" not in dict(first[0].attributes)


def test_start_and_complete_events_keep_their_transition_case_and_position() -> None:
    events = _events(list(read_log(FIXTURES / "lifecycle.good.xes")))
    assert [(e.case_id, e.index, e.activity, e.lifecycle) for e in events] == [
        ("R-100", 0, "Book visit", "start"),
        ("R-100", 1, "Book visit", "complete"),
        ("R-100", 2, "Visit", "schedule"),
        ("R-100", 3, "Visit", "start"),
        ("R-100", 4, "Visit", "complete"),
        ("R-101", 0, "Visit", "start"),
        ("R-101", 1, "Visit", "ate_abort"),
        ("R-101", 2, "Send invoice", "start"),
    ]
    assert events[0].timestamp == datetime(2024, 3, 1, 9, 0, tzinfo=timezone(timedelta(hours=1)))


def test_typed_nested_and_list_attributes_keep_their_types_and_trace_attributes_get_case_prefix() -> None:
    book_visit_done = _events(list(read_log(FIXTURES / "lifecycle.good.xes")))[1]
    assert book_visit_done.attributes == (
        ("attempts", 2),
        ("cost", 12.5),
        ("urgent", True),
        ("address", "Main St 1"),
        ("address.city", "Ghent"),
        ("tags", ("boiler", "warranty")),
        ("case:customer.segment", "gold"),
    )


def test_globals_and_log_attributes_are_not_read_as_events() -> None:
    activities = {e.activity for e in _events(list(read_log(FIXTURES / "lifecycle.good.xes")))}
    assert "__INVALID__" not in activities and "repairs" not in activities


def test_gzip_compressed_xes_reads_the_same_as_plain(tmp_path: Path) -> None:
    plain = FIXTURES / "lifecycle.good.xes"
    packed = tmp_path / "lifecycle.xes.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert [(e.case_id, e.index) for e in _events(list(read_log(packed)))] == [
        (e.case_id, e.index) for e in _events(list(read_log(plain)))
    ]


def test_truncated_file_yields_the_complete_traces_then_one_problem_counting_the_stranded_events() -> None:
    items = list(read_log(FIXTURES / "truncated.bad-truncated.xes"))
    assert _events(items) == []
    assert _problems(items) == [
        "truncated.bad-truncated.xes:47 file ends before </log> (truncated?); "
        "4 event(s) of the unfinished trace starting at line 9 were not imported"
    ]
    assert items[-1].events_skipped == 4


def test_truncated_gzip_stream_yields_what_was_decompressed_then_one_problem(tmp_path: Path) -> None:
    packed = gzip.compress((FIXTURES / "lifecycle.good.xes").read_bytes())
    cut = tmp_path / "cut.xes.gz"
    cut.write_bytes(packed[: len(packed) - 30])
    items = list(read_log(cut))
    assert {e.case_id for e in _events(items)} == {"R-100"}
    (problem,) = _problems(items)
    assert problem.startswith("cut.xes.gz:")
    assert (
        "compressed data ends early or is corrupt (Compressed file ended before the end-of-stream marker"
        in problem
    )
    assert "reading stopped here" in problem


def test_xml_that_is_not_well_formed_stops_reading_at_its_line() -> None:
    broken = (
        (FIXTURES / "no-case-id.bad-case-id.xes")
        .read_bytes()
        .replace(b"</event>\n  </trace>\n  <trace>", b"</evnt>\n  </trace>\n  <trace>")
    )
    items = list(read_xes(io.BytesIO(broken), "broken.xes", LogMapping()))
    assert _problems(items) == [
        "broken.xes:12 XML is not well-formed (mismatched tag, column 7); reading stopped here; "
        "2 event(s) of the unfinished trace starting at line 3 were not imported"
    ]


def test_trace_without_case_id_is_one_problem_that_counts_its_events() -> None:
    items = list(read_log(FIXTURES / "no-case-id.bad-case-id.xes"))
    assert _problems(items) == [
        "no-case-id.bad-case-id.xes:3 trace has no concept:name (case id); its 2 event(s) were skipped"
    ]
    assert items[0].events_skipped == 2
    assert [(e.case_id, e.activity) for e in _events(items)] == [("T-2", "Open ticket")]


def test_bad_event_fields_are_reported_at_the_attribute_line_and_the_rest_of_the_trace_is_kept() -> None:
    items = list(read_log(FIXTURES / "bad-date.bad-timestamp.xes"))
    assert _problems(items) == [
        "bad-date.bad-timestamp.xes:11 time:timestamp '2024-13-01T08:00:00Z' is not a date "
        "(expected ISO 8601)",
        "bad-date.bad-timestamp.xes:13 event has no concept:name (activity)",
        "bad-date.bad-timestamp.xes:18 lifecycle:transition 'finished' is not a lifecycle transition "
        "(expected start or complete)",
    ]
    assert [(e.index, e.activity) for e in _events(items)] == [(0, "Open ticket"), (4, "Close ticket")]


def test_a_file_that_is_not_xes_is_refused_before_anything_is_read() -> None:
    with pytest.raises(
        LogUnreadable, match=r"not-a-log.bad-format.xes:1 root element is <html>, expected <log>"
    ):
        list(read_log(FIXTURES / "not-a-log.bad-format.xes"))


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.xes"
    empty.write_bytes(b"")
    with pytest.raises(LogUnreadable, match=r"empty.xes:1 is not XES: no element found"):
        list(read_log(empty))


def test_a_missing_file_is_refused_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(LogUnreadable, match="no such file"):
        list(read_log(tmp_path / "nowhere.xes"))


def test_mapping_can_name_other_xes_keys_for_activity_resource_and_channel() -> None:
    log = b"""<log><trace><string key="concept:name" value="K-1"/>
      <event><string key="task" value="Ring"/><date key="time:timestamp" value="2024-01-01T08:00:00Z"/>
        <string key="org:group" value="desk"/><string key="via" value="phone"/></event>
    </trace></log>"""
    mapping = LogMapping(activity="task", resource="org:group", channel="via")
    (event,) = read_xes(io.BytesIO(log), "k.xes", mapping)
    assert (event.activity, event.resource, event.channel, event.attributes) == ("Ring", "desk", "phone", ())


def test_large_logs_stream_in_chunks_without_reading_the_whole_file_first() -> None:
    trace = (
        b'<trace><string key="concept:name" value="C"/>'
        + b"".join(
            b'<event><string key="concept:name" value="A"/>'
            b'<date key="time:timestamp" value="2024-01-01T00:00:00Z"/></event>'
            for _ in range(3000)
        )
        + b"</trace>"
    )
    document = b"<log>" + trace * 20 + b"</log>"
    stream = io.BytesIO(document)
    items = read_xes(stream, "big.xes", LogMapping())
    next(items)
    assert stream.tell() < len(document) / 4  # the first event arrives long before the file's end
    assert sum(1 for _ in items) == 3000 * 20 - 1
