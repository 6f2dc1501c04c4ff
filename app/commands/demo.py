"""`touchpoint demo`: play realistic customer journeys (with injected faults) into a Touchpoint server."""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from app.demo.durations import parse_duration
from app.demo.errors import DemoError, FaultSyntaxError, ServerUnreachable
from app.demo.faults import FaultSpec, fault_help
from app.demo.scenarios import SCENARIOS

if TYPE_CHECKING:
    from app.demo.runner import DemoResult

DEFAULT_URL = "http://127.0.0.1:8050"
DEFAULT_TRUTH = Path(".touchpoint/demo-truth.jsonl")
SCENARIO_IDS = tuple(SCENARIOS)

_EPILOG = f"""\
faults (--fault, repeatable):
{fault_help(SCENARIOS)}

modes:
  live (default)      journeys play in real time from now, for --duration or until Ctrl-C
  --backfill 1h       the past hour is sent as fast as the server takes it, ending now
  --backfill 1h --follow [--duration 30m]
                      the same, then the journeys carry on live

Every fault injected is appended to the --truth file (JSON Lines: kind, blueprint, step,
start, end in UTC, magnitude). Exit status: 0 done, 1 the server could not be reached or
refused spans, 2 bad arguments.
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `demo` subcommand to `subparsers`; its `func` runs it and returns an exit code."""
    p = subparsers.add_parser(
        "demo",
        help="play realistic customer journeys (support line, online order, store visit) as spans",
        description="Play realistic customer journeys as OpenTelemetry spans into a Touchpoint server.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--url",
        help=f"the Touchpoint server (default {DEFAULT_URL}, env TOUCHPOINT_URL); spans go to URL/v1/traces",
    )
    p.add_argument(
        "--rate",
        type=_positive_float,
        default=0.5,
        help="journeys per second, all scenarios together (default 0.5)",
    )
    p.add_argument(
        "--duration", type=_duration, help="how long to play live, e.g. 10m (default: until Ctrl-C)"
    )
    p.add_argument(
        "--backfill",
        type=_duration,
        help="send this much past traffic as fast as possible, ending now, e.g. 1h",
    )
    p.add_argument("--follow", action="store_true", help="after --backfill, keep playing live")
    p.add_argument(
        "--scenario",
        action="append",
        choices=SCENARIO_IDS,
        dest="scenarios",
        help="play only this scenario (repeatable; default all)",
    )
    p.add_argument("--seed", type=int, help="same seed, same journeys and ids (default: random, printed)")
    p.add_argument(
        "--fault",
        action="append",
        type=_fault,
        dest="faults",
        default=[],
        metavar="KIND:BLUEPRINT/TARGET[@START[/DURATION]][=MAGNITUDE]",
        help="inject a fault (see below)",
    )
    p.add_argument(
        "--truth",
        type=Path,
        default=DEFAULT_TRUTH,
        help=f"ground-truth log of injected faults (default {DEFAULT_TRUTH})",
    )
    p.add_argument(
        "--no-health-checks",
        action="store_false",
        dest="health_checks",
        help="do not send the load balancer's health-check spans (unmapped noise)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=run)


@dataclass(frozen=True)
class DemoOptions:
    """The demo's settings, from flags and the environment."""

    url: str
    rate: float
    duration: timedelta | None
    backfill: timedelta | None
    follow: bool
    scenarios: tuple[str, ...]
    seed: int
    faults: tuple[FaultSpec, ...]
    truth: Path
    health_checks: bool
    quiet: bool

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> DemoOptions:
        """Options from parsed flags; the shared settings' `url` (env TOUCHPOINT_URL) stands in for a missing
        --url; a random seed if none."""
        if args.backfill is not None and args.duration is not None and not args.follow:
            raise DemoError("--duration with --backfill needs --follow (play live after the backfill)")
        if args.follow and args.backfill is None:
            raise DemoError("--follow needs --backfill")
        return cls(
            url=args.url or _settings_url(),
            rate=args.rate,
            duration=args.duration,
            backfill=args.backfill,
            follow=args.follow,
            scenarios=tuple(args.scenarios or SCENARIO_IDS),
            seed=args.seed if args.seed is not None else random.SystemRandom().randrange(10**6),
            faults=tuple(args.faults),
            truth=args.truth,
            health_checks=args.health_checks,
            quiet=args.quiet,
        )


def run(args: argparse.Namespace) -> int:
    """Run `touchpoint demo`; returns the exit status."""
    from app.demo.otlp import check_server, otlp_exporter_factory, quiet_sdk_logs
    from app.demo.progress import ProgressLine
    from app.demo.runner import DemoConfig, play, simulate
    from app.demo.truth import TruthLog

    try:
        options = DemoOptions.from_args(args)
        now = datetime.now(UTC)
        start = now - options.backfill if options.backfill is not None else now
        if options.backfill is not None and not options.follow:
            duration: timedelta | None = options.backfill
        elif options.backfill is not None:
            duration = None if options.duration is None else options.backfill + options.duration
        else:
            duration = options.duration
        config = DemoConfig(
            start=start,
            duration=duration,
            rate=options.rate,
            scenarios=options.scenarios,
            seed=options.seed,
            faults=options.faults,
            health_checks=options.health_checks,
        )
        config.fault_windows()
    except DemoError as exc:
        print(f"touchpoint demo: {exc}", file=sys.stderr)
        return 2

    truth = TruthLog(options.truth)
    try:
        truth.ensure_writable()
    except OSError as exc:
        print(
            f"touchpoint demo: cannot write the truth log {options.truth}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    quiet_sdk_logs()
    line = None if options.quiet else ProgressLine(sys.stderr)
    print(
        f"touchpoint demo: {', '.join(config.scenarios)} at {config.rate:g} journeys/s, seed {config.seed}"
        f" -> {options.url.rstrip('/')}/v1/traces",
        flush=True,
    )
    try:
        check_server(options.url)
    except ServerUnreachable as exc:
        print(f"touchpoint demo: {exc}", file=sys.stderr)
        return 1
    on_progress = None if line is None else line.show
    exporters = otlp_exporter_factory(options.url)
    try:
        if options.backfill is not None and not options.follow:
            result = simulate(config, exporters, on_progress=on_progress, on_truth=truth.write)
        else:
            result = play(
                config,
                exporters,
                clock=lambda: datetime.now(UTC),
                backfill=options.backfill,
                on_progress=on_progress,
                on_truth=truth.write,
            )
    except ServerUnreachable as exc:
        if line is not None:
            line.close()
        print(f"touchpoint demo: stopped: {exc}", file=sys.stderr)
        try:
            check_server(options.url, timeout_s=1.0)
        except ServerUnreachable as gone:
            print(f"touchpoint demo: {gone}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if line is not None:
            line.close()
        print("touchpoint demo: stopped by Ctrl-C during the backfill", file=sys.stderr)
        return 130
    if line is not None:
        line.close()
    print(_summary(result, options), flush=True)
    return 1 if result.send_errors else 0


def _summary(result: DemoResult, options: DemoOptions) -> str:
    text = (
        f"sent {result.spans_sent} spans from {result.journeys_started} journeys "
        f"({result.journeys_finished} finished); {result.send_errors} send errors"
    )
    if result.faults:
        text += f"; {len(result.faults)} injected faults appended to {options.truth}"
    if result.interrupted:
        text += "; stopped by Ctrl-C"
    return text + f"; rerun with --seed {options.seed}"


def _settings_url() -> str:
    from pydantic import ValidationError

    from app.settings import Settings

    try:
        return str(Settings().url)  # type: ignore[call-arg]  # pydantic-settings fills the fields
    except ValidationError as exc:
        raise DemoError(f"the TOUCHPOINT_* environment is not valid: {exc.errors()[0]['msg']}") from None


def _duration(text: str) -> timedelta:
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value <= timedelta(0):
        raise argparse.ArgumentTypeError(f"{text!r} must be longer than 0s")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def _fault(text: str) -> FaultSpec:
    try:
        return FaultSpec.parse(text)
    except FaultSyntaxError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
