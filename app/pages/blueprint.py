"""The live blueprint: swimlanes with every step's health and figures, auto-refreshing (pausable), a time
range, and playback over past windows. The address bar holds blueprint, range, window end and selection."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import dash
from dash import Input, Output, State, callback, clientside_callback, ctx, dcc, html

from app.components.blueprint_panels import build_journey_panel, build_step_panel, build_summary
from app.components.design import map_design
from app.components.swimlane import build_blueprint_figure
from app.pages import context
from app.pages._sources import blueprints, find_blueprint, live_states, open_alerts, state_of
from app.pages._view import (
    FRAMES,
    LIVE,
    RANGES,
    clicked_step,
    history_marks,
    next_view,
    position_of,
    view_from_query,
    window_of,
)
from blueprints.state import StateUnavailable
from blueprints.state_model import BlueprintState

dash.register_page(__name__, path="/blueprint", name="Blueprint", title="Live blueprint · Touchpoint")
log = logging.getLogger(__name__)

VIEW = "blueprint-view"
PICKER = "blueprint-picker"
RANGE = "blueprint-range"
REFRESH = "blueprint-refresh"
PAUSE = "blueprint-pause"
HISTORY = "blueprint-history"
PLAY = "blueprint-play"
PLAYER = "blueprint-player"
GRAPH = "blueprint-graph"
SUMMARY = "blueprint-summary"
DETAIL = "blueprint-detail"
STATUS = "blueprint-status"
QUERY = "blueprint-query"
DRAWN = "blueprint-drawn"
PAINTED = "blueprint-painted"
PLAY_EVERY_MS = 1500


def layout(**query: str) -> html.Div:
    """The page for the view the query string asks for; figures arrive through `render`."""
    app = context()
    known = list(blueprints(app))
    if not known:
        return html.Div(
            [
                html.H1("No blueprints yet"),
                html.P(f"Put blueprint YAML files in {app.settings.blueprints} or start one in the editor."),
                dcc.Link("Open the editor", href="/editor"),
            ],
            className="tp-card",
        )
    now = datetime.now(UTC)
    view = view_from_query(query, known)
    controls = html.Div(
        [
            dcc.Dropdown(
                id=PICKER, options=known, value=view["bp"], clearable=False, className="tp-dropdown"
            ),
            dcc.RadioItems(
                id=RANGE, options=list(RANGES), value=view["range"], inline=True, className="tp-radio"
            ),
            html.Button("Pause" if not view["paused"] else "Resume", id=PAUSE, className="tp-btn"),
            html.Span(id=STATUS, className="tp-live"),
            html.Button("▶ Play", id=PLAY, className="tp-btn", title="replay the past windows up to now"),
            html.Div(
                dcc.Slider(
                    id=HISTORY,
                    min=0,
                    max=FRAMES,
                    step=1,
                    value=position_of(view["range"], view["end"], now),
                    marks=history_marks(view["range"], now),
                    updatemode="mouseup",
                    allow_direct_input=False,
                ),
                className="tp-history",
                title="window end: drag back in time; right end is live",
            ),
        ],
        className="tp-controls",
    )
    return html.Div(
        [
            dcc.Store(id=VIEW, data=view),
            dcc.Store(id=DRAWN),
            dcc.Store(id=PAINTED),
            dcc.Interval(
                id=REFRESH, interval=app.settings.refresh_ms, disabled=bool(view["paused"] or view["end"])
            ),
            dcc.Interval(id=PLAYER, interval=PLAY_EVERY_MS, disabled=True),
            html.Div(id=QUERY, hidden=True),
            html.Div(id=SUMMARY),
            controls,
            html.Div(
                [
                    html.Div(
                        dcc.Graph(id=GRAPH, config={"displayModeBar": False, "responsive": True}),
                        className="tp-scroll-x",
                    ),
                    html.Div(id=DETAIL, className="tp-card tp-side"),
                ],
                className="tp-split",
            ),
        ]
    )


@callback(
    Output(VIEW, "data"),
    Input(PICKER, "value"),
    Input(RANGE, "value"),
    Input(HISTORY, "value"),
    Input(PAUSE, "n_clicks"),
    Input(GRAPH, "clickData"),
    State(VIEW, "data"),
    prevent_initial_call=True,
)
def change_view(
    blueprint: str, range_: str, position: int, _pause: int, click: Any, view: dict[str, Any]
) -> Any:
    """Fold the control that changed into the view."""
    values = {PICKER: ("bp", blueprint), RANGE: ("range", range_), HISTORY: ("position", position)}
    now = datetime.now(UTC)
    if ctx.triggered_id in values:
        trigger, value = values[ctx.triggered_id]
        return next_view(view, trigger, value, now)
    if ctx.triggered_id == PAUSE:
        return next_view(view, "pause", None, now)
    if ctx.triggered_id == GRAPH and clicked_step(click):
        return next_view(view, "select", clicked_step(click), now)
    return dash.no_update


@callback(
    Output(SUMMARY, "children"),
    Output(DETAIL, "children"),
    Output(STATUS, "children"),
    Output(STATUS, "className"),
    Output(REFRESH, "disabled"),
    Output(PAUSE, "children"),
    Output(DRAWN, "data"),
    Input(VIEW, "data"),
    Input(REFRESH, "n_intervals"),
)
def render(view: dict[str, Any], _tick: int) -> tuple[Any, ...]:
    """The headline and the side panel of the view; the swimlane follows through `draw`, so the figures in
    numbers are shown while the browser is still drawing the swimlane."""
    began = time.perf_counter()
    app = context()
    blueprint = find_blueprint(app, view.get("bp"))
    if blueprint is None:
        message = html.Div(f"No blueprint '{view.get('bp')}'.", className="tp-error")
        return message, None, "", "tp-live paused", True, "Pause", drawn(view, None)
    design = map_design(blueprint)
    now = datetime.now(UTC)
    start, end, live = window_of(view, now)
    length = RANGES[view["range"]]
    try:
        state = state_of(app, blueprint, length, None if live else end, now)
    except StateUnavailable as exc:
        log.warning("blueprint page has no state", extra={"blueprint": design.id, "error": str(exc)})
        error = html.Div(str(exc), className="tp-error")
        return build_summary(design, None, live), error, "", "tp-live paused", True, "Pause", drawn(view, None)
    stated = time.perf_counter()
    if not live:  # playback: have the next frame ready before it is asked for
        live_states(app).prefetch(blueprint, length, end + timedelta(seconds=length), now)
    step = view.get("step")
    alerts = [a for a in open_alerts(app) if a.blueprint == design.id and a.step == step] if step else []
    detail = (
        build_step_panel(design, state, step, view["range"], alerts)
        if step
        else build_journey_panel(design, state)
    )
    paused = bool(view.get("paused")) or not live
    age = max(0.0, (now - state.generated_at).total_seconds())
    status = "replay" if not live else ("paused" if view.get("paused") else f"live · {age:.0f} s ago")
    log.debug(
        "blueprint page figures",
        extra={
            "blueprint": design.id,
            "state_ms": round((stated - began) * 1000, 1),
            "panels_ms": round((time.perf_counter() - stated) * 1000, 1),
        },
    )
    return (
        build_summary(design, state, live),
        detail,
        status,
        "tp-live paused" if paused else "tp-live",
        paused,
        "Resume" if view.get("paused") else "Pause",
        drawn(view, state),
    )


def drawn(view: dict[str, Any], state: BlueprintState | None) -> dict[str, Any]:
    """What `render` showed, for `draw` to follow: the view, and when its state was computed (None: no state)."""
    return {"view": view, "generated_at": state.generated_at.isoformat() if state is not None else None}


clientside_callback(  # the swimlane is asked for once the figures in numbers are on screen
    "function(shown) { return window.dash_clientside.after_paint(shown); }",
    Output(PAINTED, "data"),
    Input(DRAWN, "data"),
    prevent_initial_call=True,
)


@callback(Output(GRAPH, "figure"), Input(PAINTED, "data"), prevent_initial_call=True)
def draw(shown: dict[str, Any]) -> dict[str, Any]:
    """The swimlane of the view `render` has just shown, with the state's figures on tiles and edges (the
    shared state `render` read, not a new computation)."""
    began = time.perf_counter()
    app = context()
    view = shown["view"]
    blueprint = find_blueprint(app, view.get("bp"))
    if blueprint is None:
        return {}
    design = map_design(blueprint)
    if shown.get("generated_at") is None:
        return build_blueprint_figure(design)
    now = datetime.now(UTC)
    _, end, live = window_of(view, now)
    try:
        state = state_of(app, blueprint, RANGES[view["range"]], None if live else end, now)
    except StateUnavailable:
        return build_blueprint_figure(design)
    figure = build_blueprint_figure(design, state, selected=view.get("step"))
    log.debug(
        "blueprint page drawn",
        extra={"blueprint": design.id, "draw_ms": round((time.perf_counter() - began) * 1000, 1)},
    )
    return figure


@callback(
    Output(HISTORY, "value"),
    Output(PLAYER, "disabled"),
    Output(PLAY, "children"),
    Output(HISTORY, "marks"),
    Input(PLAY, "n_clicks"),
    Input(PLAYER, "n_intervals"),
    Input(RANGE, "value"),
    State(HISTORY, "value"),
    State(PLAYER, "disabled"),
    prevent_initial_call=True,
)
def play(_clicks: int, _tick: int, range_: str, position: int, stopped: bool) -> tuple[Any, ...]:
    """Play from the slider's position (the oldest frame when live) to live, one frame per tick."""
    marks = history_marks(range_, datetime.now(UTC))
    if ctx.triggered_id == RANGE:
        return dash.no_update, dash.no_update, dash.no_update, marks
    if ctx.triggered_id == PLAY:
        if not stopped:
            return dash.no_update, True, "▶ Play", marks
        return (0 if position >= LIVE else position), False, "■ Stop", marks
    following = min(LIVE, position + 1)
    finished = following >= LIVE
    return following, finished, "▶ Play" if finished else "■ Stop", marks


clientside_callback(  # the address bar follows the view, so a copied link reproduces it
    "function(view) { return window.dash_clientside.sync_query(view); }",
    Output(QUERY, "children"),
    Input(VIEW, "data"),
)
