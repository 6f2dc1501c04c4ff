"""Alert detection benchmark: injected faults vs alerts raised, in simulated time; and the cost of one cycle.

    python -m bench.detection [--rate 1.5] [--warmup 3h] [--interval 60] [--seed 7] [--skip-cost]

(1) Detection. The demo plays its three journeys (support line, online order, store visit) with `--warmup` of
    ordinary traffic, one quiet hour, then four rounds of faults (one per blueprint at a time, 10 minutes
    each, 20 minutes apart): every fault kind twice. Spans go straight into a fresh embedded ClickHouse with
    their simulated timestamps; the alert engine's evaluation and pipeline then run at simulated instants
    every `--interval` seconds from the start of the quiet hour, with the shipped rules (alerts/rules) and the
    rules generated from the shipped maps. Scored against the demo's ground-truth log
    (bench/detection_scoring.py): recall, precision, alerts during the quiet hour, and detection delay in
    seconds and in intervals.
(2) Cost. One evaluation cycle of 200 rules over a 50-step blueprint (bench/alert_cycle_cost.py), batched, and
    the same rules evaluated one by one as the baseline.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerts.book import AlertBook  # noqa: E402
from alerts.durations import format_duration, parse_duration  # noqa: E402
from alerts.engine import AlertEngine  # noqa: E402
from alerts.notify import WebhookDestination  # noqa: E402
from alerts.rule_source import RuleSource, directory_blueprints  # noqa: E402
from alerts.store import AlertStore  # noqa: E402
from app.demo import DemoConfig, FaultSpec, simulate  # noqa: E402
from bench.detection_scoring import Fired, score  # noqa: E402
from collectors.db import connect  # noqa: E402
from collectors.exporter import ClickHouseSpanExporter  # noqa: E402
from collectors.schema import migrate  # noqa: E402

START = datetime(2024, 5, 6, 6, 0, tzinfo=UTC)
GRACE = timedelta(minutes=15)
ROUNDS = (  # (minutes after the quiet hour, faults): one fault per blueprint per round
    (
        5,
        (
            "failure:online-order/checkout=0.5",
            "queue:support-line/agent-greeting=0.25",
            "dark:store-visit/mobile-app",
        ),
    ),
    (
        35,
        (
            "latency:support-line/crm-lookup=5",
            "skip:online-order/review-cart",
            "cascade:store-visit/inventory-check",
        ),
    ),
    (
        65,
        (
            "failure:support-line/ivr-menu=0.5",
            "queue:store-visit/counter-service=0.25",
            "dark:online-order/order-emails",
        ),
    ),
    (
        95,
        (
            "latency:online-order/search=5",
            "skip:support-line/ivr-menu",
            "cascade:store-visit/card-authorization",
        ),
    ),
)
FAULT_MINUTES = 10
TAIL = timedelta(minutes=30)


def fault_specs(warmup: timedelta) -> tuple[FaultSpec, ...]:
    """The faults, placed after the warm-up and the quiet hour."""
    specs = []
    for offset, texts in ROUNDS:
        start = warmup + timedelta(hours=1, minutes=offset)
        for text in texts:
            kind_target, _, magnitude = text.partition("=")
            timing = f"@{format_duration(start)}/{FAULT_MINUTES}m"
            specs.append(FaultSpec.parse(kind_target + timing + (f"={magnitude}" if magnitude else "")))
    return tuple(specs)


def generate(dsn: str, config: DemoConfig) -> tuple[object, float]:
    """Play `config` into ClickHouse; the demo's result and the seconds it took."""
    exporter = ClickHouseSpanExporter(dsn=dsn)
    started = time.perf_counter()
    result = simulate(config, lambda: exporter)
    exporter.shutdown()
    return result, time.perf_counter() - started


def run_alerts(client: object, start: datetime, end: datetime, interval: timedelta) -> tuple[list[Fired], list[float]]:
    """Run the alert engine at every simulated instant; every alert that fired, and the cycle times (ms).

    A dry-run destination that takes every alert shows which alerts would have paged on their own.
    """
    source = RuleSource(ROOT / "alerts" / "rules", directory_blueprints(ROOT / "blueprints" / "maps"))
    everyone = WebhookDestination(id="bench", url="http://127.0.0.1:9/not-sent")
    engine = AlertEngine(AlertBook(AlertStore(lambda: client)), source, lambda: client, dry_run=(everyone,))
    fired: dict[str, dict] = {}
    cycle_ms: list[float] = []
    now = start
    while now <= end:
        cycle = engine.run_once(now)
        cycle_ms.append(engine.status.elapsed_ms)
        for event in cycle.events:
            if event.action == "firing":
                alert = cycle.alerts[event.alert_id]
                fired[alert.id] = {"alert": alert, "paged": False, "caused_by": alert.caused_by}
        for alert in cycle.alerts.values():
            if alert.id in fired and alert.caused_by:
                fired[alert.id]["caused_by"] = alert.caused_by
        for notification in cycle.notifications:
            if notification.status == "firing":
                for alert in notification.alerts:
                    if alert.id in fired:
                        fired[alert.id]["paged"] = True
        now += interval
    engine.stop()
    found = [f["alert"] for f in fired.values()]
    return [
        Fired(
            a.id,
            a.rule_id,
            a.kind,
            a.blueprint,
            a.step,
            a.touchpoint,
            a.fired_at,
            fired[a.id]["paged"],
            fired[a.id]["caused_by"],
        )
        for a in found
    ], cycle_ms


