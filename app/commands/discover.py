"""`touchpoint discover`: draft a blueprint from the spans a running Touchpoint has seen.

The command asks the server (GET /api/v1/discover) and never opens the database itself: the embedded engine
belongs to the server process. Exit codes: 0 drafted, 1 bad arguments or an empty draft, 2 the server is
unreachable or refused.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import requests
from pydantic import ValidationError

from app.settings import Settings

EXIT_OK, EXIT_BAD_INPUT, EXIT_SERVER = 0, 1, 2


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `discover` subcommand; its `func` default runs it and returns the exit code."""
    parser = subparsers.add_parser(
        "discover",
        help="draft a blueprint from observed spans",
        description="Draft a service blueprint from the spans a running Touchpoint has stored: steps from "
        "the busiest service and span names, flows from the transitions journeys make, lanes and stages "
        "guessed. Prints YAML in the blueprint format, to be reviewed and edited.",
    )
    parser.add_argument(
        "--url", help="the Touchpoint server (default: TOUCHPOINT_URL, else http://127.0.0.1:8050)"
    )
    parser.add_argument("--window", default="1h", help="how far back to look: 15m, 2h, 1d (default 1h)")
    parser.add_argument("--from", dest="start", metavar="ISO", help="window start, ISO 8601 with offset")
    parser.add_argument("--to", dest="end", metavar="ISO", help="window end, ISO 8601 with offset")
    parser.add_argument("--id", default="discovered", help="the drafted blueprint's id (default discovered)")
    parser.add_argument("--out", type=Path, help="write the YAML to this file instead of standard output")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for the server (default 60)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run `touchpoint discover` with parsed arguments; returns the exit code."""
    if (args.start is None) != (args.end is None):
        print("touchpoint discover: give both --from and --to, or --window", file=sys.stderr)
        return EXIT_BAD_INPUT
    query = {"from": args.start, "to": args.end} if args.start else {"window": args.window}
    try:
        settings = Settings()
    except ValidationError as exc:
        print(
            f"touchpoint discover: the TOUCHPOINT_* environment is not valid: {exc.errors()[0]['msg']}",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    url = (args.url or str(settings.url)).rstrip("/") + "/api/v1/discover"
    token = settings.token.get_secret_value() if getattr(settings, "token", None) else None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        reply = requests.get(url, params={**query, "id": args.id}, headers=headers, timeout=args.timeout)
    except requests.RequestException as problem:
        print(
            f"touchpoint discover: cannot reach {url}: {problem.__class__.__name__}: {problem}",
            file=sys.stderr,
        )
        return EXIT_SERVER
    if reply.status_code == 400:
        print(f"touchpoint discover: {_message(reply)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if reply.status_code in (401, 403):
        print(
            f"touchpoint discover: {url} refused: {_message(reply)} "
            "(set TOUCHPOINT_TOKEN to an API token the server knows)",
            file=sys.stderr,
        )
        return EXIT_SERVER
    if reply.status_code != 200:
        print(f"touchpoint discover: {url} answered {reply.status_code}: {_message(reply)}", file=sys.stderr)
        return EXIT_SERVER
    draft = reply.json()
    if not draft["steps"]:
        window = draft["window"]
        print(
            f"touchpoint discover: no span name was seen often enough between {window['start']} and "
            f"{window['end']} to become a step; try a longer --window",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    if args.out is not None:
        args.out.write_text(draft["yaml"], encoding="utf-8")
        print(
            f"{args.out}: {draft['steps']} steps from {draft['spans']:,} spans "
            f"in {draft['journeys']:,} journeys"
        )
    else:
        sys.stdout.write(draft["yaml"])
    return EXIT_OK


def _message(reply: requests.Response) -> str:
    try:
        return str(reply.json().get("error", reply.text))
    except ValueError:
        return reply.text.strip()[:500]
