"""The `touchpoint` command: serve, demo, import, blueprint, discover, …"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Each module offers register(subparsers); missing ones (not yet installed parts) are skipped.
COMMAND_MODULES = (
    "app.commands.serve",
    "app.commands.demo",
    "app.commands.import_log",
    "app.commands.blueprint",
    "app.commands.discover",
    "app.commands.alerts",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="touchpoint",
        description="Touchpoint: service blueprints, live from OpenTelemetry spans in ClickHouse.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
