"""Waits between steps on a real event log, checked against pm4py: the help-desk log imported as
complete-only, zero-length step spans, edges computed by compute_state, compared per edge with pm4py's
discover_dfg (counts) and discover_performance_dfg (mean and median waits), and the top bottleneck edge by
total waiting time.

    python -m bench.pm4py_waits [--log ../shared/data/helpdesk.xes.gz] [--repeat 3]

pm4py is a bench/test dependency only (`pip install pm4py`). Both timings exclude reading the log: ours is
compute_state over spans already stored, pm4py's is its two DFG discoveries over its own event frame.
Prints the per-edge agreement, both timings and their ratio, then a JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from ruamel.yaml import YAML  # noqa: E402

from blueprints.state import StateOptions, compute_state  # noqa: E402
from collectors.db import connect  # noqa: E402
from collectors.eventlog import LogMapping, SpanOptions, events_to_spans, read_log, step_slug  # noqa: E402
from collectors.eventlog.model import Event  # noqa: E402
from collectors.schema import SPAN_INSERT_SETTINGS, TRACES_TABLE, migrate  # noqa: E402

DEFAULT_LOG = ROOT.parent / "shared" / "data" / "helpdesk.xes.gz"
SERVICE = "helpdesk"
TOLERANCE = 0.01
_COLUMNS = [
    "Timestamp", "TraceId", "SpanId", "SpanName", "SpanKind", "ServiceName", "SpanAttributes", "Duration",
    "StatusCode",
]  # fmt: skip


def load_spans(client: Any, log: Path) -> tuple[list[str], datetime, datetime]:
    """Insert the log's step spans; returns the activities (by first appearance) and the time range."""
    events = [e for e in read_log(log, LogMapping()) if isinstance(e, Event)]
    spans = list(events_to_spans(events, SpanOptions(source=SERVICE)))
    rows, activities = [], {}
    last_start: dict[bytes, int] = {}
    for span in spans:
        activities.setdefault(span.name, None)
        # Events of a case sharing a timestamp keep the log's order (pm4py's order) a microsecond apart:
        # spans have no other order among equal start times.
        start = max(span.start_ns, last_start.get(span.trace_id, -1000) + 1000)
        last_start[span.trace_id] = start
        rows.append([
            _utc(start), span.trace_id.hex(), span.span_id.hex(), span.name, "Internal", SERVICE,
            {str(k): _text(v) for k, v in dict(span.attributes).items()}, span.end_ns - span.start_ns,
            "Error" if span.error else "Ok",
        ])  # fmt: skip
    # years of daily partitions, inserted in time order
    rows.sort(key=lambda row: row[0])
    client.insert(TRACES_TABLE, rows, column_names=_COLUMNS, settings=SPAN_INSERT_SETTINGS)
    first = min(s.start_ns for s in spans) / 1e9
    last = max(s.end_ns for s in spans) / 1e9 + 1
    return list(activities), datetime.fromtimestamp(first, UTC), datetime.fromtimestamp(last, UTC)


def blueprint_for(activities: list[str]) -> Any:
    """One step per activity, selected by span name; journeys are cases (journey.id)."""
    from io import StringIO

    from state_scenario import blueprint

    document = {
        "id": "helpdesk",
        "name": "Help desk",
        "correlation": {"key": "journey.id", "timeout": "3650d"},
        "stages": [{"id": "all", "name": "All"}],
        "steps": [
            {
                "id": step_slug(a),
                "name": a,
                "lane": "backstage",
                "stage": "all",
                "actor": "person",
                "select": {"service": SERVICE, "span": a},
            }
            for a in activities
        ],  # fmt: skip
    }
    text = StringIO()
    YAML().dump(document, text)
    return blueprint(text.getvalue())


def pm4py_edges(
    log: Path,
) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], dict[str, float]], float]:
    """pm4py's DFG counts and performance (seconds) per edge, and the median time of both discoveries."""
    logging.getLogger("pm4py").setLevel(logging.ERROR)
    import pm4py

    frame = pm4py.read_xes(str(log))
    times, counts, performance = [], {}, {}
    for _ in range(3):
        began = time.perf_counter()
        counts, _, _ = pm4py.discover_dfg(frame)
        performance, _, _ = pm4py.discover_performance_dfg(frame)
        times.append((time.perf_counter() - began) * 1000)
    return dict(counts), dict(performance), statistics.median(times)


def storage_costs(client: Any, bp: Any, start: datetime, end: datetime, repeat: int) -> dict[str, float]:
    """The part of our time that is storage layout: how many daily parts the log fills, how long merely
    counting its spans takes, and how long the journey pass takes over the same spans in one partition."""
    from blueprints.journey_graph import journey_graph
    from blueprints.state_sql import Scan, journey_query
    from blueprints.trace_columns import trace_columns

    parts = client.query(
        "SELECT count() FROM system.parts "
        "WHERE active AND database = currentDatabase() AND table = {t:String}",
        parameters={"t": TRACES_TABLE},
    ).result_rows[0][0]
    count_sql = (
        f"SELECT count() FROM {TRACES_TABLE} "
        "WHERE Timestamp >= {s:DateTime64(9)} AND Timestamp < {e:DateTime64(9)}"
    )
    floor = _median_ms(repeat, lambda: client.query(count_sql, parameters={"s": start, "e": end}))
    client.command(
        f"CREATE TABLE one_partition AS {TRACES_TABLE} "
        "ENGINE = MergeTree PARTITION BY tuple() ORDER BY (ServiceName, SpanName, Timestamp)"
    )
    client.command(f"INSERT INTO one_partition SELECT * FROM {TRACES_TABLE}")
    client.command("OPTIMIZE TABLE one_partition FINAL")
    scan = Scan(start, end, start, 86400 * 30, end)
    query = journey_query(bp, journey_graph(bp), scan, trace_columns(client), table="one_partition")
    one_part = _median_ms(repeat, lambda: client.query(query.sql, parameters=query.params, settings=query.settings))
    return {"parts": float(parts), "count_ms": floor, "one_partition_ms": one_part}


