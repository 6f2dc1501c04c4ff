"""Reading rules files: YAML → `RuleSet`, every mistake reported as `file:line:column field.path message`.

All problems of all files are collected before raising `RulesInvalid`, so one run of
`touchpoint alerts rules validate` shows everything to fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import AliasEvent

from alerts.errors import RuleProblem, RulesInvalid
from alerts.notify import AlertmanagerDestination, EmailDestination, SlackDestination, WebhookDestination
from alerts.rules import DESTINATION_ADAPTER, RULE_ADAPTER, RULE_ID, RULE_KINDS, Origin, RuleSet

SECTIONS = ("defaults", "rules", "destinations")
DEFAULT_FIELDS = ("blueprint", "severity", "for", "keep_firing_for", "labels", "enabled")
DESTINATION_KINDS: Mapping[str, type[BaseModel]] = {
    "webhook": WebhookDestination,
    "slack": SlackDestination,
    "email": EmailDestination,
    "alertmanager": AlertmanagerDestination,
}
Path_ = tuple[str | int, ...]
_PATTERNS = {
    RULE_ID: "must be lower-case letters, digits, '-', '_' or '.', starting with a letter or digit",
    r"^https?://": "must be an http:// or https:// URL",
}


class YamlTree:
    """A YAML document as plain Python values, remembering where each value and key was written (1-based)."""

    def __init__(self, file: str, root: Any) -> None:
        self.file = file
        self.values: dict[Path_, tuple[int, int]] = {}
        self.keys: dict[Path_, tuple[int, int]] = {}
        self.data = self._plain(root, ())

    def _plain(self, node: Any, path: Path_) -> Any:
        if isinstance(node, CommentedMap):
            out = {}
            for key, value in node.items():
                line, col = node.lc.key(key)
                self.keys[path + (str(key),)] = (line + 1, col + 1)
                vline, vcol = node.lc.value(key)
                self.values[path + (str(key),)] = (vline + 1, vcol + 1)
                out[str(key)] = self._plain(value, path + (str(key),))
            return out
        if isinstance(node, CommentedSeq):
            items = []
            for index, value in enumerate(node):
                position = node.lc.data.get(index) if node.lc.data else None
                if position:
                    self.values[path + (index,)] = (position[0] + 1, position[1] + 1)
                items.append(self._plain(value, path + (index,)))
            return items
        return node

    def where(self, path: Path_, key: bool = False) -> tuple[int, int]:
        """The position of `path` (its key when `key`), else of its nearest written ancestor."""
        table = self.keys if key else self.values
        for end in range(len(path), 0, -1):
            if path[:end] in table:
                return table[path[:end]]
            if path[:end] in self.values:
                return self.values[path[:end]]
        return (1, 1)


def format_path(path: Path_) -> str:
    """`('rules', 2, 'threshold')` as `rules[2].threshold`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map")
)


def unsafe_yaml(text: str, file: str) -> list[RuleProblem]:
    """What makes `text` unfit to load, located: aliases (a few bytes can expand to billions of items) and
    tags other than the plain ones (`!!python/…` and the like). Reads YAML events only: nothing is built."""
    problems = []
    for event in YAML(typ="rt").parse(text):
        mark = event.start_mark
        if isinstance(event, AliasEvent):
            problems.append(
                RuleProblem(
                    file,
                    mark.line + 1,
                    mark.column + 1,
                    "",
                    f"uses the YAML alias *{event.anchor}; aliases are not allowed here: write the value out",
                )
            )
        elif getattr(event, "tag", None) and str(event.tag) not in PLAIN_TAGS:
            problems.append(
                RuleProblem(
                    file,
                    mark.line + 1,
                    mark.column + 1,
                    "",
                    f"uses the YAML tag {event.tag}; only plain values are allowed",
                )
            )
    return problems


def read_yaml(path: Path, name: str | None = None) -> YamlTree:
    """Parse one YAML file, keeping positions; syntax errors become a located RulesInvalid."""
    shown = name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesInvalid([RuleProblem(shown, 1, 1, "", f"cannot be read: {exc.strerror}")]) from None
    try:
        unsafe = unsafe_yaml(text, shown)
        if unsafe:
            raise RulesInvalid(unsafe)
        root = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = ": ".join(p for p in (exc.context, exc.problem) if p) or str(exc)
        raise RulesInvalid([RuleProblem(shown, line, col, "", f"is not valid YAML: {problem}")]) from None
    return YamlTree(shown, root)


