"""Binding spans to steps: a blueprint's selectors compiled into ClickHouse expressions.

This is the one place that says which `otel_traces` row belongs to which step and to which journey; the live
state, the rollups and the alert engine all build on these expressions. Values always travel as bound
parameters (`{name:Type}`); only validated column names are written into the SQL text.

Public API:

- :class:`SqlFragment` — an expression and the parameters it binds.
- :func:`step_index_expression` — 1-based position of the row's step in ``blueprint.steps``, 0 for none.
- :func:`step_expression` — the row's step id, ``''`` for none.
- :func:`journey_key_expression` — the key tying a row to its journey (``TraceId`` or an attribute).
- :func:`span_name_condition` — one span-name pattern (exact, glob, ``re:`` regex) as a condition.
- :func:`binding_filter` — the rows any step could bind by service and span name alone, so ClickHouse reads
  only those ranges of `otel_traces` (ordered by service, span name, time); None when a step binds by
  attributes alone.

When several steps could claim a span, the selector with more conditions wins (an `attributes` entry counts
one each), then the step declared first: `{service: a, span: x, attributes: {role: b}}` beats `{service: a,
span: x}` wherever they are declared.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

STEP_ATTRIBUTE = "blueprint.step"
JOURNEY_ATTRIBUTE = "journey.id"
TRACE_ID_KEY = "trace_id"
REGEX_PREFIX = "re:"

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PARAM_PREFIX = re.compile(r"^[a-z][a-z0-9_]{0,15}$")
# RE2 (ClickHouse's match()) has no look-around and no back-references: refuse them before ClickHouse does.
_NOT_RE2 = re.compile(r"\(\?<?[=!]|\\[1-9]")


class SelectorError(ValueError):
    """A selector that cannot become SQL: a bad regex, attribute key or column name."""


@dataclass(frozen=True)
class SqlFragment:
    """A ClickHouse expression and the bound parameters it refers to (`{name:Type}` placeholders)."""

    sql: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SpanColumns:
    """Where the fields selectors read live: `otel_traces` itself, or a rollup with the same meaning.

    `step_attribute` and `journey_attribute` name columns holding the `blueprint.step` and `journey.id`
    attributes (see :mod:`blueprints.trace_columns`); without them the attribute map is searched.
    `actor` names a column holding the actor's hash (0 for none); `journey_key` one holding cityHash64 of the
    `journey.id` attribute, or of TraceId where a span lacks it.
    """

    service: str = "ServiceName"
    span: str = "SpanName"
    attributes: str = "SpanAttributes"
    trace_id: str = "TraceId"
    step_attribute: str | None = None
    journey_attribute: str | None = None
    actor: str | None = None
    journey_key: str | None = None

    def __post_init__(self) -> None:
        for name in (self.service, self.span, self.attributes, self.trace_id):
            identifier(name)
        for optional in (self.step_attribute, self.journey_attribute, self.actor, self.journey_key):
            if optional is not None:
                identifier(optional)


def identifier(name: str) -> str:
    """`name` unchanged if it is a plain column identifier; raises SelectorError otherwise."""
    if not _IDENTIFIER.match(name):
        raise SelectorError(f"column name {name!r} is not a plain identifier (letters, digits, underscores)")
    return name


TRACE_COLUMNS = SpanColumns()


def step_index_expression(
    blueprint: Any, columns: SpanColumns = TRACE_COLUMNS, prefix: str = "sel"
) -> SqlFragment:
    """A UInt16 expression: the 1-based index in `blueprint.steps` of the step a row performs, 0 for none.

    Parameters are named `<prefix>_…`; give each fragment in one query its own prefix.
    """
    _check_prefix(prefix)
    steps = list(blueprint.steps)
    if not steps:
        return SqlFragment("toUInt16(0)")
    ranked = sorted(
        range(len(steps)), key=lambda i: (-_condition_count(getattr(steps[i], "select", None)), i)
    )
    params: dict[str, Any] = {}
    branches: list[str] = []
    for position in ranked:
        condition = selector_condition(steps[position], columns, f"{prefix}{position}", params)
        branches.append(f"{condition}, {position + 1}")
    return SqlFragment(f"toUInt16(multiIf({', '.join(branches)}, 0))", params)


def step_expression(blueprint: Any, columns: SpanColumns = TRACE_COLUMNS, prefix: str = "sel") -> SqlFragment:
    """A String expression: the id of the step a row performs, '' for none (same precedence as the index)."""
    index = step_index_expression(blueprint, columns, prefix)
    ids = [step.id for step in blueprint.steps]
    return SqlFragment(
        f"arrayElement({{{prefix}_ids:Array(String)}}, {index.sql})",
        {**index.params, f"{prefix}_ids": ids},
    )


def journey_key_expression(
    blueprint: Any, columns: SpanColumns = TRACE_COLUMNS, prefix: str = "jk"
) -> SqlFragment:
    """A String expression: the journey a row belongs to, per `correlation.key`.

    `trace_id` joins by TraceId. Any other key is a span attribute; rows without it fall back to their
    TraceId (the live state additionally lends such rows the key of another span of the same trace).
    """
    _check_prefix(prefix)
    key = correlation_key(blueprint)
    if key is None:
        return SqlFragment(columns.trace_id)
    attribute = f"{columns.attributes}[{{{prefix}_key:String}}]"
    return SqlFragment(f"if({attribute} != '', {attribute}, {columns.trace_id})", {f"{prefix}_key": key})


def journey_attribute_expression(
    blueprint: Any, columns: SpanColumns = TRACE_COLUMNS, prefix: str = "jk"
) -> SqlFragment | None:
    """The correlation attribute alone ('' where a row lacks it), or None when journeys are traces."""
    _check_prefix(prefix)
    key = correlation_key(blueprint)
    if key is None:
        return None
    if key == JOURNEY_ATTRIBUTE and columns.journey_attribute is not None:
        return SqlFragment(columns.journey_attribute)
    return SqlFragment(f"{columns.attributes}[{{{prefix}_key:String}}]", {f"{prefix}_key": key})


def journey_hash_expression(
    blueprint: Any, columns: SpanColumns = TRACE_COLUMNS, prefix: str = "jh"
) -> SqlFragment:
    """A UInt64 expression: the hash of :func:`journey_key_expression` (rows with equal keys, equal hashes),
    read from `columns.journey_key` where it holds that very key."""
    if correlation_key(blueprint) == JOURNEY_ATTRIBUTE and columns.journey_key is not None:
        return SqlFragment(columns.journey_key)
    key = journey_key_expression(blueprint, columns, prefix)
    return SqlFragment(f"cityHash64({key.sql})", key.params)


def correlation_key(blueprint: Any) -> str | None:
    """The span attribute that joins a journey's spans, or None when journeys are traces."""
    correlation = getattr(blueprint, "correlation", None)
    key = getattr(correlation, "key", None) if correlation is not None else None
    if not key or key == TRACE_ID_KEY:
        return None
    _check_attribute_key(key, "correlation.key")
    return str(key)


