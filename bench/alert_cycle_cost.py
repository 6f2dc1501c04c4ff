"""The cost of one alert evaluation cycle: 200 rules over a 50-step blueprint, batched into a few queries per
blueprint, against the same rules evaluated one by one (the baseline), on days of history.

The blueprint: 50 steps in a chain across all five lanes and 8 touchpoints, each bound by service and span
name, with availability objectives everywhere, latency objectives on 30 steps and wait limits on 10. The
spans: a journey through all 50 steps every `every_s` seconds for `days` days, generated inside ClickHouse
(INSERT … SELECT from numbers()), 0.3% failing. The rules: 200 of those generated from the objectives, every
kind included. Cycles are measured one simulated minute apart, after a first cycle that counts the history's
minutes once (reported separately: it happens once per server start or rule change).

    python -m bench.alert_cycle_cost [--days 3] [--every 4] [--cycles 10] [--baseline-sample 20]

Each cycle is also broken down by query (what it reads and how long it took), so a slow cycle says where.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from alerts.evaluate import Watched, evaluate
from alerts.generated import rules_for
from alerts.minutes import MinuteCounts
from collectors.db import connect
from collectors.schema import migrate

STEPS = 50
LANES = ("customer", "frontstage", "backstage", "support", "evidence")
NOW = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
GAP_S = 12  # between consecutive steps of a journey


def blueprint() -> Any:
    """The 50-step blueprint model (attribute access, as the loader gives)."""
    steps = []
    for k in range(STEPS):
        objectives = SimpleNamespace(
            availability=0.99,
            latency=SimpleNamespace(percentile=95, threshold_ms=800) if k % 5 in (0, 1, 2) else None,
            max_wait_s=120 if k % 5 == 3 else None,
        )
        steps.append(
            SimpleNamespace(
                id=f"s{k:02d}",
                name=f"Step {k}",
                lane=LANES[k % 5],
                actor="system",
                optional=False,
                touchpoint=f"tp{k % 8}" if LANES[k % 5] in ("customer", "frontstage") else None,
                select=SimpleNamespace(service=f"svc-{k % 10}", span=f"op-{k}", attributes={}),
                objectives=objectives,
                serves=[],
            )
        )
    flows = [{"from": f"s{k:02d}", "to": f"s{k + 1:02d}"} for k in range(STEPS - 1)]
    touchpoints = [
        SimpleNamespace(id=f"tp{t}", name=f"Touchpoint {t}", channel="web", importance=1) for t in range(8)
    ]
    return SimpleNamespace(
        id="fifty",
        name="Fifty steps",
        steps=steps,
        flows=flows,
        touchpoints=touchpoints,
        start=["s00"],
        end=[f"s{STEPS - 1:02d}"],
        correlation=SimpleNamespace(key="journey.id", timeout="1h"),
    )


def fill(client: Any, days: float, every_s: float) -> int:
    """Journeys through the 50 steps every `every_s` seconds for `days` days up to NOW; the spans written."""
    journeys = int(days * 86400 / every_s)
    start_ms = int((NOW - timedelta(days=days)).timestamp() * 1000)
    client.command(f"""
INSERT INTO otel_traces
    (Timestamp, TraceId, SpanId, SpanName, ServiceName, SpanAttributes, Duration, StatusCode)
SELECT fromUnixTimestamp64Milli(toInt64({start_ms} + j * {int(every_s * 1000)} + k * {GAP_S * 1000}
                                        + cityHash64(n) % 3000), 'UTC'),
       concat('t', toString(j)), concat('s', toString(n)), concat('op-', toString(k)),
       concat('svc-', toString(k % 10)), map('journey.id', concat('j', toString(j))),
       toUInt64(50 + cityHash64(n, 1) % 500) * 1000000,
       if(cityHash64(n, 2) % 1000 < 3, 'Error', 'Ok')
FROM (SELECT number AS n, intDiv(number, {STEPS}) AS j, number % {STEPS} AS k
      FROM numbers({journeys * STEPS}))
