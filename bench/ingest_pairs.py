"""Interleaved end-to-end ingest runs of differently configured servers, for comparing settings on a machine
whose pace moves within minutes.

    python -m bench.ingest_pairs --variant straight:TOUCHPOINT_LAND_ABOVE_SPANS_PER_S=0 --variant landing: \\
        [--rounds 4] [--seconds 20] [--batch 2048] [--clients 4]

Each round runs every variant once, in the order given, as bench.ingest's part (b): a fresh `touchpoint serve`
with the variant's environment, --clients clients posting prebuilt protobuf requests. Prints each run, then
every variant's mean and median spans/s and how many rounds it won.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import build_bodies, measure_end_to_end  # noqa: E402


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    """'name:KEY=value,KEY2=value' → (name, environment)."""
    name, _, assignments = text.partition(":")
    if not name:
        raise argparse.ArgumentTypeError(f"variant {text!r} needs a name before ':'")
    env = {}
    for item in filter(None, assignments.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"variant {text!r}: {item!r} is not KEY=value")
        env[key] = value
    return name, env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", type=parse_variant, action="append", required=True)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--batch", type=int, default=2048)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    bodies = build_bodies(64, args.batch, 6)
    rates: dict[str, list[float]] = {name: [] for name, _ in args.variant}
    for round_ in range(args.rounds):
        for name, env in args.variant:
            saved = dict(os.environ)
            os.environ.update(env)
            try:
                with tempfile.TemporaryDirectory() as workdir:
                    run = measure_end_to_end(bodies, args.batch, args.clients, args.seconds, Path(workdir))
            finally:
                os.environ.clear()
                os.environ.update(saved)
            rates[name].append(run["spans_per_s"])
            print(
                f"round {round_ + 1} {name}: {run['spans_per_s']:,.0f} spans/s, inserts of {run['rows_per_insert']:,} "
                f"rows taking {run['ms_per_insert']} ms, serving process {run['peak_rss_mb']:,.0f} MB RSS peak, "
                f"{run['acknowledged']:,} acknowledged, {run['stored']:,} stored",
                flush=True,
            )
    for name, values in rates.items():
        won = sum(v == max(r[i] for r in rates.values()) for i, v in enumerate(values))
        print(
            f"{name}: mean {statistics.mean(values):,.0f}, median {statistics.median(values):,.0f} spans/s, "
            f"won {won} of {len(values)} rounds"
        )


if __name__ == "__main__":
    main()
