"""Overview, for managers: every journey's health score and its change, trend, objectives and error budget,
worst bottleneck and open alerts; every touchpoint; and a channel view. Refreshes on its own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dash
import flask
from dash import Input, Output, callback, dcc, html

from app.components import units
from app.components.design import map_design
from app.components.first_run import first_run_panel
from app.components.overview_cards import (
    JourneyHealth,
    build_channel_view,
    build_journey_card,
    build_touchpoint_table,
)
from app.pages import context
from app.pages._sources import blueprints, has_spans, live_states, open_alerts
from app.pages._view import DEFAULT_RANGE, LIVE, RANGES, frame_end

dash.register_page(__name__, path="/", name="Overview", title="Overview · Touchpoint")

RANGE = "overview-range"
REFRESH = "overview-refresh"
JOURNEYS = "overview-journeys"
TOUCHPOINTS = "overview-touchpoints-panel"
CHANNELS = "overview-channels"
UPDATED = "overview-updated"
OVERVIEW_RANGES = ("15m", "1h", "6h", "24h")


def layout(**query: str) -> html.Div:
    """Skeleton of the overview; the figures arrive through `render`. Before any span: how to start."""
    app = context()
    range_ = query.get("range") if query.get("range") in OVERVIEW_RANGES else DEFAULT_RANGE
    head = html.Div(
        [
            html.H1("Experience health"),
            dcc.RadioItems(
                id=RANGE, options=list(OVERVIEW_RANGES), value=range_, inline=True, className="tp-radio"
            ),
            html.Span(id=UPDATED, className="tp-small tp-muted"),
        ],
        className="tp-title",
    )
    first_run = None if has_spans(app) else first_run_panel(flask.request.host_url)
    return html.Div(
        [
            first_run,
            dcc.Interval(id=REFRESH, interval=app.settings.refresh_ms),
            head,
            dcc.Loading(html.Div(id=JOURNEYS, className="tp-grid cols-3"), delay_show=400, type="dot"),
            html.H2("Channels", className="tp-section"),
            html.Div(id=CHANNELS),
            html.H2("Touchpoints", className="tp-section"),
            html.Div(id=TOUCHPOINTS, className="tp-card"),
        ]
    )


@callback(
    Output(JOURNEYS, "children"),
    Output(CHANNELS, "children"),
    Output(TOUCHPOINTS, "children"),
    Output(UPDATED, "children"),
    Input(RANGE, "value"),
    Input(REFRESH, "n_intervals"),
)
def render(range_: str, _tick: int) -> tuple[Any, ...]:
    """Every journey's state over the range and the period before it, computed side by side."""
    app = context()
    now = datetime.now(UTC)
    found = blueprints(app)
    if not found:
        empty = html.P(f"No blueprints in {app.settings.blueprints}.", className="tp-empty")
        return empty, None, None, ""
    length = RANGES[range_]
    previous_end = frame_end(range_, LIVE - 1, now)
    states = live_states(app)
    results = states.many([(blueprint, length, None) for blueprint in found.values()], now)
    alerts = open_alerts(app)
    journeys = []
    for state, (blueprint_id, blueprint) in zip(results, found.items(), strict=True):
        previous = states.peek(blueprint, length, previous_end, now)  # the change shows once it is known
        journeys.append(
            JourneyHealth(
                design=map_design(blueprint),
                state=None if isinstance(state, Exception) else state,
                previous=previous,
                alerts=[a for a in alerts if a.blueprint == blueprint_id],
                error=str(state) if isinstance(state, Exception) else None,
            )
        )
    cards = [build_journey_card(j, range_) for j in journeys]
    return (
        cards,
        build_channel_view(journeys),
        build_touchpoint_table(journeys),
        f"updated {units.clock(now)}",
    )
