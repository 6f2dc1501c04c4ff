"""Exceptions raised by blueprints/: one root, a few kinds a caller can act on.

- :class:`InvalidBlueprint`: a file or model breaks the format; carries every :class:`Problem` found.
- :class:`BlueprintNotFound`, :class:`VersionNotFound`: nothing stored under that id or version number.
- :class:`Conflict`: an optimistic-concurrency check failed; carries the current ETag for a re-read.
- :class:`VersionStoreError`: the version history (ClickHouse) could not be read or written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NO_VALUE: Any = object()


def format_path(path: Iterable[str | int]) -> str:
    """A field path as people write it: ``steps[2].select.attributes["http.route"]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def format_value(value: Any) -> str:
    """A bad value as it would read in YAML: strings quoted, booleans lower-case, long values cut."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        # as YAML would quote it: single quotes keep backslashes literal; anything odd goes double-quoted
        text = (
            f"'{value}'"
            if value.isprintable() and "'" not in value
            else json.dumps(value, ensure_ascii=False)
        )
    elif isinstance(value, int | float):
        text = repr(value)
    else:
        try:
            text = json.dumps(value, default=str, ensure_ascii=False)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a blueprint: where (file, line, column, field), the bad value, the expectation.

    ``line`` and ``column`` are 1-based, and None when the blueprint did not come from a YAML text (a JSON
    model sent to the API). ``has_value`` is False when the field is missing: there is no bad value to show.
    """

    source: str
    path: tuple[str | int, ...]
    message: str  # what is wrong / expected, e.g. "is not one of evidence, customer, ..."
    line: int | None = None
    column: int | None = None
    value: Any = None
    has_value: bool = False

    @property
    def field(self) -> str:
        return format_path(self.path)

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f":{self.line}:{self.column or 1}"
        parts = [where]
        if self.path:
            parts.append(self.field)
        if self.has_value:
            parts.append(format_value(self.value))
        parts.append(self.message)
        return " ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """The problem as the JSON API returns it; ``text`` is the one-line form the CLI prints."""
        return {
            "source": self.source,
            "line": self.line,
            "column": self.column,
            "field": self.field,
            "value": self.value if self.has_value else None,
            "message": self.message,
            "text": str(self),
        }


class BlueprintError(Exception):
    """Root of every error raised by blueprints/."""


class InvalidBlueprint(BlueprintError):
    """A blueprint breaks the format; ``problems`` lists every problem found in it, in file order."""

    def __init__(self, source: str, problems: Iterable[Problem]) -> None:
        self.source = source
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or f"{source} is not a valid blueprint")


class BlueprintNotFound(BlueprintError, LookupError):
    """No blueprint is stored under this id (also a LookupError, for generic look-ups)."""

    def __init__(self, blueprint_id: str) -> None:
        self.blueprint_id = blueprint_id
        super().__init__(f"no blueprint {blueprint_id!r}")


class VersionNotFound(BlueprintError, LookupError):
    """The blueprint has no version with this number."""

    def __init__(self, blueprint_id: str, number: int) -> None:
        self.blueprint_id = blueprint_id
        self.number = number
        super().__init__(f"blueprint {blueprint_id!r} has no version {number}")


class Conflict(BlueprintError):
    """The blueprint changed since the caller read it (its ETag differs), or exists when it must not.

    ``current_etag`` is the ETag of what is stored now (None when nothing is); nothing was written.
    """

    def __init__(self, message: str, current_etag: str | None) -> None:
        self.current_etag = current_etag
        super().__init__(message)


class VersionStoreError(BlueprintError):
    """The version history could not be read or written (ClickHouse refused or failed)."""
