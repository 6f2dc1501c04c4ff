"""Reading timestamps from log fields: ISO 8601 by default, or one strptime format.

Timestamps without an offset are taken to be in the given zone (UTC when none is given); the result is
always timezone-aware. Precision is microseconds (Python's datetime); finer digits are dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICROSECOND = timedelta(microseconds=1)


def parse_timestamp(text: str, time_format: str | None = None, zone: tzinfo | None = None) -> datetime | None:
    """The aware datetime `text` denotes, or None if it is not a date in the expected form.

    With `time_format` only that strptime format is accepted; without it, ISO 8601 (``2012-10-09``,
    ``2012-10-09T14:50:17+00:00``, ``2012-10-09 14:50:17.5Z``, ``20121009T145017Z``).
    """
    text = text.strip()
    try:
        parsed = datetime.strptime(text, time_format) if time_format else datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone or UTC)
    return parsed


def not_a_date(field: str, text: str, time_format: str | None, *, cli_hint: bool) -> str:
    """The problem text for a field that is not a date, naming what was expected.

    `cli_hint` mentions ``--time-format`` as the way out (CSV); XES dates are ISO 8601 by the standard.
    """
    if time_format:
        return f"{field} '{text}' does not match --time-format '{time_format}'"
    expected = "ISO 8601 or --time-format" if cli_hint else "ISO 8601"
    return f"{field} '{text}' is not a date (expected {expected})"


def unix_nanos(moment: datetime) -> int:
    """Nanoseconds since the Unix epoch for an aware datetime, exact (no float rounding)."""
    return (moment - _EPOCH) // _ONE_MICROSECOND * 1000
