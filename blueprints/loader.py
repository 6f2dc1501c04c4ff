"""YAML text → validated :class:`Blueprint`, with every problem of a file reported at once, positioned.

Each problem reads ``file:line:column field value what-is-expected``, e.g.
``checkout.yaml:14:5 steps[2].lane 'backstag' is not one of evidence, customer, frontstage, backstage,
support``.
The position is that of the field's key (or of the list item), 1-based.

The YAML is read in ruamel's round-trip mode (comments and key order kept, so the store can edit a file in
place), in one pass: the text is composed into nodes, the nodes are checked, and only then are values
built. Refused, as unsafe or surprising: anchors and aliases (no "billion laughs": nothing is expanded
before the check), tags beyond the core types, several documents, nesting deeper than :data:`MAX_DEPTH`,
files larger than :data:`MAX_BYTES`, and keys given twice.
"""

from __future__ import annotations

import difflib
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import ComposerError
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

from blueprints.errors import InvalidBlueprint, Problem, format_path
from blueprints.model import SKIP_REFERENCE_CHECK, Blueprint
from blueprints.references import reference_problems

MAX_BYTES = 1_000_000
MAX_DEPTH = 32
_CORE_PREFIX = "tag:yaml.org,2002:"
_CORE_TAGS = frozenset(
    _CORE_PREFIX + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
)
_ALIASES_REFUSED = "anchors and aliases are not allowed in blueprints"

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Positions:
    """Where each field path sits in a YAML text: the key's (or list item's) 1-based line and column."""

    at: dict[FieldPath, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: FieldPath) -> tuple[int, int] | None:
        """Where ``path`` is, or its nearest ancestor present in the text (a missing field's parent)."""
        for end in range(len(path), -1, -1):
            found = self.at.get(path[:end])
            if found is not None:
                return found
        return None


@dataclass(frozen=True)
class ParsedYaml:
    """A YAML text read three ways: the round-trip tree (for in-place edits), plain data, and positions."""

    tree: Any  # CommentedMap for a blueprint; anything else is refused by validation
    data: Any
    positions: Positions


def round_trip_yaml() -> YAML:
    """A round-trip ruamel YAML instance set up as Touchpoint reads and writes blueprints (one per thread)."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


def read_yaml(text: str, source: str) -> ParsedYaml:
    """Parse YAML text safely; raises InvalidBlueprint (positioned) on syntax errors and refused input."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise InvalidBlueprint(source, [Problem(source, (), f"is larger than {MAX_BYTES} bytes: refused")])
    yaml = round_trip_yaml()
    try:
        node = yaml.compose(text)
        problems = _refused_nodes(node, source)
        if problems:
            raise InvalidBlueprint(source, problems)
        tree = yaml.constructor.construct_document(node) if node is not None else None
    except ComposerError as exc:
        if exc.context != "expected a single document in the stream":
            raise InvalidBlueprint(source, [_syntax_problem(exc, source)]) from None
        message = "holds more than one YAML document: expected one blueprint per file"
        raise InvalidBlueprint(source, [_marked(source, (), message, exc.problem_mark)]) from None
    except MarkedYAMLError as exc:
        raise InvalidBlueprint(source, [_syntax_problem(exc, source)]) from None
    except ReaderError as exc:  # a character YAML does not allow, reported by offset
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "?")
        message = f"is not valid YAML: the character U+{code:04X} is not allowed ({exc.reason})"
        raise InvalidBlueprint(source, [Problem(source, (), message, line=line, column=column)]) from None
    except RecursionError:  # nesting too deep even to compose; the node check catches shallower cases
        raise InvalidBlueprint(source, [Problem(source, (), _TOO_DEEP)]) from None
    positions: dict[FieldPath, tuple[int, int]] = {}
    data = _to_plain(tree, (), positions)
    if isinstance(tree, CommentedMap | CommentedSeq):
        positions.setdefault((), (tree.lc.line + 1, tree.lc.col + 1))
    return ParsedYaml(tree, data, Positions(positions))


def parse_blueprint(text: str, source: str = "<text>", expected_id: str | None = None) -> Blueprint:
    """Read and validate one blueprint from YAML text; ``expected_id`` is the id its file name demands."""
    parsed = read_yaml(text, source)
    return validate_document(parsed.data, source, expected_id, parsed.positions)


