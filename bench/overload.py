"""Overload benchmark: `touchpoint serve` offered twice the ingest rate it sustains, while people use the UI.

    python -m bench.overload [--seconds 20] [--batch 1000] [--clients 4] [--factor 2]

1. baseline: UI requests (the dashboard page, its layout, an API read) and the live blueprint page's render
   callback (the online-order blueprint over its last 15 minutes, POSTed as the browser's auto-refresh
   does) with no ingest: latency p50/p95;
2. capacity: --clients closed-loop OTLP clients, each waiting for its 200: the sustainable spans/s;
3. overload: an open-loop schedule offering --factor times that rate (new span ids in every request, so no
   request is a duplicate), the same UI requests running alongside; the answers by status, whether every
   refusal carried Retry-After, spans acknowledged vs stored, UI and callback latency, and the server's RSS.

Prints the figures and the baseline of the same run, then one JSON line. Server settings come from
TOUCHPOINT_* variables as for `touchpoint serve` (e.g. TOUCHPOINT_INGEST_CONCURRENCY).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import RssSampler, tree_memory  # noqa: E402
from bench.otlp_payloads import build_request  # noqa: E402
from tests.conftest import free_port  # noqa: E402

PROTOBUF = {"Content-Type": "application/x-protobuf"}
MARK = b"\xa7\x3c\x5e\x91"  # the first 4 bytes of every trace and span id in the template
UI_PATHS = ("/", "/_dash-layout", "/api/v1/health")
BLUEPRINT = "online-order"  # one of the shipped maps; the server reads them from the repository


class Bodies:
    """Request bodies with fresh span ids each time, made by rewriting a marked template's id prefix."""

    def __init__(self, batch: int) -> None:
        request = build_request(batch, seed=1, start_ns=time.time_ns() - 600 * 10**9, spread_ns=600 * 10**9)
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    span.trace_id = MARK + span.trace_id[4:]
                    span.span_id = MARK + span.span_id[4:]
        self.template = request.SerializeToString()
        assert self.template.count(MARK) == 2 * batch, "the id mark also occurs elsewhere in the body"
        self.batch = batch
        self._next = 1
        self._lock = threading.Lock()

    def take(self) -> bytes:
        with self._lock:
            number, self._next = self._next, self._next + 1
        return self.template.replace(MARK, number.to_bytes(4, "big"))


