"""Checking a blueprint draft as the editor types it: each problem with its line, column and YAML path, in
the words of docs/blueprint-format.md. The blueprint model's own validation is used as well when it is
installed; these checks are what the editor can say before it is."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.error import MarkedYAMLError

from app.components.theme import LANES
from app.pages._edits import ACTORS, EditRefused, load
from blueprints.selectors import SelectorError, check_regex

BLUEPRINT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
STEP_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
CHANNELS = ("web", "mobile", "phone", "store", "email", "chat", "mail", "other")
PERCENTILES = (50, 90, 95, 99)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a draft: where (line:column and YAML path) and what is expected."""

    line: int | None
    column: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.line}:{self.column} " if self.line is not None else ""
        return f"{where}{self.path} {self.message}".strip()


def validate_text(text: str, blueprint_id: str | None = None) -> list[Problem]:
    """Every problem found in the YAML `text` of a blueprint (expected to have `blueprint_id`, when given):
    the blueprint loader's own verdict when it is installed, else the checks below."""
    try:
        from blueprints.errors import InvalidBlueprint
        from blueprints.loader import parse_blueprint
    except ImportError:
        return _own_checks(text, blueprint_id)
    try:
        parse_blueprint(text, f"{blueprint_id or 'draft'}.yaml", expected_id=blueprint_id)
    except InvalidBlueprint as invalid:
        return [_problem_of(p) for p in invalid.problems]
    return []


def _problem_of(problem: Any) -> Problem:
    from blueprints.errors import format_value

    value = f"{format_value(problem.value)} " if problem.has_value else ""
    return Problem(problem.line, problem.column, problem.field, value + problem.message)


def _own_checks(text: str, blueprint_id: str | None) -> list[Problem]:
    try:
        document = load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        return [Problem(line, column, "", f"is not valid YAML: {exc.problem}")]
    except EditRefused as exc:
        return [Problem(1, 1, "", str(exc))]
    return _check(document, blueprint_id)


def _at(node: Any, key: Any) -> tuple[int | None, int | None]:
    try:
        if isinstance(key, int):
            line, column = node.lc.item(key)
        else:
            line, column = node.lc.key(key)
        return line + 1, column + 1
    except (AttributeError, KeyError, IndexError, TypeError):
        return None, None


def _check(document: Mapping[str, Any], blueprint_id: str | None) -> list[Problem]:
    problems: list[Problem] = []

    def add(node: Any, key: Any, path: str, message: str) -> None:
        problems.append(Problem(*_at(node, key), path, message))

    identifier = document.get("id")
    if not isinstance(identifier, str) or not BLUEPRINT_ID.match(identifier):
        add(document, "id", "id", f"{identifier!r} must match [a-z0-9][a-z0-9-]{{0,62}}")
    elif blueprint_id and identifier != blueprint_id:
        add(document, "id", "id", f"{identifier!r} must equal the file name {blueprint_id!r}")
    stages = document.get("stages") or []
    stage_ids = {s.get("id") for s in stages if isinstance(s, Mapping)}
    if not stages:
        add(document, "stages", "stages", "needs at least one stage (id and name)")
    touchpoints = document.get("touchpoints") or []
    touchpoint_ids = set()
    for n, touchpoint in enumerate(touchpoints):
        path = f"touchpoints[{n}]"
        touchpoint_ids.add(touchpoint.get("id"))
        if touchpoint.get("channel", "other") not in CHANNELS:
            add(
                touchpoint,
                "channel",
                f"{path}.channel",
                f"{touchpoint.get('channel')!r} is not one of {', '.join(CHANNELS)}",
            )
        importance = touchpoint.get("importance", 1)
        if not isinstance(importance, int | float) or importance <= 0:
            add(touchpoint, "importance", f"{path}.importance", f"{importance!r} must be a number > 0")
    steps = document.get("steps") or []
    if not steps:
        add(document, "steps", "steps", "needs at least one step")
    seen: set[str] = set()
    for n, step in enumerate(steps):
        path = f"steps[{n}]"
        if not isinstance(step, Mapping):
            add(steps, n, path, "must be a mapping with id, name, lane and stage")
            continue
        step_id = step.get("id")
        if not isinstance(step_id, str) or not STEP_ID.match(step_id):
            add(step, "id", f"{path}.id", f"{step_id!r} must match [a-z0-9][a-z0-9_-]*")
        elif step_id in seen:
            add(step, "id", f"{path}.id", f"{step_id!r} is used by an earlier step")
        seen.add(str(step_id))
        if step.get("lane") not in LANES:
            add(step, "lane", f"{path}.lane", f"{step.get('lane')!r} is not one of {', '.join(LANES)}")
        if step.get("stage") not in stage_ids:
            add(
                step,
                "stage",
                f"{path}.stage",
                f"{step.get('stage')!r} is not a stage id ({', '.join(map(str, stage_ids))})",
            )
        if step.get("actor", "system") not in ACTORS:
            add(step, "actor", f"{path}.actor", f"{step.get('actor')!r} is not one of {', '.join(ACTORS)}")
        if step.get("touchpoint") is not None and step.get("touchpoint") not in touchpoint_ids:
            add(
                step, "touchpoint", f"{path}.touchpoint", f"{step.get('touchpoint')!r} is not a touchpoint id"
            )
        _check_select(step, path, add)
        _check_objectives(step, path, add)
    for n, flow in enumerate(document.get("flows") or []):
        targets = flow.get("to")
        for key, value in (
            ("from", flow.get("from")),
            *(("to", t) for t in (targets if isinstance(targets, list) else [targets])),
        ):
            if value not in seen:
                add(flow, key, f"flows[{n}].{key}", f"{value!r} is not a step id")
    for key in ("start", "end"):
        for value in document.get(key) or []:
            if value not in seen:
                add(document, key, key, f"{value!r} is not a step id")
    return problems


def _check_select(step: Mapping[str, Any], path: str, add: Any) -> None:
    select = step.get("select")
    if select is None:
        return
    span = select.get("span")
    if isinstance(span, str) and span.startswith("re:"):
        try:
            check_regex(span[3:], f"{path}.select.span")
        except SelectorError as exc:
            add(select, "span", f"{path}.select.span", str(exc))


def _check_objectives(step: Mapping[str, Any], path: str, add: Any) -> None:
    objectives = step.get("objectives")
    if objectives is None:
        return
    availability = objectives.get("availability")
    if availability is not None and not (isinstance(availability, int | float) and 0 < availability < 1):
        add(
            objectives,
            "availability",
            f"{path}.objectives.availability",
            f"{availability!r} must be a share between 0 and 1",
        )
    latency = objectives.get("latency")
    if latency is not None:
        if latency.get("percentile") not in PERCENTILES:
            add(
                latency,
                "percentile",
                f"{path}.objectives.latency.percentile",
                f"{latency.get('percentile')!r} is not one of 50, 90, 95, 99",
            )
        threshold = latency.get("threshold_ms")
        if not isinstance(threshold, int | float) or threshold <= 0:
            add(
                latency,
                "threshold_ms",
                f"{path}.objectives.latency.threshold_ms",
                f"{threshold!r} must be a number of milliseconds > 0",
            )
    wait = objectives.get("max_wait_s")
    if wait is not None and (not isinstance(wait, int | float) or wait <= 0):
        add(
            objectives,
            "max_wait_s",
            f"{path}.objectives.max_wait_s",
            f"{wait!r} must be a number of seconds > 0",
        )
