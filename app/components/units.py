"""Numbers as people read them, always with their unit. Durations arrive in seconds (as in the state)."""

from __future__ import annotations

from datetime import datetime

from blueprints.bottlenecks import duration_text

NONE = "—"


def duration(seconds: float | None) -> str:
    """850 ms, 4.2 s, 3.5 min, 2.1 h, 1.5 d (as the live state's evidence sentences say them); '—' when
    unknown."""
    return NONE if seconds is None else duration_text(seconds)


def percent(share: float | None, digits: int = 1) -> str:
    """A share 0..1 as '12.3%'; '—' when unknown."""
    if share is None:
        return NONE
    return f"{share * 100:.{digits}f}%"


def rate(per_min: float | None) -> str:
    """Throughput as '12.3/min' (or '/h' below one a minute)."""
    if per_min is None:
        return NONE
    if per_min and per_min < 1:
        return f"{per_min * 60:.1f}/h"
    return f"{per_min:.1f}/min" if per_min < 100 else f"{per_min:,.0f}/min"


def count(value: int | None) -> str:
    """A whole number with thousands separators; 12.3k beyond 100 000."""
    if value is None:
        return NONE
    if value >= 100_000:
        return f"{value / 1000:,.0f}k"
    return f"{value:,}"


def score(value: float | None) -> str:
    """A health score 0..100 without decimals."""
    return NONE if value is None else f"{value:.0f}"


def clock(moment: datetime) -> str:
    """A UTC time of day, 'HH:MM:SS UTC'."""
    return moment.strftime("%H:%M:%S UTC")


def window_text(start: datetime, end: datetime) -> str:
    """A window as 'Mar 01 09:00 – 10:00 UTC' (the date repeated only when it changes)."""
    if start.date() == end.date():
        return f"{start:%b %d %H:%M} – {end:%H:%M} UTC"
    return f"{start:%b %d %H:%M} – {end:%b %d %H:%M} UTC"
