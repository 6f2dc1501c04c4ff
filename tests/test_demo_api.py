"""The Python API: the same journeys into any SpanExporter, in simulated time; and the progress line."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from app.demo import DemoConfig, DemoError, FaultSpec, ServerUnreachable, generate, play, simulate
from app.demo.progress import Progress, ProgressLine, render_progress

START = datetime(2024, 5, 1, 8, tzinfo=UTC)


def test_simulate_sends_exactly_the_generated_spans_through_the_sdk() -> None:
    config = DemoConfig(start=START, duration=timedelta(minutes=10), rate=1.0, seed=4)
    memory = InMemorySpanExporter()
    made: list[SpanExporter] = []

    def factory() -> SpanExporter:
        made.append(memory)
        return memory

    result = simulate(config, factory)
    sent = {s.context.span_id: s for s in memory.get_finished_spans()}
    records = list(generate(config))
    assert len(sent) == len(records) == result.spans_sent == result.spans_generated
    for record in records:
        span = sent[record.span_id]
        assert span.context.trace_id == record.trace_id
        assert (span.parent.span_id if span.parent else None) == record.parent_span_id
        assert (span.name, span.start_time, span.end_time) == (record.name, record.start_ns, record.end_ns)
        assert span.resource.attributes["service.name"] == record.service
        assert dict(span.attributes or {}) == dict(record.attributes)
        assert (span.status.status_code is StatusCode.ERROR) == (record.error is not None)
    assert len(made) == len({r.service for r in records})  # one provider, one exporter per service


def test_simulate_reports_the_faults_it_injected_clipped_to_the_run() -> None:
    config = DemoConfig(
        start=START,
        duration=timedelta(minutes=10),
        seed=4,
        faults=(FaultSpec.parse("failure:online-order/payment@+8m"),),
    )
    result = simulate(config, InMemorySpanExporter)
    (truth,) = result.faults
    assert (truth.start, truth.end) == (START + timedelta(minutes=8), START + timedelta(minutes=10))
    assert truth.run == f"4-{START:%Y%m%dT%H%M%SZ}"


class RefusingExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        pass


def test_an_exporter_that_keeps_refusing_stops_the_run_with_server_unreachable() -> None:
    config = DemoConfig(start=START, duration=timedelta(hours=1), rate=2.0, seed=4)
    with pytest.raises(ServerUnreachable, match="span batches in a row were refused"):
        simulate(config, RefusingExporter)


def test_play_waits_for_the_clock_and_stops_at_the_end_of_the_duration() -> None:
    moments = iter([START + timedelta(seconds=s) for s in (0, 30, 60, 90, 120, 150)])
    sleeps: list[float] = []
    memory = InMemorySpanExporter()
    config = DemoConfig(start=START, duration=timedelta(minutes=2), rate=1.0, seed=4)
    result = play(config, lambda: memory, clock=lambda: next(moments), sleep=sleeps.append)
    assert len(sleeps) == 4  # 0 s, 30 s, 60 s, 90 s played; 120 s is the end
    assert result.end == START + timedelta(minutes=2)
    assert {s.context.span_id for s in memory.get_finished_spans()} == {r.span_id for r in generate(config)}


def test_a_config_says_what_is_wrong_with_it() -> None:
    with pytest.raises(
        DemoError, match="--scenario call-centre: not a demo scenario; choose from support-line"
    ):
        DemoConfig(start=START, scenarios=("call-centre",))
    with pytest.raises(DemoError, match="--rate must be a positive number"):
        DemoConfig(start=START, rate=0)
    with pytest.raises(DemoError, match="must be timezone-aware"):
        DemoConfig(start=datetime(2024, 5, 1, 8))


PROGRESS = Progress(
    mode="backfill",
    moment=START + timedelta(minutes=31, seconds=5),
    done=0.42,
    journeys_started=1203,
    journeys_finished=1011,
    spans_sent=8123,
    send_errors=0,
    active_faults=("failure:online-order/payment@+2m/5m=0.8",),
)


def test_the_progress_line_shows_journeys_spans_send_errors_and_active_faults() -> None:
    assert render_progress(PROGRESS) == (
        "backfill 42% 2024-05-01T08:31:05Z | journeys 1203 started, 1011 finished"
        " | spans 8123 sent, 0 send errors | faults: failure:online-order/payment@+2m/5m=0.8"
    )


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_progress_line_is_rewritten_in_place() -> None:
    terminal = Terminal()
    ticks = iter([0.0, 1.0])
    line = ProgressLine(terminal, monotonic=lambda: next(ticks))
    line.show(PROGRESS)
    line.show(PROGRESS)
    line.close()
    text = terminal.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1


def test_in_a_log_the_progress_is_a_plain_line_now_and_then() -> None:
    log = io.StringIO()
    ticks = iter([0.0, 1.0, 11.0])
    line = ProgressLine(log, monotonic=lambda: next(ticks))
    for _ in range(3):
        line.show(PROGRESS)
    assert "\r" not in log.getvalue() and log.getvalue().count("\n") == 2
