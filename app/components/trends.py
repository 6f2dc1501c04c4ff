"""Trend charts of one step with their objective lines: throughput, error rate, latency p50/p95, wait."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Any

from app.components.theme import ACCENT, FONT, GRID, INK, MUTED, health_style
from blueprints.state_model import Health


def build_trend_figure(
    title: str,
    times: Sequence[datetime],
    lines: dict[str, Sequence[float | None]],
    unit: str,
    objective: float | None = None,
    objective_label: str = "objective",
) -> dict[str, Any]:
    """A line chart titled `title` with one line per entry of `lines` (name -> values in `unit`) and, when
    given, the objective as a dashed red line labelled with its value."""
    palette = (ACCENT, "#8250df", "#1a7f37")
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": name,
            "x": [t.isoformat() for t in times],
            "y": list(values),
            "line": {"color": palette[index % len(palette)], "width": 2},
            "marker": {"size": 4},
            "hovertemplate": f"{name} %{{y:.3g}} {unit}<br>%{{x|%b %d %H:%M}} UTC<extra></extra>",
            "connectgaps": False,
        }
        for index, (name, values) in enumerate(lines.items())
    ]
    shapes, annotations = [], []
    if objective is not None:
        colour = health_style(Health.CRITICAL).colour
        shapes.append(
            {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": objective, "y1": objective,
             "line": {"color": colour, "width": 1.5, "dash": "dash"}}
        )  # fmt: skip
        annotations.append(
            {"xref": "paper", "x": 1, "xanchor": "right", "yref": "y", "y": objective, "yanchor": "bottom",
             "text": f"{objective_label} {objective:.3g} {unit}", "showarrow": False,
             "font": {"size": 10, "color": colour}}
        )  # fmt: skip
    heading = f"{escape(title)} <span style='font-size:11px;color:{MUTED}'>({escape(unit)})</span>"
    return {
        "data": data,
        "layout": {
            "title": {"text": heading, "x": 0.01, "font": {"size": 13, "color": INK}},
            "height": 210,
            "margin": {"l": 48, "r": 10, "t": 30, "b": 30},
            "xaxis": {"type": "date", "gridcolor": GRID, "tickformat": "%H:%M", "fixedrange": True},
            "yaxis": {"title": {"text": unit, "font": {"size": 10}}, "gridcolor": GRID, "rangemode": "tozero",
                      "fixedrange": True},
            "shapes": shapes,
            "annotations": annotations,
            "showlegend": len(lines) > 1,
            "legend": {"orientation": "h", "x": 0.5, "xanchor": "center", "y": 1.12, "font": {"size": 10}},
            "paper_bgcolor": "white",
            "plot_bgcolor": "white",
            "font": {"family": FONT, "size": 11, "color": INK},
            "hovermode": "x unified",
        },
    }  # fmt: skip
