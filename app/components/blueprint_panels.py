"""The panels beside and above the live blueprint: the journey's headline figures, the selected step's
figures and objectives, and — with no step selected — bottlenecks, touchpoints and unmapped spans."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from dash import dcc, html

from app.components import units
from app.components.badges import health_badge, kpi, pill
from app.components.design import MapDesign
from app.components.swimlane import objective_text
from app.components.theme import LANE_TITLES
from blueprints.state_model import BlueprintState, StepState


def build_summary(design: MapDesign, state: BlueprintState | None, live: bool) -> html.Div:
    """The headline: journey health and score, journeys, completion, lead time, flow efficiency, window."""
    if state is None:
        return html.Div(html.H1(design.name), className="tp-title")
    journey = state.journey
    window = units.window_text(state.window.start, state.window.end)
    return html.Div(
        [
            html.H1(design.name),
            health_badge(journey.health, f"score {units.score(journey.score)}"),
            html.Div(
                [
                    kpi(units.count(journey.journeys), "journeys"),
                    kpi(units.percent(journey.completion_rate, 0), "completed"),
                    kpi(units.duration(journey.lead_time_mean_s), "lead time"),
                    kpi(units.percent(journey.flow_efficiency, 0), "flow efficiency"),
                    kpi(units.percent(state.conformance.rate, 0), "on designed path"),
                ],
                className="tp-kpis",
            ),
            html.Span(
                [("live · " if live else "replay · ") + window, f" · {state.source}"],
                className="tp-small tp-muted",
                id="blueprint-window",
            ),
        ],
        className="tp-title",
    )


def build_step_panel(
    design: MapDesign, state: BlueprintState | None, step_id: str, range_: str, alerts: Sequence[Any] = ()
) -> html.Div:
    """Everything about one step: health and why, figures with units, objectives with error budget left,
    impact across the line of visibility, open alerts, and the way to the drill-down."""
    step = design.step(step_id)
    if step is None:
        return html.Div(f"The blueprint has no step '{step_id}'.", className="tp-empty")
    live = next((s for s in state.steps if s.step_id == step_id), None) if state else None
    link = "/step?" + urlencode({"bp": design.id, "step": step_id, "range": range_})
    head = [
        html.Div(
            [html.H2(step.name), dcc.Link("Drill down →", href=link, id="blueprint-drill")],
            className="tp-between",
        ),
        html.Div(
            f"{LANE_TITLES.get(step.lane, step.lane)} · {step.actor}"
            + (f" · owner {step.owner}" if step.owner else "")
            + (f" · touchpoint {step.touchpoint}" if step.touchpoint else ""),
            className="tp-small tp-muted",
        ),
    ]
    if live is None:
        return html.Div([*head, html.P("No figures for this step in the window.", className="tp-empty")])
    rows = [
        ("Spans", units.count(live.count)),
        ("Throughput", units.rate(live.throughput_per_min)),
        ("Errors", f"{units.count(live.errors)} ({units.percent(live.error_rate)})"),
        ("Latency p50 / p95", f"{units.duration(live.p50_s)} / {units.duration(live.p95_s)}"),
        ("Latency p99", units.duration(live.p99_s)),
        (
            "Wait before, mean / p95",
            f"{units.duration(live.wait_mean_s)} / {units.duration(live.wait_p95_s)}",
        ),
        ("In flight at window end", units.count(live.in_flight)),
    ]
    return html.Div(
        [
            *head,
            html.Div([health_badge(live.health), html.Span(f" {live.health_reason}", className="tp-small")]),
            _table(rows),
            html.H3("Objectives", className="tp-section"),
            _objectives(live),
            *_impacts(design, state, step_id),
            *_alerts(alerts),
        ]
    )


def build_journey_panel(design: MapDesign, state: BlueprintState | None) -> html.Div:
    """With no step selected: where journeys wait (bottlenecks with evidence), touchpoints, drop-offs and
    spans no step claims."""
    if state is None:
        return html.Div("No live state.", className="tp-empty")
    parts: list[Any] = [html.H2("Where journeys wait")]
    if state.bottleneck:
        parts.append(html.Ol([html.Li(b.evidence, className="tp-evidence") for b in state.bottleneck[:4]]))
    else:
        parts.append(html.P("No waiting measured in this window.", className="tp-empty"))
    parts.append(html.H3("Touchpoints", className="tp-section"))
    parts.append(
        html.Table(
            [
                html.Tr(
                    [
                        html.Th("touchpoint"),
                        html.Th("health"),
                        html.Th("score", className="num"),
                    ]
                ),
                *(
                    html.Tr(
                        [
                            html.Td([t.name, html.Div(t.channel, className="tp-small tp-muted")]),
                            html.Td(health_badge(t.health)),
                            html.Td(units.score(t.score), className="num"),
                        ]
                    )
                    for t in state.touchpoints
                ),
            ],
            className="tp-table",
        )
        if state.touchpoints
        else html.P("The blueprint names no touchpoints.", className="tp-empty")
    )
    drops = [d for d in state.journey.drop_off if d.journeys]
    if drops:
        parts.append(html.H3("Drop-off", className="tp-section"))
        parts.append(
            _table(
                [
                    (design.step_name(d.step_id), f"{d.journeys} ({d.error} error, {d.abandoned} abandoned)")
                    for d in sorted(drops, key=lambda d: -d.journeys)[:5]
                ]
            )
        )
    if state.conformance.unmapped:
        parts.append(html.H3("Spans no step of this blueprint claims", className="tp-section"))
        parts.append(html.P("They may belong to another blueprint's journey.", className="tp-small tp-muted"))
        parts.append(
            _table([(f"{u.service} · {u.span_name}", units.count(u.count)) for u in state.conformance.unmapped[:5]])
        )
    parts.append(html.P("Click a step for its figures.", className="tp-small tp-muted tp-section"))
    return html.Div(parts)


def _table(rows: Sequence[tuple[str, str]]) -> html.Table:
    return html.Table(
        [html.Tr([html.Td(k, className="tp-muted"), html.Td(v, className="num")]) for k, v in rows],
        className="tp-table",
    )


def _objectives(live: StepState) -> html.Div:
    if not live.objectives:
        return html.Div("No objectives set for this step.", className="tp-empty")
    items = []
    for objective in live.objectives:
        left = objective.budget_remaining
        width = 0.0 if left is None else max(0.0, min(1.0, left))
        colour = "var(--ok)" if width > 0.5 else "var(--warn)" if width > 0 else "var(--critical)"
        items.append(
            html.Div(
                [
                    html.Div(objective_text(objective), className="tp-small"),
                    html.Div(
                        html.Div(style={"width": f"{width * 100:.0f}%", "background": colour}),
                        className="tp-bar",
                    )
                    if left is not None
                    else None,
                ],
                className="tp-col",
                style={"marginBottom": "6px"},
            )
        )
    return html.Div(items)


def _impacts(design: MapDesign, state: BlueprintState | None, step_id: str) -> list[Any]:
    if state is None:
        return []
    lines = []
    for touchpoint in state.touchpoints:
        for path in touchpoint.impacted_by:
            if path.cause_step == step_id:
                names = ", ".join(design.step_name(s) for s in path.affected_steps)
                lines.append(f"Hurts {names} at {touchpoint.name}.")
            elif step_id in path.affected_steps:
                lines.append(f"Impacted by {design.step_name(path.cause_step)} behind the line of visibility.")
    if not lines:
        return []
    return [html.H3("Impact", className="tp-section"), html.Ul([html.Li(t) for t in dict.fromkeys(lines)])]


def _alerts(alerts: Sequence[Any]) -> list[Any]:
    if not alerts:
        return []
    return [
        html.H3("Open alerts", className="tp-section"),
        html.Ul(
            [
                html.Li([pill(str(a.state), str(a.state)), " ", dcc.Link(a.summary, href=f"/alerts?alert={a.id}")])
                for a in alerts
            ]
        ),
    ]
