"""The overview's pieces for managers: one card per journey (health score and its change, trend, objectives
and error budget, worst bottleneck, open alerts), the touchpoints of every journey, and a channel view."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from dash import dcc, html

from app.components import units
from app.components.badges import health_badge, kpi
from app.components.design import MapDesign
from app.components.sparkline import build_sparkline, combined_series, series_values
from app.components.theme import health_rank
from blueprints.journey_graph import CUSTOMER_FACING
from blueprints.state_model import BlueprintState, Health, ObjectiveStatus

CHANNELS = ("web", "mobile", "phone", "store")


@dataclass(frozen=True)
class JourneyHealth:
    """One journey on the overview: its design, its state now, the period before, its open alerts."""

    design: MapDesign
    state: BlueprintState | None
    previous: BlueprintState | None = None
    alerts: Sequence[Any] = ()
    error: str | None = None


def objectives_summary(state: BlueprintState) -> tuple[int, int, tuple[str, ObjectiveStatus] | None]:
    """(met, judged, the objective with the least error budget left and its step)."""
    judged = [(s.step_id, o) for s in state.steps for o in s.objectives if o.met is not None]
    met = sum(1 for _, o in judged if o.met)
    budgeted = [(step, o) for step, o in judged if o.budget_remaining is not None]
    worst = min(budgeted, key=lambda pair: pair[1].budget_remaining or 0.0) if budgeted else None
    return met, len(judged), worst


def score_change(journey: JourneyHealth) -> str:
    """'▲ 4 vs previous period', '▼ 12 …', or '' when either score is unknown."""
    now = journey.state.journey.score if journey.state else None
    before = journey.previous.journey.score if journey.previous else None
    if now is None or before is None:
        return ""
    delta = now - before
    if abs(delta) < 0.5:
        return "= previous period"
    return f"{'▲' if delta > 0 else '▼'} {abs(delta):.0f} vs previous period"


def build_journey_card(journey: JourneyHealth, range_: str) -> html.Div:
    """A manager's card for one journey; everything on it links to the live blueprint."""
    design, state = journey.design, journey.state
    link = "/blueprint?" + urlencode({"bp": design.id, "range": range_})
    if state is None:
        return html.Div(
            [
                html.H2(dcc.Link(design.name, href=link)),
                html.Div(journey.error or "No state.", className="tp-error"),
            ],
            className="tp-card health-no_data",
        )
    health = state.journey.health
    facing = {s.id for s in design.steps if s.lane in CUSTOMER_FACING}
    trend = combined_series([s.series for s in state.steps if s.step_id in facing])
    met, judged, worst = objectives_summary(state)
    alerts = list(journey.alerts)
    firing = sum(1 for a in alerts if str(a.state) == "firing")
    parts: list[Any] = [
        html.Div(
            [html.H2(dcc.Link(design.name, href=link)), health_badge(health)],
            className="tp-between",
        ),
        html.Div(
            [
                html.Span([units.score(state.journey.score), html.Small(" /100")], className="tp-score"),
                html.Span(score_change(journey), className="tp-small tp-muted"),
            ],
            className="tp-row",
        ),
        html.Div(
            [
                html.Span(
                    _latest("customer-facing spans/min", trend, "throughput", state.window.bucket_s),
                    className="tp-small tp-muted",
                ),
                dcc.Graph(
                    figure=build_sparkline(trend, "throughput", state.window.bucket_s, health),
                    config={"displayModeBar": False, "staticPlot": False},
                    style={"height": "38px"},
                ),
                html.Span(
                    _latest("error rate", trend, "errors", state.window.bucket_s),
                    className="tp-small tp-muted",
                ),
                dcc.Graph(
                    figure=build_sparkline(trend, "errors", state.window.bucket_s, health),
                    config={"displayModeBar": False},
                    style={"height": "38px"},
                ),
            ]
        ),
        html.Div(
            [
                kpi(units.count(state.journey.journeys), "journeys"),
                kpi(units.percent(state.journey.completion_rate, 0), "completed"),
                kpi(units.duration(state.journey.lead_time_mean_s), "lead time"),
            ],
            className="tp-kpis",
        ),
        html.Div(_objective_line(design, met, judged, worst), className="tp-small"),
        html.Div(
            ["Worst bottleneck: ", state.bottleneck[0].evidence]
            if state.bottleneck
            else "No waiting measured.",
            className="tp-small tp-muted",
        ),
        html.Div(
            dcc.Link(
                f"{len(alerts)} open alert{'s' if len(alerts) != 1 else ''} ({firing} firing)",
                href="/alerts?" + urlencode({"bp": design.id}),
            )
            if alerts
            else html.Span("No open alerts", className="tp-muted"),
            className="tp-small",
        ),
    ]
    return html.Div(parts, className=f"tp-card tp-col health-{health.value}", id=f"overview-card-{design.id}")