@dataclass
class Latencies:
    seconds: list[float] = field(default_factory=list)
    failures: int = 0

    def summary(self) -> dict[str, float]:
        if not self.seconds:
            return {"requests": 0, "failures": self.failures}
        ordered = sorted(self.seconds)
        return {
            "requests": len(ordered),
            "failures": self.failures,
            "p50_ms": round(1000 * statistics.median(ordered), 1),
            "p95_ms": round(1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
            "max_ms": round(1000 * ordered[-1], 1),
        }


def probe_ui(url: str, stop: threading.Event, every_s: float = 0.2) -> Latencies:
    """Request the UI paths in turn until stopped; the latencies of each."""
    found = Latencies()
    with requests.Session() as session:
        n = 0
        while not stop.is_set():
            path = UI_PATHS[n % len(UI_PATHS)]
            n += 1
            started = time.perf_counter()
            try:
                ok = session.get(url + path, timeout=30, headers={"Accept": "text/html"}).status_code == 200
            except requests.RequestException:
                ok = False
            if ok:
                found.seconds.append(time.perf_counter() - started)
            else:
                found.failures += 1
            stop.wait(every_s)
    return found


def probe_blueprint_page(url: str, stop: threading.Event, every_s: float = 1.0) -> Latencies:
    """POST the live blueprint page's callbacks (`render`, then `draw`), as its auto-refresh does, until stopped."""
    from bench.ui import draw_payload, render_payload

    found = Latencies()
    view = {"bp": BLUEPRINT, "range": "15m", "end": None, "step": None, "paused": False}
    with requests.Session() as session:
        dependencies = session.get(url + "/_dash-dependencies", timeout=30).json()
        tick = 0
        while not stop.is_set():
            tick += 1
            started = time.perf_counter()
            try:
                reply = session.post(
                    url + "/_dash-update-component", json=render_payload(dependencies, view, tick), timeout=60
                )
                ok = reply.status_code == 200
                if ok:
                    reply = session.post(
                        url + "/_dash-update-component", json=draw_payload(dependencies, reply), timeout=60
                    )
                    ok = reply.status_code == 200
            except requests.RequestException:
                ok = False
            if ok:
                found.seconds.append(time.perf_counter() - started)
            else:
                found.failures += 1
            stop.wait(every_s)
    return found


def rss(pid: int) -> int:
    """A process's resident memory now with its child processes' (a server's span mapping workers), in bytes."""
    return tree_memory(psutil.Process(pid))[1]


def start_server(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(workdir / "serve.log", "wb")  # noqa: SIM115 - the child keeps it
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--no-alerts"],
        cwd=workdir,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "TOUCHPOINT_BLUEPRINTS": str(ROOT / "blueprints" / "maps"),
            "TOUCHPOINT_RULES": str(ROOT / "alerts" / "rules"),
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            if requests.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                return server, url
        except requests.RequestException:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit(f"server did not start: {(workdir / 'serve.log').read_text()}")
        time.sleep(0.2)


def capacity(url: str, bodies: Bodies, clients: int, seconds: float) -> float:
    """Spans/s acknowledged by `clients` closed-loop clients, each waiting for its answer."""
    acked = [0] * clients
    stop_at = time.monotonic() + seconds

    def client(index: int) -> None:
        with requests.Session() as session:
            while time.monotonic() < stop_at:
                reply = session.post(url + "/v1/traces", data=bodies.take(), headers=PROTOBUF, timeout=60)
                if reply.status_code == 200:
                    acked[index] += bodies.batch
                else:
                    time.sleep(float(reply.headers.get("Retry-After", "0.1")))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(acked) / (time.perf_counter() - started)


@dataclass
class Offered:
    statuses: Counter[int] = field(default_factory=Counter)
    refusals_without_retry_after: int = 0
    acknowledged_spans: int = 0
    not_sent: int = 0  # the sender pool was busy when the schedule said send


def overload(url: str, bodies: Bodies, spans_per_s: float, seconds: float, senders: int) -> Offered:
    """Offer `spans_per_s` on a fixed schedule for `seconds` whatever the answers; refusals are not resent."""
    result = Offered()
    lock = threading.Lock()
    jobs: queue.Queue[bytes | None] = queue.Queue(maxsize=senders)

    def sender() -> None:
        with requests.Session() as session:
            while (body := jobs.get()) is not None:
                try:
                    reply = session.post(url + "/v1/traces", data=body, headers=PROTOBUF, timeout=60)
                    status = reply.status_code
                    retry_after = "Retry-After" in reply.headers
                except requests.RequestException:
                    status, retry_after = 0, False
                with lock:
                    result.statuses[status] += 1
                    if status == 200:
                        result.acknowledged_spans += bodies.batch
                    elif not retry_after:
                        result.refusals_without_retry_after += 1

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(senders)]
    for t in threads:
        t.start()
    interval = bodies.batch / spans_per_s
    started = time.monotonic()
    n = 0
    while (due := started + n * interval) < started + seconds:
        time.sleep(max(0.0, due - time.monotonic()))
        try:
            jobs.put_nowait(bodies.take())
        except queue.Full:
            result.not_sent += 1
        n += 1
    for _ in threads:
        jobs.put(None)
    for t in threads:
        t.join(120)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20, help="length of the capacity and overload phase")
    parser.add_argument("--batch", type=int, default=1000, help="spans per request")
    parser.add_argument("--clients", type=int, default=4, help="closed-loop clients measuring capacity")
    parser.add_argument("--factor", type=float, default=2.0, help="offered load as a multiple of capacity")
    parser.add_argument("--senders", type=int, default=64, help="concurrent connections offering the load")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="touchpoint-overload-"))
    bodies = Bodies(args.batch)
    server, url = start_server(workdir)
    try:
        sampler = RssSampler(server.pid)
        sampler.start()
        stop = threading.Event()
        idle_ui: list[Latencies] = []
        idle_page: list[Latencies] = []
        probes = [
            threading.Thread(target=lambda: idle_ui.append(probe_ui(url, stop))),
            threading.Thread(target=lambda: idle_page.append(probe_blueprint_page(url, stop))),
        ]
        for probe in probes:
            probe.start()
        time.sleep(min(10.0, args.seconds))
        stop.set()
        for probe in probes:
            probe.join()
        rss_idle = rss(server.pid)

        sustainable = capacity(url, bodies, args.clients, args.seconds)
        rss_after_capacity = sampler.peak_tree_rss

        offered_rate = args.factor * sustainable
        stop = threading.Event()
        busy_ui: list[Latencies] = []
        busy_page: list[Latencies] = []
        probes = [
            threading.Thread(target=lambda: busy_ui.append(probe_ui(url, stop))),
            threading.Thread(target=lambda: busy_page.append(probe_blueprint_page(url, stop))),
        ]
        sampler.peak = sampler.peak_tree_rss = 0
        for probe in probes:
            probe.start()
        stored_before = requests.get(url + "/api/v1/health", timeout=30).json()["database"]["spans"]
        started = time.perf_counter()
        offered = overload(url, bodies, offered_rate, args.seconds, args.senders)
        elapsed = time.perf_counter() - started
        stop.set()
        for probe in probes:
            probe.join()
        rss_peak_overload = sampler.peak_tree_rss
        health = requests.get(url + "/api/v1/health", timeout=30).json()
        stored = health["database"]["spans"] - stored_before
        time.sleep(2)
        rss_after = rss(server.pid)
        sampler.stop_event.set()
    finally:
        server.terminate()
        server.wait(60)
        shutil.rmtree(workdir, ignore_errors=True)

    idle, busy = idle_ui[0].summary(), busy_ui[0].summary()
    page_idle, page_busy = idle_page[0].summary(), busy_page[0].summary()
    refused = sum(n for status, n in offered.statuses.items() if status != 200)
    mb = 2**20
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, python {platform.python_version()}; "
        f"{args.batch} spans per request"
    )
    print(f"sustainable ingest ({args.clients} closed-loop clients): {sustainable:,.0f} spans/s")
    print(
        f"offered {args.factor:g}x = {offered_rate:,.0f} spans/s for {elapsed:.0f} s: answers "
        f"{dict(sorted(offered.statuses.items()))}, {offered.not_sent} not sent (all senders waiting); "
        f"{refused - offered.refusals_without_retry_after} of {refused} refusals with Retry-After"
    )
    print(
        f"acknowledged {offered.acknowledged_spans:,} spans ({offered.acknowledged_spans / elapsed:,.0f}/s), "
        f"stored {stored:,}"
    )
    print(
        f"UI (/, /_dash-layout, /api/v1/health) idle: p50 {idle.get('p50_ms')} ms, "
        f"p95 {idle.get('p95_ms')} ms; under overload: p50 {busy.get('p50_ms')} ms, "
        f"p95 {busy.get('p95_ms')} ms, max {busy.get('max_ms')} ms, "
        f"{busy['failures']} failed of {busy['requests'] + busy['failures']}"
    )
    print(
        f"blueprint page render callback ({BLUEPRINT}, 15 min) idle: p50 {page_idle.get('p50_ms')} ms, "
        f"p95 {page_idle.get('p95_ms')} ms; under overload: p50 {page_busy.get('p50_ms')} ms, "
        f"p95 {page_busy.get('p95_ms')} ms, max {page_busy.get('max_ms')} ms, "
        f"{page_busy['failures']} failed of {page_busy.get('requests', 0) + page_busy['failures']}"
    )
    print(
        f"server RSS with its mapping workers: idle {rss_idle / mb:,.0f} MB, "
        f"peak at capacity {rss_after_capacity / mb:,.0f} MB, "
        f"peak under overload {rss_peak_overload / mb:,.0f} MB, 2 s after {rss_after / mb:,.0f} MB"
    )
    print(
        json.dumps(
            {
                "sustainable_spans_per_s": round(sustainable),
                "offered_spans_per_s": round(offered_rate),
                "statuses": {str(k): v for k, v in sorted(offered.statuses.items())},
                "refusals_without_retry_after": offered.refusals_without_retry_after,
                "not_sent": offered.not_sent,
                "acknowledged_spans": offered.acknowledged_spans,
                "stored_spans": stored,
                "ui_idle": idle,
                "blueprint_callback_idle": page_idle,
                "blueprint_callback_overload": page_busy,
                "ui_overload": busy,
                "rss_mb": {
                    "idle": round(rss_idle / mb),
                    "capacity_peak": round(rss_after_capacity / mb),
                    "overload_peak": round(rss_peak_overload / mb),
                    "after": round(rss_after / mb),
                },
            }
        )
    )


if __name__ == "__main__":
    main()
