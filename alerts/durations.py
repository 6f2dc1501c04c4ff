"""Durations as people write them (`90s`, `5m`, `1h30m`, `1.5h`, `250ms`, `3d`) and as messages print them.

The one reader and writer of this syntax for alert rules, the alert API and the demo's flags and fault specs.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_UNIT_MILLIS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1))


def parse_duration(text: object) -> timedelta:
    """`text` as a duration: `<number><unit>` parts (ms, s, m, h, d, w) like `1h30m`.

    A number that is not text (a YAML `90`) is seconds; the text `"90"` is refused, because its unit would be a
    guess. Raises ValueError naming the text and the expected form.
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
    """The shortest `1h30m`-style text that `parse_duration` reads back as `span`, to the millisecond."""
    millis = round(span.total_seconds() * 1000)
    if millis == 0:
        return "0s"
    sign, millis = ("-", -millis) if millis < 0 else ("", millis)
    parts = []
    for unit, size in _UNIT_MILLIS:
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + "".join(parts)


# A pydantic field type reading any form `parse_duration` accepts, written back in JSON as `1h30m`.
Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, when_used="json")]