def touchpoints_of_steps(source_dir: Path) -> dict[tuple[str, str], str]:
    models = directory_blueprints(source_dir)()
    return {(bid, s.id): s.touchpoint for bid, m in models.items() for s in m.steps if getattr(s, "touchpoint", None)}


def detection(args: argparse.Namespace, workdir: Path) -> dict:
    warmup = parse_duration(args.warmup)
    specs = fault_specs(warmup)
    last_end = warmup + timedelta(hours=1, minutes=ROUNDS[-1][0] + FAULT_MINUTES)
    config = DemoConfig(start=START, duration=last_end + TAIL, rate=args.rate, seed=args.seed, faults=specs)
    dsn = f"chdb://{workdir / 'detection'}"
    client = connect(dsn)
    migrate(client)
    result, generate_s = generate(dsn, config)
    spans = client.query("SELECT count() FROM otel_traces").result_rows[0][0]
    print(
        f"generated {spans:,} spans ({result.journeys_started:,} journeys, {len(result.faults)} faults) over "
        f"{format_duration(config.duration)} simulated, in {generate_s:.0f} s",
        flush=True,
    )

    interval = timedelta(seconds=args.interval)
    quiet_start, quiet_end = START + warmup, START + warmup + timedelta(hours=1)
    fired, cycle_ms = run_alerts(client, quiet_start, START + config.duration, interval)
    quiet = [a for a in fired if quiet_start <= a.fired_at < quiet_end]
    result_score = score(
        [a for a in fired if a.fired_at >= quiet_end],
        result.faults,
        GRACE,
        touchpoints_of_steps(ROOT / "blueprints" / "maps"),
    )

    print(
        f"\nevaluated every {args.interval:g} s of simulated time from {quiet_start:%H:%M} to "
        f"{START + config.duration:%H:%M} UTC: {len(cycle_ms)} cycles, "
        f"median {statistics.median(cycle_ms):.0f} ms, "
        f"p95 {sorted(cycle_ms)[int(0.95 * len(cycle_ms))]:.0f} ms per cycle"
    )
    print(f"\nquiet hour ({quiet_start:%H:%M}-{quiet_end:%H:%M}): {len(quiet)} alerts")
    for a in quiet:
        print(f"  {a.fired_at:%H:%M} {a.rule_id}")
    print(f"\n{'fault':55} {'detected by':48} {'delay':>8}")
    for d in result_score.detections:
        f = d.fault
        what = f"{f.kind}:{f.blueprint}/{f.step or f.touchpoint} {f.start:%H:%M}-{f.end:%H:%M}"
        delay = f"{d.delay_s:.0f} s" if d.delay_s is not None else "missed"
        linked = f"  ({d.linked_effects} customer-facing alerts linked to it)" if f.kind == "cascade" else ""
        print(f"{what:55} {(d.first.rule_id if d.first else '-'):48} {delay:>8}{linked}")
    print(f"\nalerts fired after the quiet hour: {result_score.fired}, paged separately: {result_score.paged}")
    for a in result_score.unexplained:
        print(f"  unexplained: {a.fired_at:%H:%M} {a.rule_id} ({'paged' if a.paged else 'linked'})")
    delays = [d.delay_s for d in result_score.detections if d.delay_s is not None]
    figures = {
        "recall": round(result_score.recall, 4),
        "precision_paged": None if result_score.precision_paged is None else round(result_score.precision_paged, 4),
        "precision_all_fired": None if result_score.precision_all is None else round(result_score.precision_all, 4),
        "quiet_hour_alerts": len(quiet),
        "median_delay_s": result_score.median_delay_s,
        "median_delay_intervals": None if not delays else round(statistics.median(delays) / args.interval, 2),
        "max_delay_s": max(delays) if delays else None,
        "interval_s": args.interval,
        "cycle_ms_median": round(statistics.median(cycle_ms), 1),
        "spans": spans,
        "generate_s": round(generate_s, 1),
    }
    print(
        f"\nrecall {figures['recall']:.0%}  precision (paged) {figures['precision_paged']}  "
        f"precision (all fired) {figures['precision_all_fired']}  quiet-hour alerts {len(quiet)}  "
        f"median delay {figures['median_delay_s']} s = {figures['median_delay_intervals']} intervals"
    )
    return figures


def cost_in_own_process() -> dict:
    """The cost part's figures, measured by a fresh process: the embedded engine serves one data directory per
    process, and the detection part's is already open."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.detection", "--skip-detection"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    lines = done.stdout.strip().splitlines()
    print("\n".join(lines[:-1]), flush=True)
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the cycle cost run failed with exit status {done.returncode}")
    return json.loads(lines[-1])["cycle_cost"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1.5, help="journeys per second, all scenarios (default 1.5)")
    parser.add_argument("--warmup", default="3h", help="ordinary traffic before the quiet hour (default 3h)")
    parser.add_argument("--interval", type=float, default=60.0, help="evaluation interval, simulated s (default 60)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-cost", action="store_true", help="only the detection part")
    parser.add_argument("--skip-detection", action="store_true", help="only the cost part")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="touchpoint-bench-detection-"))
    figures: dict = {}
    try:
        if not args.skip_detection:
            figures["detection"] = detection(args, workdir)
        if not args.skip_cost and not args.skip_detection:
            figures["cycle_cost"] = cost_in_own_process()
        elif not args.skip_cost:
            from bench.alert_cycle_cost import cycle_cost

            figures["cycle_cost"] = cycle_cost(workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
