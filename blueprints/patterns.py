"""The small textual languages inside a blueprint: span-name patterns and durations.

A span pattern is written as one string: ``GET /search`` (exact), ``GET /product/*`` (glob: ``*``, ``?``,
nothing else) or ``re:^GET /p/\\d+$`` (a regular expression, searched like ClickHouse's ``match()``).
:attr:`SpanPattern.regex` gives one regular expression for all three kinds that both Python and ClickHouse
(RE2) understand, so SQL builders can use ``match(SpanName, {pattern:String})`` whatever the kind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

REGEX_PREFIX = "re:"
_GLOB_CHARS = frozenset("*?")
_RE2_SPECIAL = frozenset("\\.+*?()|[]{}^$")
# Python features RE2 (ClickHouse) refuses: lookarounds and backreferences.
_NOT_RE2 = re.compile(r"\(\?<?[=!]|\\[1-9]|\(\?P=")


class PatternKind(StrEnum):
    """How a span pattern matches span names."""

    exact = "exact"
    glob = "glob"
    regex = "regex"


@dataclass(frozen=True)
class SpanPattern:
    """A span-name pattern as written (``text``) with its kind and its matching regular expression."""

    text: str
    kind: PatternKind
    regex: str  # anchored for exact and glob; as written (searched, not anchored) for re:

    @classmethod
    def parse(cls, text: str) -> SpanPattern:
        """Read a pattern; raises ValueError saying what is wrong with a regular expression."""
        if text.startswith(REGEX_PREFIX):
            expression = text[len(REGEX_PREFIX) :]
            try:
                re.compile(expression)
            except re.error as exc:
                raise ValueError(f"is not a valid regular expression: {exc}") from None
            if _NOT_RE2.search(expression):
                raise ValueError(
                    "uses a lookaround or backreference, which ClickHouse's regular expressions (RE2) lack"
                )
            return cls(text, PatternKind.regex, expression)
        if _GLOB_CHARS & set(text):
            return cls(text, PatternKind.glob, "^" + _glob_to_regex(text) + "$")
        return cls(text, PatternKind.exact, "^" + _escape(text) + "$")

    def matches(self, span_name: str) -> bool:
        """Whether a span name matches, with the same meaning ClickHouse's ``match()`` gives :attr:`regex`."""
        if self.kind is PatternKind.exact:
            return span_name == self.text
        return _compiled(self.regex).search(span_name) is not None

    def __str__(self) -> str:
        return self.text


@lru_cache(maxsize=1024)
def _compiled(expression: str) -> re.Pattern[str]:
    return re.compile(expression)


def _escape(text: str) -> str:
    # re.escape also escapes spaces and other characters RE2 may refuse to see escaped.
    return "".join("\\" + c if c in _RE2_SPECIAL else c for c in text)


def _glob_to_regex(glob: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else _escape(c) for c in glob)


def _validate_pattern(value: Any) -> SpanPattern:
    if isinstance(value, SpanPattern):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("pattern_type", "is not text: expected a span name, a glob or re:<regex>")
    if not value:
        raise PydanticCustomError("pattern_empty", "is empty: expected a span name, a glob or re:<regex>")
    try:
        return SpanPattern.parse(value)
    except ValueError as exc:
        raise PydanticCustomError("pattern", str(exc)) from None


SpanPatternField = Annotated[
    SpanPattern,
    PlainValidator(_validate_pattern),
    PlainSerializer(lambda p: p.text, return_type=str),
    WithJsonSchema({"type": "string", "description": "exact span name, glob, or re:<regex>"}),
]

_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_UNIT_S = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|d|h|m|s)")
DURATION_EXPECTED = "is not a duration such as 30s, 15m, 2h, 1d or 1h30m (or a number of seconds)"


def parse_duration(value: Any) -> float:
    """Seconds in a duration written ``500ms``, ``90s``, ``15m``, ``2h``, ``1d``, ``1h30m``, or a number."""
    if isinstance(value, bool):
        raise ValueError(DURATION_EXPECTED)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text, total, position = value.strip(), 0.0, 0
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            return float(text)
        while position < len(text):
            match = _DURATION_PART.match(text, position)
            if match is None:
                break
            total += float(match.group(1)) * _UNIT_S[match.group(2)]
            position = match.end()
        if text and position == len(text):
            return total
    raise ValueError(DURATION_EXPECTED)


def format_duration(seconds: float) -> str:
    """The shortest ``1h30m``-style text for a number of seconds; ``parse_duration`` reads it back exactly."""
    if seconds != int(seconds):
        return f"{seconds:g}s"
    rest = int(seconds)
    parts = []
    for suffix, unit in _UNITS:
        if rest >= unit:
            parts.append(f"{rest // unit}{suffix}")
            rest %= unit
    return "".join(parts) or "0s"
