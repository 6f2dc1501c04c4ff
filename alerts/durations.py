"""Durations as rules write them (`90s`, `5m`, `1h30m`, `3d`) and as messages print them."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: object) -> timedelta:
    """`text` as a duration: `<number><unit>` parts (ms, s, m, h, d, w) like `1h30m`, or seconds.

    Raises ValueError saying what was expected.
    """
    if isinstance(text, timedelta):
        return text
    if isinstance(text, int | float) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"must not be negative, got {text}")
        return timedelta(seconds=text)
    stripped = str(text).strip()
    position, seconds = 0, 0.0
    for match in _PART.finditer(stripped):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if not stripped or position != len(stripped):
        raise ValueError(f"{text!r} is not a duration: expected e.g. 90s, 5m, 1h30m, 3d")
    return timedelta(seconds=seconds)


def format_duration(span: timedelta) -> str:
    """The shortest `1h30m`-style text for `span`, to the second (`0s` for nothing)."""
    seconds = round(span.total_seconds())
    if seconds == 0:
        return "0s"
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    parts = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + "".join(parts)


# A pydantic field type reading any form `parse_duration` accepts, written back in JSON as `1h30m`.
Duration = Annotated[
    timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, when_used="json")
]
