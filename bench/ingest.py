"""Ingest benchmark: the Arrow ceiling vs end-to-end OTLP/HTTP protobuf into `touchpoint serve`, in one run.

    python -m bench.ingest [--seconds 30] [--clients 4] [--batch 1024] [--attributes 6] [--spread-s 60] \
        [--timeline S]

(a) ceiling: clickhouse-connect `insert_arrow` of the same rows, prebuilt as Arrow tables, into the same embedded
    engine (a fresh data directory) and the same table: `otel_traces` migrated as `touchpoint serve` migrates
    the embedded engine (the exporter's columns plus the materialized convention columns; the rollup is fed by
    the server's writer, so no view sits on `otel_traces`), in inserts of --ceiling-batch rows;
(b) end to end: --clients concurrent HTTP clients posting prebuilt protobuf requests of --batch spans to a
    `touchpoint serve` subprocess on its own fresh data directory, each waiting for its 200 (= committed); the
    spans stored are counted once the landing tables (collectors.landing) have been emptied into otel_traces.
Prints spans/s for each, their ratio, the engine's CPU per inserted row (merges included), the CPU the server
and the clients used, and the server's peak memory (sampled every 100 ms: RSS of the serving process,
and of it with its span mapping workers), with --timeline the rate committed and the server's cores every S
seconds of (b), then a JSON line.

The ceiling is measured the same way before and after (b): this machine's pace moves within minutes (six
back-to-back ceilings ranged 482,000-604,000 rows/s), so `ratio` (the target's figure) divides by the faster
of the two.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pyarrow as pa
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# the migrations `touchpoint serve` applies beside collectors' own, so the ceiling's otel_traces is the server's
import blueprints.rollups  # noqa: E402, F401
import blueprints.trace_columns  # noqa: E402, F401
import blueprints.versions  # noqa: E402, F401
from bench.otlp_payloads import build_request  # noqa: E402
from collectors.db import connect  # noqa: E402
from collectors.otlp_mapping import decode_protobuf, spans_to_arrow  # noqa: E402
from collectors.rollup_feed import RollupFeed  # noqa: E402
from collectors.schema import SPAN_INSERT_SETTINGS, SchemaOptions, migrate  # noqa: E402
from tests.conftest import free_port  # noqa: E402

PROTOBUF = {"Content-Type": "application/x-protobuf"}
SERVER_SCHEMA = SchemaOptions(rollup_feed=True)  # what `serve` passes to migrate() on the embedded engine


class Bodies:
    """Prebuilt protobuf requests made new on every send: request `i` is body `i % count` with the first four
    bytes of every trace id replaced by `i // count`, so no span is ever sent twice (the server drops resent
    spans, which would measure the dedup path instead of storing)."""

    def __init__(self, bodies: list[bytes], trace_id_offsets: list[np.ndarray]) -> None:
        self.bodies = bodies
        self.positions = [(o[:, None] + np.arange(4)).ravel() for o in trace_id_offsets]

    def __len__(self) -> int:
        return len(self.bodies)

    def get(self, i: int) -> bytes:
        index, generation = i % len(self.bodies), i // len(self.bodies)
        data = np.frombuffer(self.bodies[index], dtype=np.uint8).copy()
        data[self.positions[index]] = np.tile(np.frombuffer(generation.to_bytes(4, "big"), np.uint8),
                                              len(self.positions[index]) // 4)
        return data.tobytes()


def build_bodies(count: int, batch: int, attributes: int, spread_s: float = 60.0) -> Bodies:
    """`count` distinct requests of `batch` spans each, covering the last `spread_s` seconds between them.

    Request `i` holds spans started in the i-th slice of that period, as an exporter's batches hold spans that
    ended shortly before it sent them. A `spread_s` of `count` hours would instead scatter
    every request over an hour of its own: the rollup view then folds almost no two spans of an insert together
    (until this option existed the bench spread every request over the same hour, the costliest case).
    """
    start = time.time_ns() - int(spread_s * 10**9)
    width = max(1, int(spread_s * 10**9 / count))
    bodies = []
    offsets = []
    for seed in range(count):
        request = build_request(batch, seed=seed, start_ns=start + seed * width, spread_ns=width)
        if attributes < 6:
            for rs in request.resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        del span.attributes[attributes:]
        body = request.SerializeToString()
        trace_ids = [s.trace_id for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
        found = np.array([body.index(b"\x0a\x10" + t) + 2 for t in trace_ids], dtype=np.int64)
        bodies.append(body)
        offsets.append(found)
    return Bodies(bodies, offsets)


def bodies_as_rows(bodies: Bodies) -> pa.Table:
    """The spans of every prebuilt request, mapped to Arrow rows as the receiver maps them."""
    return pa.concat_tables([spans_to_arrow(decode_protobuf(b)).table for b in bodies.bodies])


def measure_ceiling(
    rows: pa.Table, rows_wanted: int, insert_rows: int, workdir: Path, feed_rollup: bool = False
) -> tuple[float, float]:
    """Rows/s of insert_arrow of `rows` (repeated up to `rows_wanted`, cut before timing) into a fresh embedded
    engine migrated as `touchpoint serve` migrates it, and the engine's CPU per row in µs: the inserts plus the
    background merges they cause, until merging stops.

    With `feed_rollup` the rows also reach the rollup as the server's do: fed once a second."""
    big = rows
    while big.num_rows < rows_wanted:
        big = pa.concat_tables([big, big])
    big = big.slice(0, rows_wanted).combine_chunks()
    chunks = [big.slice(i, insert_rows) for i in range(0, big.num_rows, insert_rows)]
    client = connect(f"chdb://{workdir / 'ceiling'}")  # one embedded engine per process: start it empty
    for (table,) in client.query("SELECT name FROM system.tables WHERE database = currentDatabase() "
                                 "ORDER BY engine = 'MaterializedView' DESC").result_rows:
        client.command(f"DROP TABLE `{table}` SYNC")
    migrate(client, SERVER_SCHEMA)
    feed = RollupFeed(lambda: client) if feed_rollup else None
    client.insert_arrow("otel_traces", chunks[0].slice(0, 1000))  # warm up
    cpu_before = _cpu_s(psutil.Process())
    started = time.perf_counter()
    for chunk in chunks:
        client.insert_arrow("otel_traces", chunk, settings=SPAN_INSERT_SETTINGS)
        if feed is not None:
            feed.add(chunk)
    if feed is not None:
        feed.close()
    elapsed = time.perf_counter() - started
    wait_for_merges(client)
    cpu_us_per_row = 1e6 * (_cpu_s(psutil.Process()) - cpu_before) / big.num_rows
    return big.num_rows / elapsed, cpu_us_per_row