""")
    return journeys * STEPS


def two_hundred_rules(graph: Any) -> list[Any]:
    """200 generated rules with every kind among them."""
    rules = rules_for(graph)
    ticket = [r for r in rules if r.id.endswith("-burn-ticket")]
    others = [r for r in rules if not r.id.endswith("-burn-ticket")]
    chosen = (others + ticket)[:200]
    assert len(chosen) == 200 and len({r.kind for r in chosen}) == 7, (len(chosen), {r.kind for r in chosen})
    return chosen


class TimedClient:
    """The ClickHouse client, timing each query and command it runs (what a cycle's milliseconds went to)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.times: list[tuple[str, float]] = []  # (what the statement reads or writes, ms)

    def query(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        return self._timed(self._client.query, sql, *args, **kwargs)

    def command(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        return self._timed(self._client.command, sql, *args, **kwargs)

    def _timed(self, run: Any, sql: str, *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return run(sql, *args, **kwargs)
        finally:
            self.times.append((_what(sql), (time.perf_counter() - began) * 1000))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def _what(sql: str) -> str:
    """A statement named by its verb and the tables it names: `SELECT otel_traces`, `INSERT …minutes`."""
    words = sql.split()
    tables = [w.strip("(),") for prev, w in zip(words, words[1:], strict=False) if prev in ("FROM", "INTO")]
    tables = [t for t in dict.fromkeys(tables) if t and not t.startswith("(")]
    return f"{words[0]} {'+'.join(tables) or '-'}" if words else "-"


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cycle_cost(
    workdir: Path, days: float = 3.0, every_s: float = 4.0, cycles: int = 10, baseline_sample: int = 20
) -> dict[str, Any]:
    """Measure and print; returns the figures."""
    client = connect(f"chdb://{workdir / 'cost'}")
    migrate(client)
    began = time.perf_counter()
    spans = fill(client, days, every_s)
    print(
        f"\ncycle cost: 50-step blueprint, {spans:,} spans over {days:g} days "
        f"({3600 / every_s * STEPS:,.0f} spans/h), generated in {time.perf_counter() - began:.0f} s",
        flush=True,
    )
    watched = {"fifty": Watched.of(blueprint())}
    rules = two_hundred_rules(watched["fifty"].graph)
    minutes = MinuteCounts()
    first = evaluate(client, watched, rules, NOW - timedelta(minutes=cycles), minutes)
    assert not first.failures, first.failures
    batched, raw_only, cpu_ms, queries = [], [], [], 0
    timed = TimedClient(client)
    per_query: dict[str, list[float]] = {}  # statement (with its place among its kind) -> ms in each cycle
    for m in range(cycles):
        at = NOW - timedelta(minutes=cycles - 1 - m)
        cpu_before = _cpu_s()
        timed.times.clear()
        result = evaluate(timed, watched, rules, at, minutes)
        cpu_ms.append((_cpu_s() - cpu_before) * 1000)
        seen: dict[str, int] = {}
        for what, ms in timed.times:
            seen[what] = seen.get(what, 0) + 1
            per_query.setdefault(f"{what} #{seen[what]}", []).append(ms)
        batched.append(result.elapsed_ms)
        queries = result.queries
        raw_only.append(evaluate(client, watched, rules, at).elapsed_ms)
    sample = random.Random(7).sample(rules, baseline_sample)
    one_by_one = [evaluate(client, watched, [rule], NOW, minutes).elapsed_ms for rule in sample]
    figures = {
        "rules": len(rules),
        "steps": STEPS,
        "spans": spans,
        "queries_per_cycle": queries,
        "first_cycle_ms": first.elapsed_ms,
        "cycle_ms_median": round(statistics.median(batched), 1),
        "cycle_ms_max": round(max(batched), 1),
        "cycle_cpu_ms_median": round(statistics.median(cpu_ms), 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "raw_only_cycle_ms_median": round(statistics.median(raw_only), 1),
        "one_by_one_cycle_ms_estimate": round(statistics.mean(one_by_one) * len(rules), 1),
    }
    print(f"  first cycle (counts {days:g} days of minutes once): {figures['first_cycle_ms']:.0f} ms")
    print(
        f"  one cycle, 200 rules batched into {queries} queries: median {figures['cycle_ms_median']:.0f} ms, "
        f"max {figures['cycle_ms_max']:.0f} ms over {cycles} cycles; "
        f"CPU {figures['cycle_cpu_ms_median']:.0f} ms (all threads, ClickHouse's included); "
        f"load average {figures['load_average_1m']}"
    )
    print(
        "  where a cycle's time goes (median ms per statement, in the order first run; cycles that did not run "
        "one count 0):\n    "
        + "\n    ".join(
            f"{what}: {statistics.median(ms + [0.0] * (cycles - len(ms))):.0f}" for what, ms in per_query.items()
        )
    )
    print(
        f"  the same without the minute counts (every window from raw spans): median "
        f"{figures['raw_only_cycle_ms_median']:.0f} ms"
    )
    print(
        f"  baseline, each rule on its own ({baseline_sample} sampled, times 200): "
        f"{figures['one_by_one_cycle_ms_estimate']:.0f} ms"
    )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, default=3.0, help="days of history before the cycles (default 3)")
    parser.add_argument(
        "--every", type=float, default=4.0, help="seconds between journeys through the 50 steps (default 4)"
    )
    parser.add_argument("--cycles", type=int, default=10, help="cycles measured, a simulated minute apart (default 10)")
    parser.add_argument(
        "--baseline-sample", type=int, default=20, help="rules evaluated one by one for the baseline (default 20)"
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="touchpoint-bench-cycle-cost-"))
    try:
        figures = cycle_cost(workdir, args.days, args.every, args.cycles, args.baseline_sample)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps({"cycle_cost": figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
