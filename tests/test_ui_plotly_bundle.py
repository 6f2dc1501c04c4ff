"""The plotly.js the dashboard's graphs get: the basic partial bundle, served where Dash's graphs ask for it,
and enough for every chart the dashboard draws."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import requests
from ui_states import START, design, state

from app.components.sparkline import build_sparkline
from app.components.swimlane import build_blueprint_figure
from app.components.trends import build_trend_figure
from app.components.waterfall import build_waterfall
from app.dashboard import PLOTLY_BUNDLE, PLOTLY_TRACES
from app.pages._journey_sql import JourneySpan
from blueprints.state_model import Point

GRAPHS_ASK_FOR = "/_dash-component-suites/plotly/package_data/plotly.min.js"


def trace_types(figure: dict[str, Any]) -> set[str]:
    return {trace.get("type", "scatter") for trace in figure["data"]}


def test_graphs_are_served_the_basic_bundle_not_the_full_one(server: Any) -> None:
    reply = requests.get(server.url + GRAPHS_ASK_FOR, timeout=30)

    assert reply.status_code == 200
    assert reply.content == PLOTLY_BUNDLE.read_bytes()
    assert reply.text.startswith("/**\n* plotly.js (basic - minified)")
    assert "javascript" in reply.headers["Content-Type"]


def test_a_browser_that_has_the_bundle_is_told_it_is_unchanged(server: Any) -> None:
    first = requests.get(server.url + GRAPHS_ASK_FOR, timeout=30)

    again = requests.get(server.url + GRAPHS_ASK_FOR, headers={"If-None-Match": first.headers["ETag"]}, timeout=30)

    assert again.status_code == 304


def test_every_chart_the_dashboard_draws_uses_trace_types_the_bundle_has() -> None:
    points = [Point(t=START + timedelta(minutes=m), count=10, errors=m % 2, p95_s=0.4) for m in range(5)]
    spans = [
        JourneySpan(START, 1.5, "search", "web", "search", False, "", "person", "p1", "t1"),
        JourneySpan(START + timedelta(seconds=9), 0.8, "payment", "pay", "charge", True, "declined", "", "", "t1"),
        JourneySpan(START + timedelta(seconds=3), 0.2, "", "noise", "poll", False, "", "", "", "t1"),
    ]
    figures = [
        build_blueprint_figure(design()),
        build_blueprint_figure(design(), state()),
        build_sparkline(points, "throughput", 60),
        build_trend_figure("p95", [p.t for p in points], {"p95": [0.4] * 5}, "s", 0.8),
        build_waterfall(design(), spans),
    ]

    used = set().union(*(trace_types(f) for f in figures))

    assert used <= PLOTLY_TRACES, f"{sorted(used - PLOTLY_TRACES)} need a bigger plotly.js bundle than the basic one"