def wait_for_merges(client: Any, limit_s: float = 60) -> None:
    """Return once no merge runs and the part count held still for two seconds (or after `limit_s`)."""
    deadline, last, still = time.monotonic() + limit_s, None, 0
    while still < 2 and time.monotonic() < deadline:
        time.sleep(1)
        merges, parts = client.query(
            "SELECT (SELECT count() FROM system.merges), "
            "(SELECT count() FROM system.parts WHERE active AND database = currentDatabase())"
        ).result_rows[0]
        still = still + 1 if merges == 0 and parts == last else 0
        last = parts


def tree_memory(process: psutil.Process, with_pss: bool = False) -> tuple[int, int, int]:
    """Bytes resident now: `process`'s RSS, the RSS of it and its child processes summed (pages they share
    counted once per process), and with `with_pss` their PSS summed (each shared page counted once in all; else
    0). Raises psutil.Error when `process` is gone; a child gone meanwhile is left out."""
    main = process.memory_info().rss
    pss = process.memory_full_info().pss if with_pss else 0
    rss = main
    for child in process.children(recursive=True):
        try:  # a worker being replaced may be gone between listing and reading: the rest still count
            rss += child.memory_info().rss
            pss += child.memory_full_info().pss if with_pss else 0
        except psutil.Error:
            continue
    return main, rss, pss


