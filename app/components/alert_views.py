"""The alerts page's pieces for ops: alerts grouped (by episode, step or rule) with state, severity, owner
and assignee; one alert's detail with its evidence chart, actions and history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import urlencode

from dash import dcc, html

from app.components import units
from app.components.sparkline import series_values
from app.components.trends import build_trend_figure
from blueprints.state_model import Point

GROUPINGS = {"episode": "incident", "step": "blueprint · step", "rule": "rule"}
# Which measure shows an alert's evidence, by rule kind: (sparkline measure, unit, threshold scale).
EVIDENCE = {
    "failure": ("errors", "%", 100.0),
    "burn_rate": ("errors", "%", None),
    "latency": ("p95", "s", 1.0),
    "bottleneck": ("wait", "s", 1.0),
    "dark": ("throughput", "spans/min", None),
    "conformance": ("throughput", "spans/min", None),
    "drop_off": ("throughput", "spans/min", None),
}
SILENCE_FOR = ("1h", "4h", "24h", "7d")


def group_key(alert: Any, by: str) -> str:
    """The group an alert belongs to: its episode, its blueprint and target, or its rule."""
    if by == "episode":
        return alert.episode_id or f"{alert.blueprint} · {alert.target}"
    if by == "rule":
        return alert.rule_id
    return f"{alert.blueprint} · {alert.target}"


def group_alerts(alerts: Sequence[Any], by: str) -> list[tuple[str, list[Any]]]:
    """Groups in order of their most urgent member (firing before acknowledged before the rest, pages
    first), members newest first."""
    rank = {"firing": 0, "pending": 1, "acknowledged": 2, "resolved": 3}
    severity = {"page": 0, "ticket": 1, "info": 2}
    groups: dict[str, list[Any]] = {}
    for alert in sorted(alerts, key=lambda a: a.started_at, reverse=True):
        groups.setdefault(group_key(alert, by), []).append(alert)

    def urgency(members: list[Any]) -> tuple[int, int]:
        return min((rank.get(str(a.state), 9), severity.get(str(a.severity), 9)) for a in members)

    return sorted(groups.items(), key=lambda item: (urgency(item[1]), item[0]))


def build_alert_groups(
    groups: Sequence[tuple[str, list[Any]]],
    by: str,
    selected: str | None,
    owners: Mapping[tuple[str, str], str],
    query: Mapping[str, str] | None = None,
) -> html.P | dcc.Markdown:
    """A table per group; each row links to the alert, keeping the filters in `query` (the URL keeps the
    selection).

    The list is one component holding escaped HTML (`alert_groups_html`), not a component per cell: Dash's
    renderer spends time on the square of the components one answer adds (1,200 of them, 50 alerts, took
    6.5 s to draw on a two-core machine; 300 alerts as one component draw in well under a second)."""
    if not groups:
        return html.P("No alerts match these filters.", className="tp-empty")
    return dcc.Markdown(alert_groups_html(groups, by, selected, owners, query), dangerously_allow_html=True)


def alert_groups_html(
    groups: Sequence[tuple[str, list[Any]]],
    by: str,
    selected: str | None,
    owners: Mapping[tuple[str, str], str],
    query: Mapping[str, str] | None = None,
) -> str:
    """The grouped alerts as HTML on one line, every text and attribute escaped: a card per group with its
    heading, its size and a table of its alerts (state, severity, linked summary, owner, assignee, since)."""
    header = _element(
        "tr",
        "".join(_element("th", h) for h in ("state", "severity", "summary", "owner", "assignee"))
        + _element("th", "since", class_="num")
        + _element("th"),
    )
    blocks = []
    for title, members in groups:
        heading = title if by != "episode" or " · " in title else f"{members[0].blueprint} · {members[0].target}"
        rows = [
            _element(
                "tr",
                _element("td", _element("span", _text(a.state), class_=f"tp-pill {str(a.state)}"))
                + _element("td", _element("span", _text(a.severity), class_=f"tp-pill {str(a.severity)}"))
                + _element(
                    "td", _element("a", _text(a.summary), href="/alerts?" + urlencode({**(query or {}), "alert": a.id}))
                )
                + _element("td", _text(owners.get((a.blueprint, a.step or ""), "—")), class_="tp-small")
                + _element("td", _text(a.assignee or "—"), class_="tp-small")
                + _element("td", _text(units.clock(a.fired_at or a.started_at)), class_="num tp-small")
                + _element("td", "🔕 silenced" if a.silenced_by else "", class_="tp-small"),
                class_="selected" if a.id == selected else None,
            )
            for a in members
        ]
        size = f"{len(members)} alert{'s' * (len(members) != 1)}"
        blocks.append(
            _element(
                "div",
                _element(
                    "div",
                    _element("h3", _text(heading)) + _element("span", size, class_="tp-small tp-muted"),
                    class_="tp-between",
                )
                + _element("table", header + "".join(rows), class_="tp-table"),
                class_="tp-card",
                style="margin-bottom: 10px",
            )
        )
    return _element("div", "".join(blocks), id="alerts-groups")


def _element(tag: str, markup: str = "", **attributes: str | None) -> str:
    """`<tag …>markup</tag>`: attribute values are escaped here, `markup` must already be (see `_text`);
    `class_` is written `class`, and attributes that are None or empty are left out."""
    written = "".join(
        f' {name.rstrip("_")}="{escape(value, quote=True)}"' for name, value in attributes.items() if value
    )
    return f"<{tag}{written}>{markup}</{tag}>"


def _text(value: object) -> str:
    """Text as HTML: escaped, and on one line, since a blank line would end the Markdown's HTML block (the
    browser folds the whitespace the same way)."""
    return escape(" ".join(str(value).split()), quote=True)


def build_evidence_figure(alert: Any, points: Sequence[Point], bucket_s: int) -> dict[str, Any] | None:
    """The alert's step over recent time in the measure its rule watches, with the rule's threshold."""
    measure, unit, scale = EVIDENCE.get(alert.kind, ("throughput", "spans/min", None))
    if not points:
        return None
    threshold = alert.threshold * scale if scale is not None and alert.threshold is not None else None
    return build_trend_figure(
        f"Evidence: {alert.kind.replace('_', ' ')}",
        [p.t for p in points],
        {measure: series_values(points, measure, bucket_s)},
        unit,
        threshold,
        "threshold",
    )


def build_alert_detail(
    alert: Any, audit: Sequence[Any], owner: str | None, evidence: dict[str, Any] | None
) -> html.Div:
    """One alert: what, where, who owns it, the evidence, its notes and what happened so far (the actions
    are drawn apart, by `build_alert_actions`)."""
    where = f"{alert.blueprint} · {alert.target}"
    facts = [
        ("state", str(alert.state)),
        ("severity", str(alert.severity)),
        ("rule", f"{alert.rule_id} ({alert.kind})"),
        ("where", where),
        ("owner", owner or "—"),
        ("assignee", alert.assignee or "—"),
        ("value / threshold", f"{_figure(alert.value)} / {_figure(alert.threshold)}"),
        ("started", units.clock(alert.started_at)),
        (
            "acknowledged",
            f"{units.clock(alert.acknowledged_at)} by {alert.acknowledged_by}" if alert.acknowledged_at else "—",
        ),
        ("resolved", f"{units.clock(alert.resolved_at)} ({alert.resolved_by})" if alert.resolved_at else "—"),
    ]
    history = [
        html.Li(
            [
                html.Span(units.clock(e.at), className="tp-muted"),
                f" {e.action} by {e.actor}",
                f": {e.detail}" if e.detail else "",
            ]
        )
        for e in sorted(audit, key=lambda e: e.at)
    ]
    return html.Div(
        [
            html.H2(alert.summary),
            html.Table(
                [html.Tr([html.Td(k, className="tp-muted"), html.Td(v)]) for k, v in facts],
                className="tp-table",
            ),
            dcc.Graph(figure=evidence, config={"displayModeBar": False})
            if evidence
            else html.P("No evidence series for this alert.", className="tp-empty"),
            html.H3("Notes", className="tp-section"),
            html.Ul([html.Li(f"{units.clock(n.at)} {n.by}: {n.text}") for n in alert.notes])
            if alert.notes
            else html.P("No notes.", className="tp-empty"),
            html.H3("History", className="tp-section"),
            html.Ul(history, id="alerts-history") if history else html.P("No history recorded.", className="tp-empty"),
        ],
        id="alerts-detail-body",
    )


def build_alert_actions() -> html.Div:
    """Acknowledge, resolve, assign, silence for a period, add a note. Drawn once with the page so that a
    refresh never wipes what someone is typing; `action_state` fits them to the selected alert."""
    return html.Div(
        [
            html.H3("Act"),
            html.Div(
                [
                    html.Button("Acknowledge", id="alerts-action-ack", className="tp-btn primary"),
                    html.Button("Resolve", id="alerts-action-resolve", className="tp-btn"),
                ],
                className="tp-row",
            ),
            html.Div(
                [
                    dcc.Input(id="alerts-action-assignee", placeholder="assign to…", className="tp-input"),
                    html.Button("Assign", id="alerts-action-assign", className="tp-btn"),
                ],
                className="tp-row",
            ),
            html.Div(
                [
                    dcc.Dropdown(
                        id="alerts-silence-duration",
                        options=list(SILENCE_FOR),
                        value="4h",
                        clearable=False,
                        style={"width": "90px"},
                    ),  # fmt: skip
                    html.Button("Silence", id="alerts-silence-button", className="tp-btn"),
                ],
                className="tp-row",
            ),
            html.Div(
                [
                    dcc.Textarea(
                        id="alerts-action-text",
                        placeholder="add a note…",
                        className="tp-input",
                        style={"width": "100%", "height": "52px"},
                    ),  # fmt: skip
                    html.Button("Add note", id="alerts-action-note", className="tp-btn"),
                ],
                className="tp-col",
            ),
            html.Div(id="alerts-action-result"),
        ],
        className="tp-col tp-section",
    )


def action_state(alert: Any | None) -> tuple[bool, bool, str, str]:
    """(acknowledge disabled, resolve disabled, current assignee, silence button label) for an alert."""
    if alert is None:
        return True, True, "", "Silence"
    state = str(alert.state)
    where = f"{alert.blueprint} · {alert.step}" if alert.step else f"{alert.blueprint} · {alert.rule_id}"
    return state != "firing", state == "resolved", alert.assignee or "", f"Silence {where}"


def _figure(value: float | None) -> str:
    return units.NONE if value is None else f"{value:.4g}"
