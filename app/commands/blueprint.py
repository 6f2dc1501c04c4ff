"""`touchpoint blueprint validate PATH...` and `touchpoint blueprint show ID`: blueprint files, offline.

Both read the files directly (no server, no database). ``validate`` prints every problem on its own line as
``file:line:column field value expectation`` and exits 1 if there is any, else prints ``ok: N blueprints``.
``show`` prints one blueprint of the blueprint directory (``--blueprints``, else TOUCHPOINT_BLUEPRINTS, else
blueprints/maps) as a readable outline, its YAML (``--yaml``) or its JSON model (``--json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path

from blueprints.errors import InvalidBlueprint, Problem
from blueprints.loader import load_blueprint
from blueprints.model import Blueprint, Objectives, Selector
from blueprints.patterns import format_duration

EXIT_OK, EXIT_INVALID = 0, 1
SUFFIX = ".yaml"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `blueprint validate` and `blueprint show`; each sets `func` to a function(args) -> exit code."""
    parser = subparsers.add_parser(
        "blueprint",
        help="validate or show blueprint files",
        description="Work with service-blueprint YAML files (see docs/blueprint-format.md).",
    )
    commands = parser.add_subparsers(dest="blueprint_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    validate = commands.add_parser(
        "validate",
        help="check blueprint files; exit 1 if any problem",
        description="Check blueprint files (a directory means its *.yaml files) and print every problem "
        "as file:line:column field value expectation.",
    )
    validate.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="a blueprint file or directory")
    validate.set_defaults(func=run_validate)

    show = commands.add_parser(
        "show",
        help="print one blueprint",
        description="Print a blueprint of the blueprint directory: an outline, its YAML or its JSON model.",
    )
    show.add_argument("blueprint_id", metavar="ID", help="the blueprint's id (its file name without .yaml)")
    show.add_argument(
        "--blueprints", type=Path, help="the blueprint directory (default TOUCHPOINT_BLUEPRINTS)"
    )
    form = show.add_mutually_exclusive_group()
    form.add_argument("--yaml", action="store_true", help="print the file as it is")
    form.add_argument("--json", action="store_true", help="print the validated model as JSON")
    show.set_defaults(func=run_show)


def run_validate(args: argparse.Namespace) -> int:
    """Validate every file named or found in the named directories; returns the exit code."""
    files, problems = blueprint_files(args.paths)
    valid = 0
    for path in files:
        try:
            load_blueprint(path)
        except InvalidBlueprint as exc:
            problems.extend(exc.problems)
        else:
            valid += 1
    for problem in problems:
        print(problem)
    if problems:
        invalid = len(files) - valid
        print(
            f"{len(problems)} problem{'s' if len(problems) != 1 else ''} "
            f"({invalid} of {len(files)} blueprint{'s' if len(files) != 1 else ''} invalid)",
            file=sys.stderr,
        )
        return EXIT_INVALID
    print(f"ok: {valid} blueprint{'s' if valid != 1 else ''}")
    return EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    """Print one blueprint; returns 1 when it is missing or invalid (with the problems)."""
    directory = args.blueprints if args.blueprints is not None else _default_directory()
    path = directory / f"{args.blueprint_id}{SUFFIX}"
    if not path.is_file():
        known = sorted(p.stem for p in directory.glob(f"*{SUFFIX}")) if directory.is_dir() else []
        hint = f" (known: {', '.join(known)})" if known else f" ({directory} holds no blueprints)"
        print(
            f"touchpoint blueprint show: no blueprint {args.blueprint_id!r} in {directory}{hint}",
            file=sys.stderr,
        )
        return EXIT_INVALID
    if args.yaml:
        sys.stdout.write(path.read_text(encoding="utf-8"))
        return EXIT_OK
    try:
        blueprint = load_blueprint(path)
    except InvalidBlueprint as exc:
        for problem in exc.problems:
            print(problem)
        return EXIT_INVALID
    if args.json:
        print(json.dumps(blueprint.to_document(), indent=2, ensure_ascii=False))
    else:
        print(describe(blueprint))
    return EXIT_OK


def blueprint_files(paths: Iterable[Path]) -> tuple[list[Path], list[Problem]]:
    """The files to check: files as named, directories' ``*.yaml`` (sorted); missing paths as problems."""
    files: list[Path] = []
    problems: list[Problem] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.glob(f"*{SUFFIX}") if p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            problems.append(
                Problem(str(path), (), "does not exist: expected a blueprint file or a directory")
            )
    return files, problems


def describe(blueprint: Blueprint) -> str:
    """A plain-text outline: stages with their steps by lane, flows, entry and exit, impact path."""
    lines = [f"{blueprint.id}: {blueprint.name}" + (f" (owner {blueprint.owner})" if blueprint.owner else "")]
    if blueprint.description:
        lines.append(blueprint.description)
    correlation = blueprint.correlation
    joined = "trace" if correlation.by_trace else f"span attribute {correlation.key}"
    timeout = format_duration(correlation.timeout_s)
    lines.append(f"journeys joined by {joined}, abandoned after {timeout} without a step")
    for stage in blueprint.stages:
        lines += ["", f"stage {stage.id}: {stage.name}"]
        for step in blueprint.steps_in(stage=stage.id):
            flags = [f for f, on in (("optional", step.optional), ("resolution", step.resolution)) if on]
            where = f" @{step.touchpoint}" if step.touchpoint else ""
            lines.append(
                f"  {step.lane.value:<10} {step.id}: {step.name}{where}" + "".join(f" [{f}]" for f in flags)
            )
            lines.append(f"  {'':<10}   binds {_selector(step.selector)}")
            objectives = _objectives(step.objectives)
            if objectives:
                lines.append(f"  {'':<10}   objectives {objectives}")
    if blueprint.flows:
        lines += ["", "flows"]
        for flow in blueprint.flows:
            lines.append(
                f"  {flow.source} -> {' | '.join(flow.to)}" + (" (optional)" if flow.optional else "")
            )
    lines += ["", f"start: {', '.join(blueprint.start_steps)}", f"end: {', '.join(blueprint.end_steps)}"]
    impact = {k: v for k, v in blueprint.impact_path.items() if v}
    if impact:
        lines += ["", "impact path (behind the line -> what the customer sees)"]
        lines += [f"  {behind} -> {', '.join(served)}" for behind, served in impact.items()]
    return "\n".join(lines)


def _selector(selector: Selector) -> str:
    parts = []
    if selector.service is not None:
        parts.append(f"service={selector.service}")
    if selector.span is not None:
        parts.append(f"span={selector.span.text!r} ({selector.span.kind.value})")
    parts += [f"{key}={value!r}" for key, value in selector.attributes.items()]
    if selector.step is not None:
        parts.append(f"blueprint.step={selector.step}")
    return " ".join(parts)


def _objectives(objectives: Objectives) -> str:
    parts = []
    if objectives.availability is not None:
        parts.append(f"availability {objectives.availability * 100:g}%")
    if objectives.latency is not None:
        parts.append(f"p{objectives.latency.percentile} <= {objectives.latency.threshold_ms:g} ms")
    if objectives.max_wait_s is not None:
        parts.append(f"wait <= {format_duration(objectives.max_wait_s)}")
    return ", ".join(parts)


def _default_directory() -> Path:
    from app.settings import Settings

    return Path(Settings().blueprints)  # type: ignore[call-arg]  # fields come from TOUCHPOINT_*