def load_rules(paths: Iterable[Path]) -> RuleSet:
    """Every rule and destination in `paths` (files, or directories of `*.yaml`/`*.yml`, sorted by name).

    Raises RulesInvalid listing every problem found, in file order.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        else:
            files.append(path)
    problems: list[RuleProblem] = []
    result = RuleSet()
    for file in files:
        try:
            loaded = load_rules_file(file)
        except RulesInvalid as exc:
            problems += exc.problems
            continue
        for item_id, origin in loaded.origins.items():
            if item_id in result.origins:
                first = result.origins[item_id]
                problems.append(
                    RuleProblem(
                        origin.file,
                        *origin.at("id"),
                        f"{origin.path}.id",
                        f"{item_id!r} is already defined at {first}",
                    )
                )
        result = result.merged(loaded)
    if problems:
        raise RulesInvalid(problems)
    return result


def load_rules_file(path: Path, name: str | None = None) -> RuleSet:
    """The rules and destinations of one file; raises RulesInvalid with every problem in it."""
    tree = read_yaml(path, name)
    problems: list[RuleProblem] = []

    def problem(at: Path_, message: str, key: bool = False) -> None:
        problems.append(RuleProblem(tree.file, *tree.where(at, key), format_path(at), message))

    data = tree.data if tree.data is not None else {}
    if not isinstance(data, dict):
        problem((), f"must be a mapping with {', '.join(SECTIONS)}, got {_kind_of(data)}")
        raise RulesInvalid(problems)
    for section in data:
        if section not in SECTIONS:
            problem((section,), f"is not a known section; expected one of {', '.join(SECTIONS)}", key=True)
    defaults = _mapping(data.get("defaults", {}), ("defaults",), problem)
    for name_ in defaults:
        if name_ not in DEFAULT_FIELDS:
            problem(
                ("defaults", name_),
                f"cannot be a default; defaults may set {', '.join(DEFAULT_FIELDS)}",
                key=True,
            )
    origins: dict[str, Origin] = {}
    usable_defaults = {k: v for k, v in defaults.items() if k in DEFAULT_FIELDS}
    rules = _read_section(tree, data, "rules", RULE_ADAPTER, RULE_KINDS, usable_defaults, origins, problem)
    destinations = _read_section(
        tree, data, "destinations", DESTINATION_ADAPTER, DESTINATION_KINDS, {}, origins, problem
    )
    problems.sort(key=lambda p: (p.line, p.column))
    if problems:
        raise RulesInvalid(_unique(problems))
    return RuleSet(tuple(rules), tuple(destinations), origins)


def _read_section(
    tree: YamlTree,
    data: Mapping[str, Any],
    section: str,
    adapter: TypeAdapter[Any],
    kinds: Mapping[str, type[BaseModel]],
    defaults: Mapping[str, Any],
    origins: dict[str, Origin],
    problem: Any,
) -> list[Any]:
    """The valid items of one list section (`rules`, `destinations`), `defaults` merged into each; every
    problem reported where it was written (a defaulted value at `defaults.<field>`)."""
    found = []
    for index, raw in enumerate(_sequence(data.get(section, []), (section,), problem)):
        at: Path_ = (section, index)
        item = _mapping(raw, at, problem)
        if not item:
            continue
        merged = {**defaults, **item}
        if isinstance(defaults.get("labels"), dict) and isinstance(item.get("labels"), dict):
            merged["labels"] = {**defaults["labels"], **item["labels"]}
        try:
            value = adapter.validate_python(merged)
        except ValidationError as exc:
            for error in exc.errors():
                loc = _location(error, kinds)
                from_defaults = bool(loc) and loc[0] not in item and loc[0] in defaults
                problem(
                    (("defaults",) if from_defaults else at) + loc,
                    _message(error, item, kinds),
                    key=error["type"] == "extra_forbidden",
                )
            continue
        if value.id in origins:
            problem(at + ("id",), f"{value.id!r} is already defined at {origins[value.id]}")
            continue
        found.append(value)
        origins[value.id] = _origin(tree, at, item)
    return found


def _origin(tree: YamlTree, at: Path_, item: Mapping[str, Any]) -> Origin:
    line, col = tree.where(at)
    fields = {name: tree.where(at + (name,)) for name in item}
    return Origin(tree.file, line, col, format_path(at), fields)


def _mapping(value: Any, at: Path_, problem: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    problem(at, f"must be a mapping, got {_kind_of(value)}")
    return {}


def _sequence(value: Any, at: Path_, problem: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    problem(at, f"must be a list, got {_kind_of(value)}")
    return []


def _kind_of(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _location(error: Any, kinds: Mapping[str, Any]) -> Path_:
    """Where in the item the error is: pydantic puts the union's tag first, the YAML has no such level."""
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return ("kind",)
    loc = tuple(error["loc"])
    return loc[1:] if loc and loc[0] in kinds else loc


def _unique(problems: list[RuleProblem]) -> list[RuleProblem]:
    seen: set[RuleProblem] = set()
    return [p for p in problems if not (p in seen or seen.add(p))]


def _choices(expected: str) -> str:
    found = re.findall(r"'([^']*)'|(\d+)", expected)
    return ", ".join(a or b for a, b in found) if found else expected


def _message(error: Any, item: Mapping[str, Any], kinds: Mapping[str, type[BaseModel]]) -> str:
    """A pydantic error as a sentence that names the bad value and what is expected."""
    kind, ctx, value = error["type"], error.get("ctx", {}), error.get("input")
    model = kinds.get(str(item.get("kind")))
    got = f", got {value!r}"
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        if model is None:
            return "is not a known field"
        known = sorted(f.alias or name for name, f in model.model_fields.items())
        return f"is not a known field; known: {', '.join(known)}"
    if kind in ("literal_error", "enum"):
        return f"{value!r} is not one of {_choices(str(ctx.get('expected', '')))}"
    if kind == "union_tag_invalid":
        return f"{ctx.get('tag')!r} is not one of {', '.join(kinds)}"
    if kind == "union_tag_not_found":
        return f"is required; one of {', '.join(kinds)}"
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    if kind in bounds:
        limit = next(iter(ctx.values()))
        return f"must be {bounds[kind]} {limit}{got}"
    if kind in ("float_parsing", "float_type"):
        return f"must be a number{got}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"must be a whole number{got}"
    if kind in ("bool_parsing", "bool_type"):
        return f"must be true or false{got}"
    if kind == "string_type":
        return f"must be text{got}"
    if kind == "string_pattern_mismatch":
        return f"{value!r} {_PATTERNS.get(str(ctx.get('pattern')), 'must match ' + str(ctx.get('pattern')))}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a mapping, got {_kind_of(value)}"
    if kind in ("list_type", "tuple_type"):
        return f"must be a list, got {_kind_of(value)}"
    if kind == "too_short":
        least = ctx.get("min_length")
        return "must not be empty" if least == 1 else f"must have at least {least} items"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return f"{error['msg']}{got}"