class RssSampler(threading.Thread):
    """Samples the memory of a process tree (a server and its span mapping workers) and keeps the peaks: every
    100 ms the serving process's RSS and the RSS of every process summed (pages they share, such as the
    libraries each one maps, counted once per process); every second their PSS summed (each shared page
    counted once in all)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = self.peak_tree_rss = self.peak_tree_pss = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        sample = 0
        while not self.stop_event.is_set():
            # PSS reads every mapping of every process (/proc/*/smaps): once a second, not to take the clients' CPU
            try:
                main, rss, pss = tree_memory(self.process, with_pss=sample % 10 == 0)
            except psutil.Error:  # the server is gone
                return
            self.peak = max(self.peak, main)
            self.peak_tree_rss = max(self.peak_tree_rss, rss)
            self.peak_tree_pss = max(self.peak_tree_pss, pss)
            sample += 1
            time.sleep(0.1)


class Timeline(threading.Thread):
    """Every `interval_s`, the spans the server committed and the cores it and its workers used since the last
    look, from /api/v1/health and /proc: where a long run slowed down (a large merge, say), not only its mean."""

    def __init__(self, url: str, pid: int, interval_s: float) -> None:
        super().__init__(daemon=True)
        self.url, self.process, self.interval_s = url, psutil.Process(pid), interval_s
        self.windows: list[tuple[float, float, float]] = []  # (seconds since start at the window's end, spans/s, cores)
        self.stop_event = threading.Event()

    def run(self) -> None:
        started = last_at = time.monotonic()
        last_rows, last_cpu = self._rows(), _cpu_s(self.process, tree=True)
        while not self.stop_event.wait(self.interval_s):
            try:
                rows, cpu = self._rows(), _cpu_s(self.process, tree=True)
            except (requests.RequestException, psutil.Error):
                return
            now = time.monotonic()
            span = now - last_at
            self.windows.append((now - started, (rows - last_rows) / span, (cpu - last_cpu) / span))
            last_at, last_rows, last_cpu = now, rows, cpu

    def _rows(self) -> int:
        return int(requests.get(f"{self.url}/api/v1/health", timeout=30).json()["ingest"]["writer"]["rows_written"])


def measure_end_to_end(
    bodies: Bodies, spans_per_body: int, clients: int, seconds: float, workdir: Path, timeline_s: float = 0.0
) -> dict:
    """Part (b): a fresh `touchpoint serve` in `workdir`, `clients` clients posting for `seconds`; with
    `timeline_s`, also the committed rate and the server's cores per window of that many seconds."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(workdir / "serve.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--no-alerts"],
        cwd=workdir, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"server did not start: {(workdir / 'serve.log').read_text()}")
            time.sleep(0.2)
        sampler = RssSampler(server.pid)
        sampler.start()
        timeline = Timeline(url, server.pid, timeline_s) if timeline_s > 0 else None
        acked = [0] * clients
        refused = [0] * clients
        stop_at = time.monotonic() + seconds

        def client(index: int) -> None:
            with requests.Session() as session:
                i = index
                while time.monotonic() < stop_at:
                    reply = session.post(f"{url}/v1/traces", data=bodies.get(i), headers=PROTOBUF, timeout=60)
                    if reply.status_code == 200:
                        acked[index] += spans_per_body
                    else:
                        refused[index] += 1
                        time.sleep(float(reply.headers.get("Retry-After", "0.1")))
                    i += clients

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        server_cpu, bench_cpu = _cpu_s(psutil.Process(server.pid), tree=True), _cpu_s(psutil.Process())
        started = time.perf_counter()
        if timeline is not None:
            timeline.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        if timeline is not None:
            timeline.stop_event.set()
            timeline.join()
        server_cpu_s = _cpu_s(psutil.Process(server.pid), tree=True) - server_cpu
        bench_cpu_s = _cpu_s(psutil.Process()) - bench_cpu
        sampler.stop_event.set()
        sampler.join()
        drained = time.perf_counter()
        while True:  # spans landed since the last move reach otel_traces with the next one
            health = requests.get(f"{url}/api/v1/health", timeout=30).json()
            landing = health["ingest"].get("landing", {})
            if not landing.get("waiting_rows", 0) or time.perf_counter() - drained > 60:
                break
            time.sleep(0.1)
        drain_s = time.perf_counter() - drained
        stored = int(health["database"]["spans"])
        inserts = int(health["ingest"]["writer"]["inserts"])
        return {
            "spans_per_s": sum(acked) / elapsed,
            "acknowledged": sum(acked),
            "stored": stored,
            "refused_requests": sum(refused),
            "rows_per_insert": round(stored / max(1, inserts)),
            "ms_per_insert": round(1000 * float(health["ingest"]["writer"]["insert_s"]) / max(1, inserts), 1),
            "peak_rss_mb": sampler.peak / 2**20,
            "peak_tree_rss_mb": sampler.peak_tree_rss / 2**20,
            "peak_tree_pss_mb": sampler.peak_tree_pss / 2**20,
            "server_cores": server_cpu_s / elapsed,
            "client_cores": bench_cpu_s / elapsed,
            "seconds": elapsed,
            "landed": int(landing.get("landed_rows", 0)),
            "drain_s": round(drain_s, 2),
            "timeline": [] if timeline is None else [[round(v, 2) for v in w] for w in timeline.windows],
        }
    finally:
        server.terminate()
        server.wait(60)
        log.close()