def load_blueprint(path: Path) -> Blueprint:
    """Read and validate a blueprint file; its id must equal the file name without ``.yaml``."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidBlueprint(source, [Problem(source, (), f"cannot be read: {exc}")]) from None
    return parse_blueprint(text, source, expected_id=path.stem)


def validate_document(
    data: Any, source: str, expected_id: str | None = None, positions: Positions | None = None
) -> Blueprint:
    """Validate plain data (parsed YAML or a JSON body) into a Blueprint, or raise every problem found."""
    if not isinstance(data, Mapping):
        what = "empty" if data is None else "not a mapping"
        problems = [Problem(source, (), f"is {what}: expected a blueprint with id, name, stages and steps")]
        raise InvalidBlueprint(source, _positioned(problems, positions))
    problems = []
    blueprint: Blueprint | None = None
    try:
        blueprint = Blueprint.model_validate(data, context={SKIP_REFERENCE_CHECK: True})
    except ValidationError as exc:
        problems.extend(_translate(e, source) for e in exc.errors(include_url=False) if not _spurious(e))
    problems.extend(reference_problems(data, source))
    found_id = data.get("id")
    if expected_id is not None and isinstance(found_id, str) and found_id != expected_id:
        message = f"does not match the file name: expected {expected_id!r} (the file is {expected_id}.yaml)"
        problems.append(Problem(source, ("id",), message, value=found_id, has_value=True))
    if problems or blueprint is None:
        raise InvalidBlueprint(source, _positioned(problems, positions))
    return blueprint


# -- safety check ------------------------------------------------------------------------------------------

_TOO_DEEP = f"is nested deeper than {MAX_DEPTH} levels: refused"


def _refused_nodes(root: Node | None, source: str) -> list[Problem]:
    """Anchors, aliases, unknown tags, deep nesting and repeated keys, found in document order.

    An alias is the same node object met a second time; the walk never enters it twice, so nothing expands.
    """
    problems: list[Problem] = []
    seen: set[int] = set()
    # (node, path, depth, mark of what refers to it: the key for mapping values)
    stack: list[tuple[Node, FieldPath, int, Any]] = [(root, (), 0, None)] if root is not None else []
    while stack:
        node, path, depth, referrer = stack.pop()
        if id(node) in seen:
            alias = f"the alias *{node.anchor}" if node.anchor else "an alias"
            message = f"uses {alias}: {_ALIASES_REFUSED}"
            problems.append(_marked(source, path, message, referrer or node.start_mark))
            continue
        seen.add(id(node))
        if node.anchor is not None:
            message = f"defines the anchor &{node.anchor}: {_ALIASES_REFUSED}"
            problems.append(_marked(source, path, message, node.start_mark))
        tag = str(node.tag)
        if tag not in _CORE_TAGS:
            shown = "!!" + tag.removeprefix(_CORE_PREFIX) if tag.startswith(_CORE_PREFIX) else tag
            problems.append(
                _marked(
                    source, path, f"has the tag {shown}: tags are not allowed in blueprints", node.start_mark
                )
            )
        if depth > MAX_DEPTH:
            problems.append(_marked(source, path, _TOO_DEEP, node.start_mark))
            continue
        children: list[tuple[Node, FieldPath, int, Any]] = []
        if isinstance(node, MappingNode):
            first_line: dict[str, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, ScalarNode):
                    problems.append(
                        _marked(source, path, "has a key that is not plain text", key_node.start_mark)
                    )
                    continue
                key = str(key_node.value)
                if key in first_line:
                    message = f"is given twice (first at line {first_line[key]})"
                    problems.append(_marked(source, (*path, key), message, key_node.start_mark))
                    continue
                first_line[key] = key_node.start_mark.line + 1
                children.append((value_node, (*path, key), depth + 1, key_node.start_mark))
        elif isinstance(node, SequenceNode):
            children = [(item, (*path, i), depth + 1, None) for i, item in enumerate(node.value)]
        stack.extend(reversed(children))  # document order: an anchor is met before its aliases
    return problems


def _marked(source: str, path: FieldPath, message: str, mark: Any) -> Problem:
    return Problem(source, path, message, line=mark.line + 1, column=mark.column + 1)


def _syntax_problem(exc: MarkedYAMLError, source: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    what = exc.problem or "could not be parsed"
    if exc.context:
        what += f" ({exc.context})"
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
    return Problem(source, (), f"is not valid YAML: {what}", line=line, column=column)


def _to_plain(node: Any, path: FieldPath, positions: dict[FieldPath, tuple[int, int]]) -> Any:
    """Plain dict/list/str/int/float/bool/None from ruamel's round-trip types, recording positions."""
    if isinstance(node, CommentedMap):
        out = {}
        for key, value in node.items():
            plain_key = str(key) if not isinstance(key, str) else key
            line, col = node.lc.key(key)
            positions[(*path, plain_key)] = (line + 1, col + 1)
            out[plain_key] = _to_plain(value, (*path, plain_key), positions)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, value in enumerate(node):
            line, col = node.lc.item(i)
            positions[(*path, i)] = (line + 1, col + 1)
            items.append(_to_plain(value, (*path, i), positions))
        return items
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, date):  # `2024-01-01` unquoted: keep the text the author wrote
        return node.isoformat()
    return node


