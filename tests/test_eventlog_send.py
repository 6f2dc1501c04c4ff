"""Importing a log into an OTLP/HTTP endpoint: a real HTTP server on 127.0.0.1 decodes what arrives."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from eventlog_sink import RecordedSleep, Sink, running_sink
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from collectors.eventlog import (
    ImportOptions,
    LogMapping,
    MalformedLog,
    OtlpTraceSender,
    ServerRejected,
    ServerUnreachable,
    import_log,
)

FIXTURES = Path(__file__).parent / "fixtures" / "eventlogs"


@pytest.fixture
def sink() -> Iterator[Sink]:
    with running_sink() as running:
        yield running


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_every_span_arrives_gzip_protobuf_on_v1_traces_in_batches(sink: Sink) -> None:
    report = import_log(FIXTURES / "tickets.good.csv", LogMapping(), sink.url, ImportOptions(batch_size=4))
    assert [r.path for r in sink.received] == ["/v1/traces", "/v1/traces"]
    assert [len(r.spans) for r in sink.received] == [4, 2]
    first = sink.received[0]
    assert first.headers["Content-Type"] == "application/x-protobuf"
    assert first.headers["Content-Encoding"] == "gzip"
    service = first.request.resource_spans[0].resource.attributes[0]
    assert (service.key, service.value.string_value) == ("service.name", "tickets.good")
    assert (report.events_read, report.cases, report.spans_sent, report.requests_sent) == (6, 2, 6, 2)


def test_span_names_and_journeys_match_the_log(sink: Sink) -> None:
    import_log(FIXTURES / "tickets.good.csv", url=sink.url)
    journeys = {
        s.name: {kv.key: kv.value.string_value for kv in s.attributes}["journey.id"] for s in sink.spans
    }
    assert journeys == {"Open ticket": "T-2", "Triage": "T-2", "Call customer": "T-1", "Close ticket": "T-1"}
    assert len(sink.spans) == 6


def test_importing_twice_sends_the_same_trace_and_span_ids(sink: Sink) -> None:
    import_log(FIXTURES / "tickets.good.csv", url=sink.url)
    first = [(s.trace_id, s.span_id) for s in sink.spans]
    sink.received.clear()
    import_log(FIXTURES / "tickets.good.csv", url=sink.url)
    assert [(s.trace_id, s.span_id) for s in sink.spans] == first
    assert len(set(first)) == 6


def test_busy_server_is_retried_after_its_retry_after_and_the_batch_is_sent_once_accepted(sink: Sink) -> None:
    sink.script = [(503, {"Retry-After": "2"}, b"")]
    sleep = RecordedSleep()
    report = import_log(
        FIXTURES / "tickets.good.csv", url=sink.url, sender=OtlpTraceSender(sink.url, sleep=sleep)
    )
    assert sleep.waits == [2.0]
    assert len(sink.received) == 2
    assert sink.received[0].request == sink.received[1].request
    assert (report.spans_sent, report.requests_sent) == (6, 1)


def test_429_without_retry_after_backs_off_exponentially(sink: Sink) -> None:
    sink.script = [(429, {}, b""), (429, {}, b""), (503, {}, b"")]
    sleep = RecordedSleep()
    OtlpTraceSender(sink.url, sleep=sleep, backoff_s=0.5).send(ExportTraceServiceRequest())
    assert sleep.waits == [0.5, 1.0, 2.0]
    assert len(sink.received) == 4


def test_a_server_that_stays_busy_is_given_up_as_unreachable_quoting_its_message(sink: Sink) -> None:
    busy = status_pb2.Status(code=14, message="write queue full").SerializeToString()
    sink.script = [(503, {"Retry-After": "0"}, busy)] * 3
    sender = OtlpTraceSender(sink.url, sleep=RecordedSleep(), max_attempts=3)
    with pytest.raises(ServerUnreachable) as raised:
        sender.send(ExportTraceServiceRequest())
    assert str(raised.value) == (
        f"{sink.url}/v1/traces still answers 503 after 3 tries (write queue full); try again later"
    )


def test_partial_success_is_reported_as_rejected_spans(sink: Sink) -> None:
    answer = ExportTraceServiceResponse(
        partial_success=ExportTracePartialSuccess(
            rejected_spans=2, error_message="2 spans have an empty name"
        )
    ).SerializeToString()
    sink.script = [(200, {}, answer)]
    report = import_log(FIXTURES / "tickets.good.csv", url=sink.url)
    assert (report.spans_sent, report.spans_rejected) == (4, 2)
    assert report.rejections == ("2 spans have an empty name",)


def test_a_refusal_that_retrying_cannot_fix_raises_server_rejected(sink: Sink) -> None:
    sink.script = [(400, {"Content-Type": "text/plain"}, b"bad protobuf")]
    with pytest.raises(ServerRejected, match=r"refused the request: HTTP 400 bad protobuf") as raised:
        import_log(FIXTURES / "tickets.good.csv", url=sink.url)
    assert raised.value.status == 400


def test_unreachable_server_raises_a_clear_error_after_a_few_quick_tries() -> None:
    url = closed_port_url()
    sleep = RecordedSleep()
    with pytest.raises(ServerUnreachable) as raised:
        import_log(FIXTURES / "tickets.good.csv", url=url, sender=OtlpTraceSender(url, sleep=sleep))
    assert str(raised.value) == (
        f"cannot reach {url}/v1/traces: connection refused; is `touchpoint serve` running there? (--url)"
    )
    assert sleep.waits == [0.5, 1.0]


def test_strict_import_of_a_log_with_malformed_rows_sends_nothing(sink: Sink) -> None:
    with pytest.raises(MalformedLog) as raised:
        import_log(FIXTURES / "tickets.bad-rows.csv", url=sink.url, options=ImportOptions(strict=True))
    assert sink.received == []
    assert raised.value.count == 5
    assert str(raised.value.malformed[0]) == (
        "tickets.bad-rows.csv:3 timestamp '2021-13-01' is not a date (expected ISO 8601 or --time-format)"
    )


def test_strict_import_of_a_clean_log_sends_it_all(sink: Sink) -> None:
    report = import_log(FIXTURES / "tickets.good.csv", url=sink.url, options=ImportOptions(strict=True))
    assert (report.spans_sent, report.malformed_count, len(sink.spans)) == (6, 0, 6)


def test_lenient_import_skips_counts_and_reports_each_malformed_row(sink: Sink) -> None:
    heard: list[str] = []
    report = import_log(
        FIXTURES / "tickets.bad-rows.csv", url=sink.url, on_malformed=lambda m: heard.append(str(m))
    )
    assert (report.events_read, report.spans_sent, report.malformed_count, report.events_skipped) == (
        2,
        2,
        5,
        5,
    )
    assert heard == [str(m) for m in report.malformed]
    assert heard[1] == "tickets.bad-rows.csv:4 case id is empty (column 'case_id')"


def test_dry_run_builds_every_span_and_sends_none_even_with_a_sender_given(sink: Sink) -> None:
    report = import_log(
        FIXTURES / "tickets.good.csv",
        url=sink.url,
        options=ImportOptions(dry_run=True),
        sender=OtlpTraceSender(sink.url),
    )
    assert (report.spans_built, report.spans_sent, report.requests_sent) == (6, 0, 0)
    assert sink.received == []


def test_progress_is_reported_after_each_batch(sink: Sink) -> None:
    seen = []
    import_log(
        FIXTURES / "tickets.good.csv",
        url=sink.url,
        options=ImportOptions(batch_size=2),
        on_progress=seen.append,
    )
    assert [p.spans_sent for p in seen] == [2, 4, 6, 6]
    assert seen[-1].events_read == 6 and seen[-1].cases == 2 and seen[-1].phase == "importing"


def test_service_and_source_options_name_the_spans_and_seed_the_ids(sink: Sink) -> None:
    import_log(FIXTURES / "tickets.good.csv", url=sink.url, options=ImportOptions(service="crm"))
    by_service = [(s.trace_id, s.span_id) for s in sink.spans]
    sink.received.clear()
    import_log(
        FIXTURES / "tickets.good.csv", url=sink.url, options=ImportOptions(service="crm", source="tickets")
    )
    assert sink.received[0].request.resource_spans[0].resource.attributes[0].value.string_value == "crm"
    assert [(s.trace_id, s.span_id) for s in sink.spans] != by_service


def test_url_may_already_name_the_traces_path(sink: Sink) -> None:
    import_log(FIXTURES / "tickets.good.csv", url=sink.url + "/v1/traces/")
    assert [r.path for r in sink.received] == ["/v1/traces"]
