"""Human time spans for the demo's flags and fault syntax: `90s`, `2m`, `1h30m`, `1.5h`, `500ms`, `2d`."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> timedelta:
    """The time span written as one or more `<number><unit>` parts (units ms, s, m, h, d), e.g. `1h30m`.

    Raises ValueError naming the text and the expected form; a bare number is refused because
    its unit would be a guess.
    """
    stripped = text.strip()
    position = 0
    seconds = 0.0
    for match in _PART.finditer(stripped):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if not stripped or position != len(stripped):
        raise ValueError(
            f"{text!r} is not a duration: expected e.g. 90s, 2m, 1h30m, 1.5h (units ms, s, m, h, d)"
        )
    return timedelta(seconds=seconds)


def format_duration(span: timedelta) -> str:
    """The shortest `1h30m`-style text that `parse_duration` reads back as `span` (to the ms)."""
    millis = round(span.total_seconds() * 1000)
    if millis == 0:
        return "0s"
    sign = "-" if millis < 0 else ""
    millis = abs(millis)
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + "".join(parts)
