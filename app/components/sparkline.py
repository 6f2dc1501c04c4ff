"""Sparklines: a small trend of one measure over a window, with its unit in the hover and a caption."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.components.theme import ACCENT, FONT, health_style
from blueprints.state_model import Health, Point

MEASURES = {
    "throughput": ("spans/min", "%{y:.1f} spans/min"),
    "errors": ("error rate %", "%{y:.1f}% errors"),
    "p95": ("p95 s", "p95 %{y:.2f} s"),
    "wait": ("mean wait s", "wait %{y:.1f} s"),
}


def series_values(points: Sequence[Point], measure: str, bucket_s: int) -> list[float | None]:
    """One value per point: spans per minute, error rate in %, p95 or mean wait in seconds."""
    values: list[float | None] = []
    for point in points:
        if measure == "throughput":
            values.append(point.count * 60.0 / bucket_s if bucket_s else None)
        elif measure == "errors":
            values.append(100.0 * point.errors / point.count if point.count else None)
        elif measure == "p95":
            values.append(point.p95_s)
        elif measure == "wait":
            values.append(point.wait_mean_s)
        else:
            raise ValueError(f"sparkline measure {measure!r} is not one of {', '.join(MEASURES)}")
    return values


def combined_series(series: Sequence[Sequence[Point]]) -> list[Point]:
    """Several steps' series summed bucket by bucket (counts and errors; no percentiles)."""
    totals: dict[datetime, list[int]] = {}
    for points in series:
        for point in points:
            pair = totals.setdefault(point.t, [0, 0])
            pair[0] += point.count
            pair[1] += point.errors
    return [Point(t=t, count=c, errors=e) for t, (c, e) in sorted(totals.items())]


def build_sparkline(
    points: Sequence[Point], measure: str, bucket_s: int, health: Health = Health.OK, height: int = 38
) -> dict[str, Any]:
    """A tiny line chart of `measure`; its colour follows `health`, its hover says the value with its unit."""
    unit, template = MEASURES[measure]
    colour = ACCENT if health in (Health.OK, Health.NO_DATA) else health_style(health).colour
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines",
                "x": [p.t.isoformat() for p in points],
                "y": series_values(points, measure, bucket_s),
                "line": {"color": colour, "width": 1.8, "shape": "spline", "smoothing": 0.6},
                "fill": "tozeroy",
                "fillcolor": "rgba(11,92,173,0.08)" if colour == ACCENT else "rgba(198,40,40,0.08)",
                "hovertemplate": template + "<br>%{x|%H:%M} UTC<extra></extra>",
                "connectgaps": False,
            }
        ],
        "layout": {
            "height": height,
            "margin": {"l": 0, "r": 0, "t": 2, "b": 2},
            "xaxis": {"visible": False, "fixedrange": True},
            "yaxis": {"visible": False, "fixedrange": True, "rangemode": "tozero", "title": {"text": unit}},
            "showlegend": False,
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
            "font": {"family": FONT, "size": 10},
            "hovermode": "x",
        },
    }