def compare(
    ours: dict[tuple[str, str], Any], counts: dict, performance: dict
) -> tuple[dict[str, float], list[str]]:
    """The largest relative difference per figure over all edges, and every disagreement beyond tolerance."""
    worst = {"count": 0.0, "mean": 0.0, "median": 0.0}
    disagreements = []
    for edge in sorted(set(counts) | set(ours)):
        mine = ours.get(edge)
        if mine is None or edge not in counts:
            disagreements.append(f"{edge[0]} -> {edge[1]}: only in {'pm4py' if mine is None else 'ours'}")
            continue
        pairs = {
            "count": (mine.count, counts[edge]),
            "mean": (mine.wait_mean_s, performance[edge]["mean"]),
            "median": (mine.wait_p50_s, performance[edge]["median"]),
        }
        for what, (a, b) in pairs.items():
            error = abs((a or 0.0) - b) / abs(b) if b else abs(a or 0.0)
            worst[what] = max(worst[what], error)
            if error > TOLERANCE:
                disagreements.append(f"{edge[0]} -> {edge[1]} {what}: ours {a}, pm4py {b}")
    return worst, disagreements


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--log", type=Path, default=DEFAULT_LOG)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    client = connect(f"chdb://{tempfile.mkdtemp(prefix='tp-bench-pm4py-')}?database=bench")
    migrate(client)
    activities, first, last = load_spans(client, args.log)
    bp = blueprint_for(activities)
    names = {step_slug(a): a for a in activities}
    start, end = first - timedelta(seconds=1), last + timedelta(seconds=1)
    options = StateOptions(source="raw", series_points=12)
    state = compute_state(client, bp, start, end, end, options)
    ours_ms = _median_ms(args.repeat, lambda: compute_state(client, bp, start, end, end, options))
    storage = storage_costs(client, bp, start, end, args.repeat)
    ours = {(names[e.from_step], names[e.to_step]): e for e in state.edges}

    counts, performance, theirs_ms = pm4py_edges(args.log)
    worst, disagreements = compare(ours, counts, performance)
    top_ours = max(ours, key=lambda e: (ours[e].wait_mean_s or 0) * ours[e].count)
    top_theirs = max(performance, key=lambda e: performance[e]["mean"] * counts[e])
    same_top = top_ours == top_theirs
    print(
        f"{args.log.name}: {sum(e.count for e in state.edges):,} transitions on {len(ours)} edges "
        f"(pm4py: {sum(counts.values()):,} on {len(counts)})"
    )
    print(
        f"  largest relative difference per edge: count {worst['count']:.3%}, "
        f"mean wait {worst['mean']:.3%}, median wait {worst['median']:.3%} (tolerance {TOLERANCE:.0%})"
    )
    for line in disagreements[:10]:
        print(f"  differs: {line}")
    print(
        f"  top bottleneck edge by total waiting: ours {' -> '.join(top_ours)}, "
        f"pm4py {' -> '.join(top_theirs)}: {'same' if same_top else 'DIFFERENT'}"
    )
    if state.bottleneck:
        print(f"  our first bottleneck: {state.bottleneck[0].evidence}")
    print(
        f"  compute_state (the whole state from raw spans): median {ours_ms:.0f} ms; "
        f"pm4py discover_dfg + discover_performance_dfg in memory: median {theirs_ms:.0f} ms "
        f"(pm4py / ours = {theirs_ms / ours_ms:.2f})"
    )
    print(
        f"  storage: the log fills {storage['parts']:.0f} daily parts; counting its spans alone takes "
        f"{storage['count_ms']:.0f} ms; the journey pass over the same spans in one partition "
        f"takes {storage['one_partition_ms']:.0f} ms"
    )
    figures = {
        "edges": len(ours),
        "pm4py_edges": len(counts),
        "worst": worst,
        "disagreements": len(disagreements),
        "top_edge_same": same_top,
        "ours_ms": round(ours_ms, 1),
        "pm4py_ms": round(theirs_ms, 1),
        **{k: round(v, 1) for k, v in storage.items()},
    }
    print(json.dumps(figures))
    client.close()
    return 0 if not disagreements and same_top else 1


def _median_ms(repeat: int, run: Any) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def _utc(nanoseconds: int) -> datetime:
    """A naive UTC datetime (microseconds), as the client writes into DateTime64(9)."""
    return datetime(1970, 1, 1) + timedelta(microseconds=nanoseconds // 1000)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