# -- pydantic errors → problems ----------------------------------------------------------------------------

_PLAIN_MESSAGES = {
    "bool_type": "is not a boolean: expected true or false",
    "bool_parsing": "is not a boolean: expected true or false",
    "int_type": "is not a whole number",
    "int_parsing": "is not a whole number",
    "int_from_float": "is not a whole number",
    "float_type": "is not a number",
    "float_parsing": "is not a number",
    "string_type": "is not text",
    "list_type": "is not a list",
    "tuple_type": "is not a list",
    "dict_type": "is not a mapping",
}


def _spurious(error: ErrorDetails) -> bool:
    """A list reported too short only because some of its items failed (those are reported themselves)."""
    if error["type"] != "too_short":
        return False
    given = error.get("input")
    return isinstance(given, list) and len(given) >= int((error.get("ctx") or {}).get("min_length", 1))


def _translate(error: ErrorDetails, source: str) -> Problem:
    loc: FieldPath = tuple(error["loc"])
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return Problem(source, loc, "is missing")
    if kind == "extra_forbidden":
        return Problem(source, loc, _unknown_field_message(loc))
    if kind in ("enum", "literal_error"):
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        message = f"is not one of {expected}"
    elif kind in ("model_type", "model_attributes_type"):
        fields = _fields_at(loc)
        message = "is not a mapping" + (f": expected fields {', '.join(fields)}" if fields else "")
    elif kind == "too_short":
        message = f"has {ctx.get('actual_length', 0)} items: expected at least {ctx.get('min_length', 1)}"
    elif kind in _PLAIN_MESSAGES:
        message = _PLAIN_MESSAGES[kind]
    else:
        message = error["msg"]
        message = message.removeprefix("Value error, ")
        message = message[:1].lower() + message[1:]
    scalar = value is None or isinstance(value, str | int | float | bool)
    if isinstance(value, float) and not math.isfinite(value):
        scalar = True
    return Problem(source, loc, message, value=value if scalar else None, has_value=scalar)


def _unknown_field_message(loc: FieldPath) -> str:
    fields = _fields_at(loc[:-1])
    if not fields:
        return "is not a known field"
    message = f"is not a known field: expected one of {', '.join(fields)}"
    close = difflib.get_close_matches(str(loc[-1]), fields, n=1)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    return message


def _fields_at(path: FieldPath) -> list[str]:
    """The field names (YAML spelling) of the model found at ``path`` inside a Blueprint, if any."""
    model: Any = Blueprint
    for part in path:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        by_alias = {(f.alias or name): f for name, f in model.model_fields.items()}
        if part not in by_alias:
            return []
        model = _model_in(by_alias[part].annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or name for name, f in model.model_fields.items()]
    return []


def _model_in(annotation: Any) -> Any:
    """The BaseModel class inside ``X | None``, ``tuple[X, ...]`` or ``Annotated[...]``, if there is one."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _positioned(problems: list[Problem], positions: Positions | None) -> list[Problem]:
    """Problems with their line and column filled in, deduplicated, in file order."""
    out: dict[str, Problem] = {}
    for problem in problems:
        if positions is not None and problem.line is None:
            where = positions.locate(problem.path)
            if where is not None:
                problem = Problem(
                    problem.source,
                    problem.path,
                    problem.message,
                    where[0],
                    where[1],
                    problem.value,
                    problem.has_value,
                )
        out.setdefault(str(problem), problem)
    return sorted(out.values(), key=lambda p: (p.line or 0, p.column or 0, format_path(p.path)))
