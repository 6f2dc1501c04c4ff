"""Alerts, for ops: firing, acknowledged and resolved alerts grouped by incident, step or rule, with owner
and assignee; one alert's evidence chart, actions (acknowledge, resolve, assign, silence for a period, note)
and history. Actions go through the alert engine's book, as the API's do."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dash
from dash import Input, Output, State, callback, clientside_callback, ctx, dcc, html

from alerts.durations import parse_duration
from alerts.errors import InvalidAction, InvalidSilence, UnknownAlert
from app.components.alert_views import (
    GROUPINGS,
    action_state,
    build_alert_actions,
    build_alert_detail,
    build_alert_groups,
    build_evidence_figure,
    group_alerts,
)
from app.components.design import map_design
from app.pages import context
from app.pages._sources import alert_engine, blueprints, find_blueprint, state_of
from app.pages._view import DEFAULT_RANGE, RANGES

dash.register_page(__name__, path="/alerts", name="Alerts", title="Alerts · Touchpoint")

VIEW = "alerts-view"
STATES = "alerts-states"
PICKER = "alerts-blueprint"
GROUP = "alerts-group"
REFRESH = "alerts-refresh"
LIST = "alerts-list"
DETAIL = "alerts-detail"
CHANGED = "alerts-changed"  # bumped after an action; not an alerts-action-* id, so viewers may read it
QUERY = "alerts-query"
ACTIONS = "alerts-actions-panel"
STATE_OPTIONS = ("firing", "acknowledged", "pending", "resolved")
EVIDENCE_WINDOW_S = RANGES[DEFAULT_RANGE]  # the window the overview keeps fresh: no extra computation


def layout(alert: str = "", bp: str = "", state: str = "", group: str = "episode", **_: str) -> html.Div:
    """Filters, the grouped list and the selected alert; the list arrives through `render`."""
    app = context()
    if alert_engine(app) is None:
        return html.Div(
            [html.H1("Alerts"), html.P("This server runs no alert engine.", className="tp-empty")],
            className="tp-card",
        )
    from app.auth import Scope, current_identity

    can_act = current_identity().holds(Scope.OPERATE)  # without it the actions are not drawn at all
    states = [s for s in state.split(",") if s in STATE_OPTIONS] or ["firing", "acknowledged", "pending"]
    view = {
        "alert": alert or None,
        "bp": bp or None,
        "state": ",".join(states),
        "group": group if group in GROUPINGS else "episode",
    }
    return html.Div(
        [
            dcc.Store(id=VIEW, data=view),
            dcc.Store(id=CHANGED, data=0),
            dcc.Interval(id=REFRESH, interval=max(app.settings.refresh_ms, 5000)),
            html.Div(id=QUERY, hidden=True),
            html.Div(
                [
                    html.H1("Alerts"),
                    dcc.Checklist(
                        id=STATES,
                        options=list(STATE_OPTIONS),
                        value=states,
                        inline=True,
                        className="tp-radio",
                    ),
                    dcc.Dropdown(
                        id=PICKER,
                        options=list(blueprints(app)),
                        value=view["bp"],
                        placeholder="every blueprint",
                        className="tp-dropdown",
                    ),
                    html.Label("group by"),
                    dcc.RadioItems(
                        id=GROUP,
                        options=[{"label": v, "value": k} for k, v in GROUPINGS.items()],
                        value=view["group"],
                        inline=True,
                        className="tp-radio",
                    ),
                ],
                className="tp-controls",
            ),
            html.Div(
                [
                    html.Div(id=LIST),
                    html.Div(
                        [
                            html.Div(id=DETAIL),
                            html.Div(build_alert_actions(), id=ACTIONS, hidden=not view["alert"])
                            if can_act
                            else html.P(
                                "Acting on alerts needs the operator role.", className="tp-small tp-muted"
                            ),
                        ],
                        className="tp-card tp-side",
                    ),
                ],
                className="tp-split",
            ),
        ]
    )


@callback(
    Output(VIEW, "data"),
    Input(STATES, "value"),
    Input(PICKER, "value"),
    Input(GROUP, "value"),
    State(VIEW, "data"),
    prevent_initial_call=True,
)
def change_filters(
    states: list[str], blueprint: str | None, group: str, view: dict[str, Any]
) -> dict[str, Any]:
    """Fold the filters into the view (the selection stays)."""
    return {**view, "state": ",".join(states or []), "bp": blueprint, "group": group}


@callback(
    Output(LIST, "children"),
    Output(DETAIL, "children"),
    Input(VIEW, "data"),
    Input(REFRESH, "n_intervals"),
    Input(CHANGED, "data"),
)
def render(view: dict[str, Any], _tick: int, _changed: int) -> tuple[Any, Any]:
    """The grouped list from the alert store, and the selected alert with its evidence and history."""
    app = context()
    engine = alert_engine(app)
    store = engine.book.store
    states = [s for s in (view.get("state") or "").split(",") if s]
    found = store.alerts(states, view.get("bp"), None, 300) if states else []
    owners = _owners(app)
    query = {k: v for k in ("state", "bp", "group") if (v := view.get(k))}
    groups = build_alert_groups(
        group_alerts(found, view["group"]), view["group"], view.get("alert"), owners, query
    )
    selected = store.alert(view["alert"]) if view.get("alert") else None
    if selected is None:
        return groups, html.P(
            "Select an alert to see its evidence, act on it and read its history.", className="tp-empty"
        )
    evidence = None
    blueprint = find_blueprint(app, selected.blueprint)
    if blueprint is not None and selected.step:
        now = datetime.now(UTC)
        try:
            state = state_of(app, blueprint, EVIDENCE_WINDOW_S, None, now)
        except Exception:  # noqa: BLE001 - the alert is still shown without its chart
            state = None
        step = next((s for s in state.steps if s.step_id == selected.step), None) if state else None
        if step is not None and state is not None:
            evidence = build_evidence_figure(selected, step.series, state.window.bucket_s)
    detail = build_alert_detail(
        selected, store.audit(selected.id), owners.get((selected.blueprint, selected.step or "")), evidence
    )
    return groups, detail


@callback(
    Output(ACTIONS, "hidden"),
    Output("alerts-action-ack", "disabled"),
    Output("alerts-action-resolve", "disabled"),
    Output("alerts-action-assignee", "value"),
    Output("alerts-silence-button", "children"),
    Output("alerts-action-result", "children", allow_duplicate=True),
    Input(VIEW, "data"),
    Input(CHANGED, "data"),
    prevent_initial_call="initial_duplicate",
)
def fit_actions(view: dict[str, Any], _changed: int) -> tuple[Any, ...]:
    """Show the actions that make sense for the selected alert (not on every refresh: typing survives)."""
    alert = alert_engine(context()).book.store.alert(view["alert"]) if view.get("alert") else None
    ack_off, resolve_off, assignee, silence = action_state(alert)
    cleared = dash.no_update if ctx.triggered_id == CHANGED else None
    return alert is None, ack_off, resolve_off, assignee, silence, cleared


@callback(
    Output("alerts-action-result", "children"),
    Output(CHANGED, "data"),
    Input("alerts-action-ack", "n_clicks"),
    Input("alerts-action-resolve", "n_clicks"),
    Input("alerts-action-assign", "n_clicks"),
    Input("alerts-action-note", "n_clicks"),
    Input("alerts-silence-button", "n_clicks"),
    State("alerts-action-assignee", "value"),
    State("alerts-action-text", "value"),
    State("alerts-silence-duration", "value"),
    State(VIEW, "data"),
    State(CHANGED, "data"),
    prevent_initial_call=True,
)
def act(*args: Any) -> tuple[Any, Any]:
    """Acknowledge, resolve, assign, annotate or silence the selected alert, as the signed-in person."""
    *clicks, assignee, text, duration, view, changed = args
    if not ctx.triggered_id or not any(clicks) or not view.get("alert"):
        return dash.no_update, dash.no_update
    from app.auth import current_identity

    book = alert_engine(context()).book
    by = current_identity().name or "dashboard"
    now = datetime.now(UTC)
    alert_id = view["alert"]
    try:
        if ctx.triggered_id == "alerts-silence-button":
            alert = book.store.alert(alert_id)
            if alert is None:
                raise UnknownAlert(f"no alert has the id {alert_id!r}")
            matchers = [f"blueprint={alert.blueprint}"] + (
                [f"step={alert.step}"] if alert.step else [f"rule={alert.rule_id}"]
            )
            book.silence(
                matchers,
                now,
                now + parse_duration(duration),
                by,
                f"from the dashboard, alert {alert_id}",
                now,
            )
            message = f"Silenced {', '.join(matchers)} for {duration}."
        else:
            action = str(ctx.triggered_id).rsplit("-", 1)[-1]
            if action == "note" and not (text or "").strip():
                return html.Div("Write the note first.", className="tp-error"), dash.no_update
            book.act(
                alert_id, action, by, now, (assignee or "") if action == "assign" else (text or "").strip()
            )
            message = {
                "ack": "Acknowledged.",
                "resolve": "Resolved.",
                "assign": f"Assigned to {assignee or 'nobody'}.",
                "note": "Note added.",
            }[action]
    except (UnknownAlert, InvalidAction, InvalidSilence, ValueError) as exc:
        return html.Div(str(exc), className="tp-error"), dash.no_update
    return html.Div(message, className="tp-ok-note"), (changed or 0) + 1


def _owners(app: Any) -> dict[tuple[str, str], str]:
    """(blueprint, step) -> the step's owner, or the blueprint's owner for its steps without one."""
    owners: dict[tuple[str, str], str] = {}
    for blueprint_id, blueprint in blueprints(app).items():
        design = map_design(blueprint)
        for step in design.steps:
            owner = step.owner or design.owner
            if owner:
                owners[(blueprint_id, step.id)] = owner
        if design.owner:
            owners[(blueprint_id, "")] = design.owner
    return owners


clientside_callback(
    "function(view) { return window.dash_clientside.sync_query(view); }",
    Output(QUERY, "children"),
    Input(VIEW, "data"),
)