def _latest(caption: str, points: Sequence[Any], measure: str, bucket_s: int) -> str:
    values = [v for v in series_values(points, measure, bucket_s) if v is not None]
    if not values:
        return caption
    unit = "%" if measure == "errors" else ""
    return f"{caption} · last {values[-1]:.1f}{unit} · peak {max(values):.1f}{unit}"


def _objective_line(
    design: MapDesign, met: int, judged: int, worst: tuple[str, ObjectiveStatus] | None
) -> list[Any]:
    if not judged:
        return ["No objectives judged in this period."]
    line: list[Any] = [html.B(f"{met}/{judged} objectives met")]
    if worst is not None:
        step, objective = worst
        left = units.percent(objective.budget_remaining, 0)
        line.append(f" · least budget left: {design.step_name(step)} {objective.kind} ({left})")
    return line


def build_touchpoint_table(journeys: Sequence[JourneyHealth]) -> html.Table:
    """Every touchpoint of every journey, worst first: health, score, channel, importance, what hurts it."""
    rows = []
    for journey in journeys:
        if journey.state is None:
            continue
        for touchpoint in journey.state.touchpoints:
            causes = ", ".join(journey.design.step_name(p.cause_step) for p in touchpoint.impacted_by)
            rows.append(
                (health_rank(touchpoint.health), touchpoint.score or 0.0, journey, touchpoint, causes)
            )
    rows.sort(key=lambda r: (r[0], r[1]))
    header = ["touchpoint", "journey", "channel", "health", "score", "importance", "impacted by"]
    return html.Table(
        [
            html.Tr([html.Th(h, className="num" if h in ("score", "importance") else None) for h in header]),
            *(
                html.Tr(
                    [
                        html.Td(t.name),
                        html.Td(dcc.Link(j.design.name, href="/blueprint?" + urlencode({"bp": j.design.id}))),
                        html.Td(t.channel),
                        html.Td(health_badge(t.health)),
                        html.Td(units.score(t.score), className="num"),
                        html.Td(f"{t.importance:g}", className="num"),
                        html.Td(causes or "—", className="tp-small"),
                    ]
                )
                for _, _, j, t, causes in rows
            ),
        ],
        className="tp-table",
        id="overview-touchpoints",
    )


def build_channel_view(journeys: Sequence[JourneyHealth]) -> html.Div:
    """Web, mobile, phone and store (and any other channel in use): worst health, importance-weighted score
    and the touchpoints behind each."""
    by_channel: dict[str, list[Any]] = {c: [] for c in CHANNELS}
    for journey in journeys:
        for touchpoint in journey.state.touchpoints if journey.state else []:
            by_channel.setdefault(touchpoint.channel, []).append(touchpoint)
    cards = []
    for channel, touchpoints in by_channel.items():
        scored = [t for t in touchpoints if t.score is not None]
        weight = sum(t.importance for t in scored)
        score = sum(t.score * t.importance for t in scored) / weight if weight else None
        health = min((t.health for t in touchpoints), key=health_rank, default=Health.NO_DATA)
        cards.append(
            html.Div(
                [
                    html.Div([html.H3(channel.capitalize()), health_badge(health)], className="tp-between"),
                    html.Div([html.Span(units.score(score), className="tp-score"), html.Small(" /100")]),
                    html.Div(
                        ", ".join(t.name for t in touchpoints) or "no touchpoints on this channel",
                        className="tp-small tp-muted",
                    ),
                ],
                className=f"tp-card health-{health.value}",
                id=f"overview-channel-{channel}",
            )
        )
    return html.Div(cards, className="tp-grid channels")
