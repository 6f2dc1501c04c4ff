"""`touchpoint serve`: the one process that owns the database."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("serve", help="run the server: OTLP receiver, JSON API and dashboard")
    p.add_argument(
        "--db", help="chdb://./dir (embedded, default chdb://./.touchpoint/data) or http(s)://… (env TOUCHPOINT_DB)"
    )
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8050)")
    p.add_argument("--blueprints", help="blueprint directory (default blueprints/maps)")
    p.add_argument("--threads", type=int, help="worker threads (default 16)")
    p.add_argument("--ttl-days", type=int, dest="ttl_days", help="keep spans this many days (default forever)")
    p.add_argument(
        "--no-alerts", action="store_false", dest="evaluate_alerts", default=None, help="do not evaluate alerts"
    )
    p.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace, fields: tuple[str, ...]) -> object:
    """Settings from the environment, overridden by the flags that were given."""
    from app.settings import Settings

    overrides = {f: getattr(args, f) for f in fields if getattr(args, f, None) is not None}
    return Settings(**overrides)


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from app.server import serve
    from collectors.errors import CollectorError

    try:
        settings = settings_from_args(
            args, ("db", "host", "port", "blueprints", "threads", "ttl_days", "evaluate_alerts")
        )
    except ValidationError as exc:
        for error in exc.errors():
            print(f"touchpoint serve: {'.'.join(map(str, error['loc']))}: {error['msg']}", file=sys.stderr)
        return 2

    def ready(url: str) -> None:
        print(
            f"Touchpoint is serving on {url}  (dashboard {url}/, OTLP {url}/v1/traces, API {url}/api/v1/)", flush=True
        )

    try:
        serve(settings, ready=ready)  # type: ignore[arg-type]
    except CollectorError as exc:
        print(f"touchpoint serve: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"touchpoint serve: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0
