"""Journey view: one journey (a trace id or a correlation key such as journey.id) end to end, as a waterfall
across lanes, with people, processes and systems visibly distinct and waits drawn as gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import dash
from dash import Input, Output, State, callback, clientside_callback, dcc, html

from app.components import units
from app.components.badges import kpi
from app.components.design import MapDesign, map_design
from app.components.waterfall import actor_of, build_waterfall, lane_of, waits
from app.pages import context
from app.pages._journey_sql import JourneyUnavailable, read_journey, read_recent_journeys
from app.pages._sources import blueprints, find_blueprint
from app.pages._view import parse_instant

dash.register_page(__name__, path="/journey", name="Journey", title="Journey · Touchpoint")

VIEW = "journey-view"
PICKER = "journey-blueprint"
KEY = "journey-key"
SHOW = "journey-show"
RESULT = "journey-result"
QUERY = "journey-query"
RECENT_BACK = timedelta(hours=1)
SEARCH_BACK = timedelta(days=2)  # without `at`, journeys that started in the last two days are searched


def layout(bp: str = "", key: str = "", at: str = "", **_: str) -> html.Div:
    """The search form, pre-filled from the query string; the journey arrives through `render`."""
    known = list(blueprints(context()))
    chosen = bp if bp in known else (known[0] if known else None)
    return html.Div(
        [
            dcc.Store(id=VIEW, data={"bp": chosen, "key": key.strip(), "at": at or None}),
            html.Div(id=QUERY, hidden=True),
            html.Div(
                [
                    html.H1("Journey"),
                    dcc.Dropdown(id=PICKER, options=known, value=chosen, clearable=False, className="tp-dropdown"),
                    dcc.Input(
                        id=KEY,
                        value=key,
                        placeholder="journey id or trace id",
                        className="tp-input",
                        debounce=True,
                        style={"width": "320px"},
                    ),  # fmt: skip
                    html.Button("Show", id=SHOW, className="tp-btn primary"),
                ],
                className="tp-title",
            ),
            dcc.Loading(html.Div(id=RESULT), delay_show=300, type="dot"),
        ]
    )


@callback(
    Output(VIEW, "data"),
    Input(SHOW, "n_clicks"),
    Input(KEY, "value"),
    State(PICKER, "value"),
    prevent_initial_call=True,
)
def search(_clicks: int, key: str, blueprint: str) -> dict[str, Any]:
    """A new search: the journey key typed, in the blueprint picked."""
    return {"bp": blueprint, "key": (key or "").strip(), "at": None}


@callback(Output(RESULT, "children"), Input(VIEW, "data"))
def render(view: dict[str, Any]) -> Any:
    """The journey's figures and waterfall, or what to do when there is none."""
    app = context()
    blueprint = find_blueprint(app, view.get("bp"))
    if blueprint is None:
        return html.P("Pick a blueprint.", className="tp-empty")
    if not view.get("key"):
        return html.Div(
            [
                html.P(
                    "Paste a journey id (the blueprint's correlation key) or a trace id, or open one from a "
                    "step's slowest or failed journeys, or one of the latest below.",
                    className="tp-empty",
                ),
                build_recent(app, blueprint),
            ]
        )
    now = datetime.now(UTC)
    at = parse_instant(view.get("at"))
    start, end = (at - timedelta(days=1), at + timedelta(days=1)) if at else (now - SEARCH_BACK, now)
    try:
        spans = read_journey(app.client(), blueprint, view["key"], start, min(end, now + timedelta(minutes=1)))
    except JourneyUnavailable as exc:
        return html.Div(str(exc), className="tp-error")
    if not spans:
        return html.P(
            f"No spans of journey '{view['key']}' between {units.window_text(start, end)}.",
            className="tp-empty",
        )
    design = map_design(blueprint)
    return html.Div(
        [
            build_journey_figures(design, spans),
            html.Div(
                dcc.Graph(
                    figure=build_waterfall(design, spans),
                    config={"displayModeBar": False},
                    id="journey-waterfall",
                ),
                className="tp-card tp-section",
            ),
        ]
    )


def build_recent(app: Any, blueprint: Any) -> Any:
    """Links to the latest journeys of `blueprint` in the last hour, with their spans and failures."""
    now = datetime.now(UTC)
    try:
        recent = read_recent_journeys(app.client(), blueprint, now - RECENT_BACK, now + timedelta(minutes=1))
    except JourneyUnavailable as exc:
        return html.Div(str(exc), className="tp-error")
    if not recent:
        return html.P("No journeys in the last hour.", className="tp-empty")
    rows = [
        html.Tr(
            [
                html.Td(dcc.Link(r.key, href="/journey?" + urlencode({"bp": blueprint.id, "key": r.key}))),
                html.Td(units.clock(r.started)),
                html.Td(units.count(r.spans), className="num"),
                html.Td(units.count(r.failed) if r.failed else "—", className="num"),
            ]
        )
        for r in recent
    ]
    head = html.Tr(
        [html.Th("journey"), html.Th("started"), html.Th("spans", className="num"), html.Th("failed", className="num")]
    )
    return html.Div(
        [html.H3("Latest journeys"), html.Table([head, *rows], className="tp-table")],
        className="tp-card tp-section",
        id="journey-recent",
    )


def build_journey_figures(design: MapDesign, spans: list[Any]) -> html.Div:
    """The journey's headline: steps done, lead time, time spent waiting, hand-offs, failures."""
    first = min(s.start.timestamp() for s in spans)
    last = max(s.end_s for s in spans)
    stepped = sorted((s for s in spans if s.step), key=lambda s: s.start)
    handoffs = sum(
        1
        for a, b in zip(stepped, stepped[1:], strict=False)
        if (actor_of(design, a), a.actor_id) != (actor_of(design, b), b.actor_id)
    )
    waited = sum(gap for _, _, gap in waits(spans))
    failed = [s for s in spans if s.failed]
    lanes = {lane_of(design, s) for s in stepped}
    return html.Div(
        [
            kpi(units.count(len({s.step for s in stepped})), "steps"),
            kpi(units.count(len(spans)), "spans"),
            kpi(units.duration(last - first), "lead time"),
            kpi(units.duration(waited), "waiting"),
            kpi(units.count(handoffs), "hand-offs"),
            kpi(str(len(lanes)), "lanes"),
            kpi(units.count(len(failed)), "failed spans"),
            html.Span(
                f"started {units.clock(datetime.fromtimestamp(first, UTC))} · {design.name}",
                className="tp-small tp-muted",
            ),
        ],
        className="tp-kpis tp-card",
        id="journey-figures",
    )


clientside_callback(
    "function(view) { return window.dash_clientside.sync_query(view); }",
    Output(QUERY, "children"),
    Input(VIEW, "data"),
)
