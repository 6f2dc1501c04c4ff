"""Step drill-down: the step's trends with their objective lines, top error messages, slowest and failed
example journeys, and the attribute values that set failing spans apart — all SQL aggregates."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import dash
from dash import Input, Output, callback, clientside_callback, dcc, html

from app.components.badges import health_badge
from app.components.design import map_design
from app.components.step_detail import (
    build_error_table,
    build_examples_table,
    build_step_trends,
    build_telltale_table,
)
from app.components.swimlane import objective_text
from app.components.theme import LANE_TITLES
from app.pages import context
from app.pages._live_state import blueprint_version
from app.pages._sources import find_blueprint, remembered, state_of
from app.pages._step_sql import DrillDownUnavailable, read_step_detail
from app.pages._view import DEFAULT_RANGE, RANGES, window_of
from blueprints.journey_graph import journey_graph
from blueprints.state import StateUnavailable

dash.register_page(__name__, path="/step", name="Step", title="Step · Touchpoint")
log = logging.getLogger(__name__)

VIEW = "step-view"
RANGE = "step-range"
REFRESH = "step-refresh"
HEAD = "step-head"
TRENDS = "step-trends"
ERRORS = "step-errors"
SLOWEST = "step-slowest"
FAILED = "step-failed"
TELLTALES = "step-telltales"
QUERY = "step-query"


def layout(bp: str = "", step: str = "", range: str = DEFAULT_RANGE, end: str = "", **_: str) -> html.Div:  # noqa: A002
    """The drill-down of `step` in blueprint `bp`; figures arrive through `render`."""
    app = context()
    blueprint = find_blueprint(app, bp)
    design = map_design(blueprint) if blueprint is not None else None
    if design is None or design.step(step) is None:
        return html.Div(
            [
                html.H1("No such step"),
                html.P(f"Blueprint '{bp}' has no step '{step}'."),
                dcc.Link("Overview", href="/"),
            ],
            className="tp-card",
        )
    view = {"bp": bp, "step": step, "range": range if range in RANGES else DEFAULT_RANGE, "end": end or None}
    back = "/blueprint?" + urlencode({"bp": bp, "range": view["range"], "step": step})
    return html.Div(
        [
            dcc.Store(id=VIEW, data=view),
            dcc.Interval(id=REFRESH, interval=max(app.settings.refresh_ms, 10_000), disabled=bool(end)),
            html.Div(id=QUERY, hidden=True),
            html.Div(
                [
                    dcc.Link(f"← {design.name}", href=back),
                    html.Div(id=HEAD, className="tp-row"),
                    dcc.RadioItems(
                        id=RANGE, options=list(RANGES), value=view["range"], inline=True, className="tp-radio"
                    ),
                ],
                className="tp-title",
            ),
            dcc.Loading(html.Div(id=TRENDS, className="tp-grid cols-2"), delay_show=400, type="dot"),
            html.Div(
                [
                    html.Div([html.H2("Top error messages"), html.Div(id=ERRORS)], className="tp-card"),
                    html.Div(
                        [html.H2("What failing spans have in common"), html.Div(id=TELLTALES)],
                        className="tp-card",
                    ),
                    html.Div([html.H2("Slowest journeys"), html.Div(id=SLOWEST)], className="tp-card"),
                    html.Div([html.H2("Latest failed journeys"), html.Div(id=FAILED)], className="tp-card"),
                ],
                className="tp-grid cols-2 tp-section",
            ),
        ]
    )


@callback(Output(VIEW, "data"), Input(RANGE, "value"), dash.State(VIEW, "data"), prevent_initial_call=True)
def change_range(range_: str, view: dict[str, Any]) -> dict[str, Any]:
    """A new range looks at the live window."""
    return {**view, "range": range_, "end": None}


@callback(
    Output(HEAD, "children"),
    Output(TRENDS, "children"),
    Output(ERRORS, "children"),
    Output(TELLTALES, "children"),
    Output(SLOWEST, "children"),
    Output(FAILED, "children"),
    Input(VIEW, "data"),
    Input(REFRESH, "n_intervals"),
)
def render(view: dict[str, Any], _tick: int) -> tuple[Any, ...]:
    """The step's state (cached with the blueprint page's) and its drill-down aggregates."""
    app = context()
    blueprint = find_blueprint(app, view["bp"])
    if blueprint is None:
        return (html.Div(f"No blueprint '{view['bp']}'.", className="tp-error"),) + (None,) * 5
    design = map_design(blueprint)
    step = design.step(view["step"])
    assert step is not None
    now = datetime.now(UTC)
    _, end, live = window_of(view, now)
    try:
        state = state_of(app, blueprint, RANGES[view["range"]], None if live else end, now)
        index = [s.id for s in design.steps].index(step.id) + 1
        window = state.window
        detail = remembered(
            app,
            "dashboard.step_details",
            (blueprint_version(blueprint), index, window.start, window.end),
            lambda: read_step_detail(
                app.client(), blueprint, index, window.start, window.end, window.bucket_s
            ),
            ttl_s=max(app.settings.refresh_ms / 1000, 10.0),
        )
    except (StateUnavailable, DrillDownUnavailable) as exc:
        log.warning(
            "step drill-down failed", extra={"blueprint": design.id, "step": step.id, "error": str(exc)}
        )
        return (html.Div(str(exc), className="tp-error"),) + (None,) * 5
    live_step = next((s for s in state.steps if s.step_id == step.id), None)
    head = [
        html.H1(step.name),
        health_badge(live_step.health) if live_step else None,
        html.Span(live_step.health_reason if live_step else "", className="tp-small"),
        html.Span(f"{LANE_TITLES.get(step.lane, step.lane)} · {step.actor}", className="tp-small tp-muted"),
        *(
            html.Span(objective_text(o), className="tp-pill")
            for o in (live_step.objectives if live_step else [])
        ),
    ]
    figures = build_step_trends(
        detail.trend,
        live_step.series if live_step else [],
        state.window.bucket_s,
        journey_graph(blueprint).step(step.id),
    )
    trends = [dcc.Graph(figure=f, config={"displayModeBar": False}, className="tp-card") for f in figures]
    return (
        head,
        trends,
        build_error_table(detail.errors),
        build_telltale_table(detail.telltales),
        build_examples_table(detail.slowest, design.id, "step-slowest-table"),
        build_examples_table(detail.failed, design.id, "step-failed-table"),
    )


clientside_callback(
    "function(view) { return window.dash_clientside.sync_query(view); }",
    Output(QUERY, "children"),
    Input(VIEW, "data"),
)
