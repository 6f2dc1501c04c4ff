"""What the blueprint page shows — blueprint, time range, window end (None: live), selected step, paused —
as a plain dict kept in a dcc.Store and in the query string, and the playback frames. Pure functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from app.components import units

RANGES: dict[str, int] = {"15m": 900, "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800}
DEFAULT_RANGE = "1h"
# Playback steps back over FRAMES windows of this length, ending on a grid so past frames repeat (cache).
FRAME_STEP_S: dict[str, int] = {"15m": 900, "1h": 3600, "6h": 21600, "24h": 86400, "7d": 86400}
FRAMES = 24
LIVE = FRAMES  # the slider's rightmost position

View = dict[str, Any]


def view_from_query(query: Mapping[str, Any], known: Sequence[str]) -> View:
    """The view a URL asks for; an unknown blueprint falls back to the first known one, bad values to
    defaults."""
    blueprint = query.get("bp")
    if blueprint not in known:
        blueprint = known[0] if known else None
    range_ = query.get("range") if query.get("range") in RANGES else DEFAULT_RANGE
    return {
        "bp": blueprint,
        "range": range_,
        "end": _iso(query.get("end")),
        "step": query.get("step") or None,
        "paused": str(query.get("paused", "")).lower() in ("1", "true", "yes"),
    }


def window_of(view: View, now: datetime) -> tuple[datetime, datetime, bool]:
    """(start, end, live) of the view at `now`."""
    length = timedelta(seconds=RANGES[view["range"]])
    end = parse_instant(view.get("end"))
    if end is None:
        return now - length, now, True
    return end - length, end, False


def frame_end(range_: str, position: int, now: datetime) -> datetime | None:
    """The end of playback frame `position` (0 oldest … LIVE): None for live, else a grid instant."""
    if position >= LIVE:
        return None
    step = FRAME_STEP_S[range_]
    grid = datetime.fromtimestamp(now.timestamp() // step * step, UTC)
    return grid - timedelta(seconds=step * (LIVE - 1 - position))


def position_of(range_: str, end: str | None, now: datetime) -> int:
    """The slider position nearest to a window end (LIVE for None)."""
    moment = parse_instant(end)
    if moment is None:
        return LIVE
    step = FRAME_STEP_S[range_]
    grid = now.timestamp() // step * step
    back = round((grid - moment.timestamp()) / step)
    return max(0, min(LIVE - 1, LIVE - 1 - back))


def history_marks(range_: str, now: datetime) -> dict[int, str]:
    """Slider labels: a few past frames by how far back they end, and 'live'."""
    marks: dict[int, str] = {}
    for position in range(0, LIVE, 6):
        end = frame_end(range_, position, now)
        assert end is not None
        marks[position] = "−" + units.duration((now - end).total_seconds()).replace(".0 ", " ")
    marks[LIVE] = "live"
    return marks


def next_view(view: View, trigger: str, value: Any, now: datetime) -> View:
    """The view after one control changed: `trigger` names it (bp, range, position, pause, select)."""
    updated = dict(view)
    if trigger == "bp":
        updated.update(bp=value, step=None)
    elif trigger == "range":
        updated["range"] = value if value in RANGES else DEFAULT_RANGE
        if updated.get("end"):  # keep looking at the same moment, on the new range's grid
            position = position_of(updated["range"], updated["end"], now)
            end = frame_end(updated["range"], position, now)
            updated["end"] = end.isoformat() if end else None
    elif trigger == "position":
        end = frame_end(updated["range"], int(value), now)
        updated["end"] = end.isoformat() if end else None
    elif trigger == "pause":
        updated["paused"] = not updated.get("paused")
    elif trigger == "select":
        updated["step"] = None if value == updated.get("step") else value
    return updated


def clicked_step(click: Mapping[str, Any] | None) -> str | None:
    """The step id a click on the swimlane landed on (the tiles' invisible markers carry it)."""
    points = (click or {}).get("points") or []
    if not points:
        return None
    step = points[0].get("customdata")
    return str(step) if step else None


def _iso(value: Any) -> str | None:
    moment = parse_instant(value)
    return moment.isoformat() if moment else None


def parse_instant(value: Any) -> datetime | None:
    """An ISO 8601 instant from a query string as UTC ('+' may arrive as ' '); None when absent or bad."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).strip().replace(" ", "+").replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