def _cpu_s(process: psutil.Process, tree: bool = False) -> float:
    """CPU seconds `process` has used so far, every thread of it (the embedded engine's included), and with
    `tree` those of its running child processes (a server's span mapping workers) too."""
    total = 0.0
    for member in (process, *(process.children(recursive=True) if tree else ())):
        try:
            times = member.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30, help="end-to-end duration (300: the 5-minute RSS check)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1024, help="spans per request")
    parser.add_argument("--attributes", type=int, default=6, choices=range(0, 7), help="span attributes per span")
    parser.add_argument("--spread-s", type=float, default=60.0,
                        help="the requests' spans start within the last this many seconds, one slice per request")
    parser.add_argument("--timeline", type=float, default=0, metavar="S",
                        help="also print the committed spans/s and the server's cores every S seconds of (b)")
    parser.add_argument("--ceiling-rows", type=int, default=1_000_000)
    parser.add_argument("--ceiling-batch", type=int, default=100_000)
    args = parser.parse_args()

    bodies = build_bodies(64, args.batch, args.attributes, args.spread_s)
    workdir = Path(tempfile.mkdtemp(prefix="touchpoint-bench-"))
    try:
        rows = bodies_as_rows(bodies)
        ceiling, ceiling_cpu = measure_ceiling(rows, args.ceiling_rows, args.ceiling_batch, workdir)
        # the same inserts with the rollup fed once a second as the server does, in the largest batches the
        # clients can have waiting at once: what ingest could reach with free decoding
        server_schema, server_schema_cpu = measure_ceiling(
            rows, args.ceiling_rows // 4, args.clients * args.batch, workdir, feed_rollup=True
        )
        e2e = measure_end_to_end(bodies, args.batch, args.clients, args.seconds, workdir, args.timeline)
        ceiling_after, _ = measure_ceiling(rows, args.ceiling_rows, args.ceiling_batch, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ratio = e2e["spans_per_s"] / max(ceiling, ceiling_after)
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
          f"python {platform.python_version()}")
    print(f"spans: {args.batch} per request, {args.attributes} span attributes + 3 resource attributes each, "
          f"starting within the last {args.spread_s:g} s")
    print(f"(a) ceiling, insert_arrow of prebuilt Arrow tables: {ceiling:,.0f} rows/s "
          f"(engine CPU, merges included: {ceiling_cpu:.1f} µs per row)")
    print(f"(b) end to end, OTLP/HTTP protobuf, {args.clients} clients: {e2e['spans_per_s']:,.0f} spans/s "
          f"over {e2e['seconds']:.0f} s ({e2e['acknowledged']:,} acknowledged, {e2e['stored']:,} stored, "
          f"{e2e['refused_requests']} requests refused with 503, "
          f"{e2e['rows_per_insert']:,} rows per insert taking {e2e['ms_per_insert']} ms)")
    if e2e["landed"]:
        print(f"    {e2e['landed']:,} of them committed into the landing tables first, all in otel_traces "
              f"{e2e['drain_s']} s after the clients stopped")
    for at, rate, cores in e2e["timeline"]:
        print(f"    at {at:5.0f} s: {rate:9,.0f} spans/s committed, server {cores:.2f} cores")
    print(f"    same rows into the server's schema in inserts of {args.clients * args.batch}: "
          f"{server_schema:,.0f} rows/s (engine CPU, merges included: {server_schema_cpu:.1f} µs per row)")
    print(f"ceiling measured again after (b): {ceiling_after:,.0f} rows/s")
    print(f"ratio end-to-end / ceiling: {ratio:.2f} (against the faster of the two; "
          f"{e2e['spans_per_s'] / ceiling:.2f} and {e2e['spans_per_s'] / ceiling_after:.2f} against each)")
    print(
        f"server peak RSS: {e2e['peak_rss_mb']:,.0f} MB serving process; with its mapping workers "
        f"{e2e['peak_tree_pss_mb']:,.0f} MB PSS (shared pages once), {e2e['peak_tree_rss_mb']:,.0f} MB RSS summed"
    )
    print(f"CPU while ingesting: server {e2e['server_cores']:.2f} cores, clients {e2e['client_cores']:.2f} cores")
    figures = {k: round(v, 2) if isinstance(v, float) else v for k, v in e2e.items()}
    print(json.dumps({"ceiling_rows_per_s": round(ceiling), "server_schema_rows_per_s": round(server_schema),
                      "ceiling_cpu_us_per_row": round(ceiling_cpu, 1),
                      "server_schema_cpu_us_per_row": round(server_schema_cpu, 1),
                      **figures, "ratio": round(ratio, 3), "ceiling_after_rows_per_s": round(ceiling_after)}))


if __name__ == "__main__":
    main()
