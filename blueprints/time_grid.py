"""Rounding instants to the grid the rollups are kept on: whole minutes, whole hours, round buckets.

Every function takes and returns timezone-aware datetimes and keeps the value's timezone.
"""

from __future__ import annotations

from datetime import datetime, timedelta


def floor_to(value: datetime, seconds: int) -> datetime:
    """`value` floored to a multiple of `seconds` counted from the Unix epoch."""
    stamp = int(value.timestamp())
    return datetime.fromtimestamp(stamp - stamp % seconds, tz=value.tzinfo)


def floor_minute(value: datetime) -> datetime:
    """The start of `value`'s minute."""
    return value.replace(second=0, microsecond=0)


def ceil_minute(value: datetime) -> datetime:
    """`value` itself on a whole minute, else the start of the next minute."""
    floor = floor_minute(value)
    return floor if floor == value else floor + timedelta(minutes=1)


def whole_hours(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The whole hours inside [start, end), or the empty (start, start) when there are none.

    Hours are those of the values' timezone: pass UTC values to get UTC hours.
    """
    first = start.replace(minute=0, second=0, microsecond=0)
    if first < start:
        first += timedelta(hours=1)
    last = end.replace(minute=0, second=0, microsecond=0)
    return (first, last) if first < last else (start, start)