def selector_condition(step: Any, columns: SpanColumns, prefix: str, params: dict[str, Any]) -> str:
    """The condition one step's `select` puts on a row (every given part must hold); adds its parameters.

    A step without any selector binds spans carrying `blueprint.step` = its id.
    """
    select = getattr(step, "select", None)
    where = f"steps[{step.id}].select"
    parts: list[str] = []
    service = getattr(select, "service", None) if select is not None else None
    span = getattr(select, "span", None) if select is not None else None
    attributes: Mapping[str, Any] = (getattr(select, "attributes", None) or {}) if select is not None else {}
    step_id = getattr(select, "step", None) if select is not None else None
    if service is not None:
        params[f"{prefix}_svc"] = str(service)
        parts.append(f"{columns.service} = {{{prefix}_svc:String}}")
    if span is not None:
        fragment = span_name_condition(str(span), columns.span, f"{prefix}_span", where=f"{where}.span")
        params.update(fragment.params)
        parts.append(fragment.sql)
    for n, (key, value) in enumerate(sorted(attributes.items())):
        _check_attribute_key(key, f"{where}.attributes")
        params[f"{prefix}_ak{n}"] = str(key)
        params[f"{prefix}_av{n}"] = _attribute_text(value)
        parts.append(f"{columns.attributes}[{{{prefix}_ak{n}:String}}] = {{{prefix}_av{n}:String}}")
    if step_id is not None or not parts:
        params[f"{prefix}_step"] = str(step_id if step_id is not None else step.id)
        if columns.step_attribute is not None:
            parts.append(f"{columns.step_attribute} = {{{prefix}_step:String}}")
        else:
            params[f"{prefix}_stepkey"] = STEP_ATTRIBUTE
            parts.append(f"{columns.attributes}[{{{prefix}_stepkey:String}}] = {{{prefix}_step:String}}")
    return "(" + " AND ".join(parts) + ")"


