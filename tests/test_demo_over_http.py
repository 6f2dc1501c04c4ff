"""`touchpoint demo` against a real OTLP/HTTP endpoint on 127.0.0.1: what a user of the demo would notice.

The endpoint decodes each request with opentelemetry-proto's ExportTraceServiceRequest and keeps
the spans; the demo runs through its CLI entry point (`register` → `func`), or as a subprocess.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status
from test_demo_maps import bind

from app.commands import demo as demo_command

ROOT = Path(__file__).resolve().parent.parent
CONVENTIONS = {
    "blueprint.step",
    "blueprint.lane",
    "touchpoint.id",
    "touchpoint.channel",
    "journey.id",
    "actor.type",
    "actor.id",
}
TOUCHPOINT = {"touchpoint.id", "touchpoint.channel"}


@dataclass(frozen=True)
class ArrivedSpan:
    """One span as the endpoint decoded it."""

    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    failed: bool
    received_ns: int

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9


@dataclass
class OtlpEndpoint:
    """Spans received so far; `answers` scripts the HTTP status of the next requests (then 200)."""

    url: str = ""
    spans: list[ArrivedSpan] = field(default_factory=list)
    requests: int = 0
    answers: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _value(value: AnyValue) -> Any:
    return getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None


def decode(body: bytes, received_ns: int) -> list[ArrivedSpan]:
    request = ExportTraceServiceRequest.FromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ArrivedSpan(
                        service=resource["service.name"],
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        attributes={a.key: _value(a.value) for a in span.attributes},
                        failed=span.status.code == Status.STATUS_CODE_ERROR,
                        received_ns=received_ns,
                    )
                )
    return spans


@contextmanager
def otlp_endpoint() -> Iterator[OtlpEndpoint]:
    """An OTLP/HTTP protobuf endpoint on a free port of 127.0.0.1 until the block ends."""
    state = OtlpEndpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            spans = decode(body, time.time_ns())
            with state.lock:
                state.requests += 1
                status = state.answers.pop(0) if state.answers else 200
                if status == 200:
                    state.spans.extend(spans)
            self.send_response(status)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def touchpoint_demo(command_line: str, *more: str) -> int:
    """Run `touchpoint demo COMMAND_LINE MORE…` here, as app/cli.py would; returns the exit status."""
    parser = argparse.ArgumentParser(prog="touchpoint")
    demo_command.register(parser.add_subparsers())
    args = parser.parse_args(["demo", *shlex.split(command_line), *more])
    return int(args.func(args))


def iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- one plain backfill, shared -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backfill(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OtlpEndpoint, datetime, datetime]]:
    """Ten minutes of traffic backfilled with seed 3: (endpoint, time before, time after)."""
    truth = tmp_path_factory.mktemp("plain") / "truth.jsonl"
    with otlp_endpoint() as endpoint:
        before = datetime.now(UTC)
        status = touchpoint_demo(
            f"--url {endpoint.url} --backfill 10m --rate 2 --seed 3 --quiet --truth {truth}"
        )
        after = datetime.now(UTC)
        assert status == 0
        yield endpoint, before, after


def test_spans_arrive_over_otlp_http_from_each_service_of_the_journeys(backfill) -> None:
    endpoint, _, _ = backfill
    services = {s.service for s in endpoint.spans}
    assert {
        "telephony",
        "agent-desktop",
        "crm",
        "web-shop",
        "checkout",
        "payment-gateway",
        "mobile-bff",
        "store-ops",
        "pos",
        "notify",
    } <= services
    assert len(endpoint.spans) > 2000


def test_some_spans_carry_every_attribute_convention_and_all_journey_spans_carry_the_journey(
    backfill,
) -> None:
    endpoint, _, _ = backfill
    tagged = [s for s in endpoint.spans if "blueprint.step" in s.attributes]
    at_a_touchpoint = [s for s in tagged if s.attributes["blueprint.lane"] in ("customer", "frontstage")]
    assert at_a_touchpoint and all(CONVENTIONS <= set(s.attributes) for s in at_a_touchpoint)
    behind_the_line = [s for s in tagged if s.attributes["blueprint.lane"] == "backstage"]
    assert behind_the_line and all(CONVENTIONS - TOUCHPOINT <= set(s.attributes) for s in behind_the_line)
    journey_spans = [s for s in endpoint.spans if s.name != "GET /healthz"]
    assert all(s.attributes.get("journey.id") for s in journey_spans)
    plain_http = {s.name for s in journey_spans if "blueprint.step" not in s.attributes}
    assert {"GET /search", "POST /checkout"} <= plain_http


def test_every_span_that_arrives_binds_to_one_step_of_the_demo_maps_except_health_checks(backfill) -> None:
    endpoint, _, _ = backfill
    unbound = defaultdict(int)
    for span in endpoint.spans:
        steps = bind(span.service, span.name, span.attributes)
        if span.name == "GET /healthz":
            assert steps == []
        elif len(steps) != 1:
            unbound[(span.service, span.name, tuple(steps))] += 1
    assert not unbound


def test_a_backfill_stamps_spans_in_the_past_window_ending_now(backfill) -> None:
    endpoint, before, after = backfill
    window_start = before - timedelta(minutes=10)
    assert min(s.start_ns for s in endpoint.spans) >= window_start.timestamp() * 1e9
    assert max(s.end_ns for s in endpoint.spans) <= after.timestamp() * 1e9
    assert min(s.start_ns for s in endpoint.spans) < (window_start + timedelta(minutes=1)).timestamp() * 1e9
    assert max(s.end_ns for s in endpoint.spans) > (before - timedelta(minutes=1)).timestamp() * 1e9


def test_the_same_seed_sends_the_same_journeys_with_the_same_ids(backfill, tmp_path: Path) -> None:
    endpoint, _, _ = backfill
    with otlp_endpoint() as again:
        command = f"--url {again.url} --backfill 10m --rate 2 --seed 3 --quiet --truth {tmp_path / 't.jsonl'}"
        assert touchpoint_demo(command) == 0

    def identity(spans: list[ArrivedSpan]) -> set[tuple[Any, ...]]:
        return {
            (
                s.trace_id,
                s.span_id,
                s.parent_span_id,
                s.name,
                s.attributes.get("journey.id"),
                s.end_ns - s.start_ns,
            )
            for s in spans
        }

    assert identity(again.spans) == identity(endpoint.spans)


def test_another_seed_sends_other_ids(backfill, tmp_path: Path) -> None:
    endpoint, _, _ = backfill
    with otlp_endpoint() as other:
        assert (
            touchpoint_demo(
                f"--url {other.url} --backfill 2m --seed 4 --quiet --truth {tmp_path / 't.jsonl'}"
            )
            == 0
        )
    assert other.spans
    assert not {s.span_id for s in other.spans} & {s.span_id for s in endpoint.spans}


# --- faults ----------------------------------------------------------------------------------------------

FAULTS = (
    "latency:support-line/crm-lookup@+5m/8m=6",
    "failure:online-order/payment@+10m/10m=0.9",
    "dark:store-visit/mobile-app@+10m/10m",
    "queue:support-line/agent-greeting@+15m/12m=0.3",
    "skip:online-order/order-confirmation@+25m/10m",
    "cascade:support-line/crm-lookup@+30m/10m=0.9",
)


@pytest.fixture(scope="module")
def faulted(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[OtlpEndpoint, dict[str, dict[str, Any]]]]:
    """45 minutes backfilled with all six fault kinds: (endpoint, truth records by kind)."""
    truth = tmp_path_factory.mktemp("faulted") / "truth.jsonl"
    fault_flags = [flag for fault in FAULTS for flag in ("--fault", fault)]
    with otlp_endpoint() as endpoint:
        status = touchpoint_demo(
            f"--url {endpoint.url} --backfill 45m --rate 2 --seed 21 --quiet --truth {truth}",
            *fault_flags,
        )
        assert status == 0
        records = [json.loads(line) for line in truth.read_text().splitlines()]
        yield endpoint, {r["kind"]: r for r in records}


def in_window(span: ArrivedSpan, record: dict[str, Any]) -> bool:
    return iso(record["start"]).timestamp() * 1e9 <= span.start_ns < iso(record["end"]).timestamp() * 1e9


def before_window(span: ArrivedSpan, record: dict[str, Any]) -> bool:
    return span.start_ns < iso(record["start"]).timestamp() * 1e9


def of_step(endpoint: OtlpEndpoint, blueprint: str, step: str) -> list[ArrivedSpan]:
    return [s for s in endpoint.spans if bind(s.service, s.name, s.attributes) == [(blueprint, step)]]


def error_share(spans: list[ArrivedSpan]) -> float:
    assert spans, "no spans to judge"
    return sum(s.failed for s in spans) / len(spans)


def test_every_injected_fault_is_in_the_truth_log_with_its_window_and_magnitude(faulted) -> None:
    _, truth = faulted
    assert set(truth) == {"latency", "failure", "dark", "queue", "skip", "cascade"}
    run_start = iso(truth["failure"]["start"]) - timedelta(minutes=10)
    assert abs(run_start - (datetime.now(UTC) - timedelta(minutes=45))) < timedelta(minutes=2)
    offsets = {
        kind: (iso(r["start"]) - run_start, iso(r["end"]) - iso(r["start"])) for kind, r in truth.items()
    }
    assert offsets["queue"] == (timedelta(minutes=15), timedelta(minutes=12))
    assert offsets["cascade"] == (timedelta(minutes=30), timedelta(minutes=10))
    assert truth["failure"] | {"run": None} == {
        "run": None,
        "kind": "failure",
        "blueprint": "online-order",
        "step": "payment",
        "touchpoint": None,
        "steps": ["payment"],
        "impacts": [],
        "start": truth["failure"]["start"],
        "end": truth["failure"]["end"],
        "magnitude": 0.9,
        "unit": "error_rate",
        "spec": "failure:online-order/payment@+10m/10m=0.9",
    }
    assert truth["failure"]["start"].endswith("Z")
    assert (truth["dark"]["step"], truth["dark"]["touchpoint"]) == (None, "mobile-app")
    assert truth["cascade"]["impacts"] == ["agent-greeting", "resolved"]


def test_a_failure_burst_makes_the_step_fail_in_its_window_only(faulted) -> None:
    endpoint, truth = faulted
    payments = of_step(endpoint, "online-order", "payment")
    assert error_share([s for s in payments if in_window(s, truth["failure"])]) > 0.75
    assert error_share([s for s in payments if before_window(s, truth["failure"])]) < 0.05
    checkouts = of_step(endpoint, "online-order", "checkout")
    assert error_share([s for s in checkouts if in_window(s, truth["failure"])]) > 0.5


def test_a_latency_regression_slows_the_step_in_its_window(faulted) -> None:
    endpoint, truth = faulted
    lookups = of_step(endpoint, "support-line", "crm-lookup")
    slow = statistics.median(s.duration_s for s in lookups if in_window(s, truth["latency"]))
    usual = statistics.median(s.duration_s for s in lookups if before_window(s, truth["latency"]))
    assert slow > 4 * usual


def test_a_staff_shortage_builds_a_queue_before_the_step(faulted) -> None:
    endpoint, truth = faulted
    enqueued = {s.trace_id: s for s in of_step(endpoint, "support-line", "queue")}
    answered = [s for s in of_step(endpoint, "support-line", "agent-greeting") if s.trace_id in enqueued]

    def wait_s(greeting: ArrivedSpan) -> float:  # the gap between being queued and an agent answering
        return (greeting.start_ns - enqueued[greeting.trace_id].end_ns) / 1e9

    record = truth["queue"]
    second_half = {**record, "start": (iso(record["start"]) + timedelta(minutes=6)).isoformat()}
    waits_in = [wait_s(s) for s in answered if in_window(s, second_half)]
    waits_before = [wait_s(s) for s in answered if before_window(s, record)]
    assert statistics.median(waits_in) > 60
    assert statistics.median(waits_in) > 10 * max(1.0, statistics.median(waits_before))
    hang_ups = of_step(endpoint, "support-line", "hang-up")
    assert sum(in_window(s, record) for s in hang_ups) > 3 * max(
        1, sum(before_window(s, record) for s in hang_ups)
    )


def test_a_dark_touchpoint_gets_no_traffic_in_its_window(faulted) -> None:
    endpoint, truth = faulted
    record = truth["dark"]
    app_spans = [s for step in record["steps"] for s in of_step(endpoint, "store-visit", step)]
    assert not [s for s in app_spans if in_window(s, record)]
    assert [s for s in app_spans if before_window(s, record)]
    assert [s for s in app_spans if s.start_ns >= iso(record["end"]).timestamp() * 1e9]


def test_a_skipped_step_disappears_while_the_journey_goes_on(faulted) -> None:
    endpoint, truth = faulted
    record = truth["skip"]
    emails = of_step(endpoint, "online-order", "order-confirmation")
    assert not [s for s in emails if in_window(s, record)]
    assert [s for s in emails if before_window(s, record)]
    journeys_skipping = {
        s.attributes["journey.id"]
        for s in of_step(endpoint, "online-order", "checkout")
        if in_window(s, record) and s.attributes.get("payment.outcome") == "authorized"
    }
    picked = {s.attributes["journey.id"] for s in of_step(endpoint, "online-order", "warehouse-pick")}
    assert journeys_skipping & picked


def test_a_backstage_cascade_fails_the_step_and_the_agents_it_serves(faulted) -> None:
    endpoint, truth = faulted
    record = truth["cascade"]
    lookups = of_step(endpoint, "support-line", "crm-lookup")
    assert error_share([s for s in lookups if in_window(s, record)]) > 0.7
    greetings = of_step(endpoint, "support-line", "agent-greeting")
    hurt = [s for s in greetings if in_window(s, record)]
    calm = [s for s in greetings if before_window(s, truth["latency"])]
    assert error_share(hurt) > 0.5
    assert error_share(calm) < 0.05
    assert statistics.median(s.duration_s for s in hurt) > 2 * statistics.median(s.duration_s for s in calm)


# --- live mode, progress, and a server that is not there -------------------------------------------------


def test_live_mode_sends_spans_as_they_end_in_real_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with otlp_endpoint() as endpoint:
        started = time.time_ns()
        status = touchpoint_demo(
            f"--url {endpoint.url} --duration 3s --rate 30 --seed 1 --truth {tmp_path / 't.jsonl'}"
        )
        finished = time.time_ns()
    assert status == 0
    assert endpoint.spans
    assert all(started <= s.start_ns and s.end_ns <= finished for s in endpoint.spans)
    assert all(s.end_ns <= s.received_ns for s in endpoint.spans)
    progress = capsys.readouterr().err
    assert (
        "journeys" in progress and "spans" in progress and "send errors" in progress and "faults:" in progress
    )


def test_a_backfill_can_carry_on_live(tmp_path: Path) -> None:
    with otlp_endpoint() as endpoint:
        started = time.time_ns()
        status = touchpoint_demo(
            f"--url {endpoint.url} --backfill 2m --follow --duration 2s --rate 20 --seed 2 --quiet",
            f"--truth={tmp_path / 't.jsonl'}",
        )
        finished = time.time_ns()
    assert status == 0
    past = [s for s in endpoint.spans if s.end_ns < started]
    live = [s for s in endpoint.spans if s.end_ns >= started]
    assert past and live
    assert min(s.start_ns for s in past) >= started - 125 * 10**9
    assert max(s.end_ns for s in live) <= finished


def test_quiet_mode_prints_no_progress(backfill, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    endpoint, _, _ = backfill
    assert touchpoint_demo(f"--url {endpoint.url} --backfill 1m --quiet --truth {tmp_path / 't.jsonl'}") == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "sent" in captured.out and "rerun with --seed" in captured.out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_with_no_server_the_demo_says_so_and_exits_non_zero_without_a_traceback(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "demo", "--url", url, "--backfill", "1m", "--quiet"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert f"cannot reach a Touchpoint server at {url}" in done.stderr
    assert "touchpoint serve" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_a_server_that_starts_refusing_spans_stops_the_demo_with_exit_status_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with otlp_endpoint() as endpoint:
        endpoint.answers = [200] + [400] * 1000  # the first answer is to the demo's reachability check
        status = touchpoint_demo(
            f"--url {endpoint.url} --backfill 30m --rate 2 --quiet --truth {tmp_path / 't.jsonl'}"
        )
    assert status == 1
    assert "span batches in a row were refused" in capsys.readouterr().err


def test_a_fault_that_does_not_fit_is_refused_before_anything_is_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with otlp_endpoint() as endpoint:
        status = touchpoint_demo(
            f"--url {endpoint.url} --backfill 10m --quiet --fault queue:online-order/payment",
            f"--truth={tmp_path / 't.jsonl'}",
        )
    assert status == 2
    assert endpoint.requests == 0
    assert "queue needs a staffed step; in online-order: warehouse-pick" in capsys.readouterr().err