def span_name_condition(pattern: str, column: str, param: str, where: str = "span") -> SqlFragment:
    """A span-name pattern as a condition: `re:…` is an RE2 regex (match()), `*`/`?` make a glob (LIKE),
    anything else is compared exactly."""
    identifier(column)
    if pattern.startswith(REGEX_PREFIX):
        regex = pattern[len(REGEX_PREFIX) :]
        check_regex(regex, where)
        return SqlFragment(f"match({column}, {{{param}:String}})", {param: regex})
    if "*" in pattern or "?" in pattern:
        return SqlFragment(f"{column} LIKE {{{param}:String}}", {param: glob_to_like(pattern)})
    return SqlFragment(f"{column} = {{{param}:String}}", {param: pattern})


def binding_filter(
    blueprint: Any, columns: SpanColumns = TRACE_COLUMNS, prefix: str = "bf"
) -> SqlFragment | None:
    """A condition true for every row some step could bind, looking at service and span name only (the
    leading columns of `otel_traces`' order); None when a step binds by attributes alone (any row could)."""
    _check_prefix(prefix)
    params: dict[str, Any] = {}
    conditions: dict[str, None] = {}
    for n, step in enumerate(blueprint.steps):
        select = getattr(step, "select", None)
        service = getattr(select, "service", None) if select is not None else None
        span = getattr(select, "span", None) if select is not None else None
        if service is None and span is None:
            return None
        parts = []
        if service is not None:
            params[f"{prefix}{n}_svc"] = str(service)
            parts.append(f"{columns.service} = {{{prefix}{n}_svc:String}}")
        if span is not None:
            fragment = span_name_condition(str(span), columns.span, f"{prefix}{n}_span")
            params.update(fragment.params)
            parts.append(fragment.sql)
        conditions["(" + " AND ".join(parts) + ")"] = None
    return SqlFragment("(" + " OR ".join(conditions) + ")", params) if conditions else None


def glob_to_like(glob: str) -> str:
    """A glob (`*` any run, `?` one character) as a LIKE pattern, LIKE's own wildcards escaped."""
    out: list[str] = []
    for char in glob:
        if char == "*":
            out.append("%")
        elif char == "?":
            out.append("_")
        elif char in "\\%_":
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def check_regex(regex: str, where: str) -> None:
    """Raise SelectorError unless `regex` compiles and uses only what RE2 (ClickHouse) understands."""
    try:
        re.compile(regex)
    except re.error as problem:
        raise SelectorError(f"{where} regex {regex!r} does not compile: {problem}") from None
    if _NOT_RE2.search(regex):
        raise SelectorError(
            f"{where} regex {regex!r} uses look-around or a back-reference, "
            "which ClickHouse's RE2 does not support"
        )


def selector_attribute_keys(blueprints: Iterable[Any]) -> set[str]:
    """Every span attribute key the blueprints' selectors compare (the rollups must keep these)."""
    keys: set[str] = set()
    for blueprint in blueprints:
        for step in blueprint.steps:
            select = getattr(step, "select", None)
            attributes = (getattr(select, "attributes", None) or {}) if select is not None else {}
            keys.update(str(k) for k in attributes)
            if select is None or getattr(select, "step", None) is not None or _condition_count(select) == 0:
                keys.add(STEP_ATTRIBUTE)
    return keys


def _condition_count(select: Any) -> int:
    if select is None:
        return 0
    count = sum(getattr(select, name, None) is not None for name in ("service", "span", "step"))
    return count + len(getattr(select, "attributes", None) or {})


def _attribute_text(value: Any) -> str:
    # otel_traces stores every attribute as text; booleans as the exporter writes them.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return str(value)


def _check_attribute_key(key: Any, where: str) -> None:
    if not isinstance(key, str) or not key or len(key) > 255 or not key.isprintable():
        raise SelectorError(f"{where} attribute key {key!r} must be printable text of 1 to 255 characters")


def _check_prefix(prefix: str) -> None:
    if not _PARAM_PREFIX.match(prefix):
        raise SelectorError(f"parameter prefix {prefix!r} must be lower-case letters, digits, underscores")


def step_ids(blueprint: Any) -> Sequence[str]:
    """The step ids in declaration order: index i in SQL (1-based) is `step_ids(bp)[i - 1]`."""
    return [step.id for step in blueprint.steps]
