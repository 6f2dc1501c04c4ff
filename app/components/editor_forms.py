"""The editor's forms and lists, built from the draft document: the selected step's fields, selector and
objectives; its flows; adding a step; unmapped candidates; touchpoint importance; problems; history and a
version's diff. Every id starts with `editor-` (the access policy gives these callbacks to editors)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from dash import dcc, html

from app.components import units
from app.components.theme import LANES

ACTORS = ("person", "process", "system")


def _field(label: str, control: Any) -> html.Label:
    return html.Label([html.Span(label, className="tp-small tp-muted"), control], className="tp-col")


def _input(component_id: str, value: Any, placeholder: str = "", kind: str = "text") -> dcc.Input:
    return dcc.Input(
        id=component_id,
        value="" if value is None else value,
        placeholder=placeholder,
        type=kind,
        className="tp-input",
    )


def build_step_form(document: Mapping[str, Any], step_id: str | None) -> html.Div:
    """The selected step's name, id, lane, stage, actor, owner, touchpoint, selector and objectives."""
    step = next((s for s in document.get("steps") or [] if s.get("id") == step_id), None)
    if step is None:
        return html.P("Click a step on the preview to edit it.", className="tp-empty")
    stages = [s.get("id") for s in document.get("stages") or []]
    touchpoints = [t.get("id") for t in document.get("touchpoints") or []]
    select = step.get("select") or {}
    objectives = step.get("objectives") or {}
    latency = objectives.get("latency") or {}
    attributes = "\n".join(f"{k}={v}" for k, v in (select.get("attributes") or {}).items())
    return html.Div(
        [
            html.H3(f"Step {step_id}"),
            _field("name", _input("editor-step-name", step.get("name"))),
            _field("id", _input("editor-step-id", step.get("id"))),
            html.Div(
                [
                    _field(
                        "lane",
                        dcc.Dropdown(
                            id="editor-step-lane",
                            options=list(LANES),
                            value=step.get("lane"),
                            clearable=False,
                        ),
                    ),
                    _field(
                        "stage",
                        dcc.Dropdown(
                            id="editor-step-stage", options=stages, value=step.get("stage"), clearable=False
                        ),
                    ),
                ],
                className="tp-grid cols-2",
            ),
            html.Div(
                [
                    _field(
                        "actor",
                        dcc.Dropdown(
                            id="editor-step-actor",
                            options=list(ACTORS),
                            value=step.get("actor", "system"),
                            clearable=False,
                        ),
                    ),
                    _field(
                        "touchpoint",
                        dcc.Dropdown(
                            id="editor-step-touchpoint", options=touchpoints, value=step.get("touchpoint")
                        ),
                    ),
                ],
                className="tp-grid cols-2",
            ),
            _field("owner", _input("editor-step-owner", step.get("owner"))),
            html.H3("Selector", className="tp-section"),
            _field("service", _input("editor-select-service", select.get("service"), "service.name, exact")),
            _field(
                "span", _input("editor-select-span", select.get("span"), "exact, glob GET /p/* or re:^…$")
            ),
            _field(
                "attributes",
                dcc.Textarea(
                    id="editor-select-attributes",
                    value=attributes,
                    placeholder="key=value per line",
                    className="tp-input",
                ),
            ),
            _field(
                "blueprint.step",
                _input("editor-select-step", select.get("step"), "spans tagged with this step"),
            ),
            html.H3("Objectives", className="tp-section"),
            html.Div(
                [
                    _field(
                        "availability",
                        _input(
                            "editor-objective-availability", objectives.get("availability"), "0.995", "number"
                        ),
                    ),
                    _field(
                        "max wait (s)",
                        _input("editor-objective-wait", objectives.get("max_wait_s"), "300", "number"),
                    ),
                    _field(
                        "latency percentile",
                        dcc.Dropdown(
                            id="editor-objective-percentile",
                            options=[50, 90, 95, 99],
                            value=latency.get("percentile", 95),
                            clearable=False,
                        ),
                    ),
                    _field(
                        "latency threshold (ms)",
                        _input("editor-objective-threshold", latency.get("threshold_ms"), "800", "number"),
                    ),
                ],
                className="tp-grid cols-2",
            ),
            html.Div(
                [
                    html.Button("Apply to draft", id="editor-apply", className="tp-btn primary"),
                    html.Button("Delete step", id="editor-delete", className="tp-btn danger"),
                ],
                className="tp-row tp-section",
            ),
            build_flow_list(document, str(step_id)),
        ],
        className="tp-col",
    )


def build_flow_list(document: Mapping[str, Any], step_id: str) -> html.Div:
    """The step's outgoing flows, each removable, and a control to draw a new one."""
    targets = []
    for flow in document.get("flows") or []:
        if flow.get("from") == step_id:
            to = flow.get("to")
            targets += to if isinstance(to, list) else [to]
    others = [s.get("id") for s in document.get("steps") or [] if s.get("id") != step_id]
    return html.Div(
        [
            html.H3("Flows from this step", className="tp-section"),
            html.Ul(
                [
                    html.Li(
                        [
                            f"→ {target} ",
                            html.Button(
                                "remove",
                                id={"type": "editor-flow-remove", "to": str(target)},
                                className="tp-btn",
                            ),
                        ]
                    )
                    for target in targets
                ]
            )
            if targets
            else html.P("No flows out of this step.", className="tp-empty"),
            html.Div(
                [
                    dcc.Dropdown(
                        id="editor-flow-to",
                        options=others,
                        placeholder="to step…",
                        style={"minWidth": "160px"},
                    ),
                    html.Button("Draw flow", id="editor-flow-add", className="tp-btn"),
                ],
                className="tp-row",
            ),
        ]
    )


def build_add_step(document: Mapping[str, Any]) -> html.Div:
    """Name, lane and stage of a new step."""
    stages = [s.get("id") for s in document.get("stages") or []]
    return html.Div(
        [
            html.H3("Add a step"),
            _input("editor-new-name", "", "name of the new step"),
            html.Div(
                [
                    dcc.Dropdown(
                        id="editor-new-lane", options=list(LANES), value="frontstage", clearable=False
                    ),
                    dcc.Dropdown(
                        id="editor-new-stage",
                        options=stages,
                        value=stages[0] if stages else None,
                        clearable=False,
                    ),
                ],
                className="tp-grid cols-2",
            ),
            html.Button("Add step", id="editor-add", className="tp-btn"),
        ],
        className="tp-col",
    )


def build_candidates(candidates: Sequence[tuple[str, str, int]]) -> html.Div:
    """Spans no step binds in the last hour, each addable as a step with a matching selector."""
    if not candidates:
        return html.P("Every span of the last hour is bound to a step.", className="tp-empty")
    return html.Table(
        [
            html.Tr([html.Th("service · span"), html.Th("spans/h", className="num"), html.Th("")]),
            *(
                html.Tr(
                    [
                        html.Td(f"{service} · {span}", className="tp-small"),
                        html.Td(units.count(spans), className="num"),
                        html.Td(
                            html.Button(
                                "+ step", id={"type": "editor-candidate", "index": n}, className="tp-btn"
                            )
                        ),
                    ]
                )
                for n, (service, span, spans) in enumerate(candidates)
            ),
        ],
        className="tp-table",
        id="editor-candidates-table",
    )


def build_importance(document: Mapping[str, Any]) -> html.Div:
    """Each touchpoint's importance (its weight in the journey's health score)."""
    touchpoints = document.get("touchpoints") or []
    if not touchpoints:
        return html.P("No touchpoints.", className="tp-empty")
    return html.Div(
        [
            *(
                html.Div(
                    [
                        html.Span(
                            f"{t.get('name') or t.get('id')} ({t.get('channel', 'other')})",
                            className="tp-small",
                        ),
                        dcc.Input(
                            id={"type": "editor-importance", "touchpoint": str(t.get("id"))},
                            value=t.get("importance", 1),
                            type="number",
                            min=0.1,
                            step=0.5,
                            className="tp-input",
                            style={"width": "70px"},
                        ),  # fmt: skip
                    ],
                    className="tp-between",
                )
                for t in touchpoints
            ),
            html.Button("Apply importance", id="editor-importance-apply", className="tp-btn"),
        ],
        className="tp-col",
    )


def build_problems(problems: Sequence[Any]) -> html.Div:
    """Validation problems with where they are, or a line saying the draft is valid."""
    if not problems:
        return html.Div("✓ The draft is a valid blueprint.", className="tp-ok-note", id="editor-valid")
    return html.Div(
        [
            html.B(f"✖ {len(problems)} problem{'s' * (len(problems) != 1)} to fix before saving:"),
            html.Ul([html.Li(str(p)) for p in problems]),
        ],
        className="tp-error",
        id="editor-invalid",
    )


def build_history(versions: Sequence[Any]) -> html.Div:
    """Kept versions, newest first, each with Diff and Restore."""
    if not versions:
        return html.P("No earlier versions yet: each save keeps the one before.", className="tp-empty")
    return html.Table(
        [
            html.Tr([html.Th("saved"), html.Th("by"), html.Th("")]),
            *(
                html.Tr(
                    [
                        html.Td(f"{v.saved_at:%b %d %H:%M:%S} UTC", className="tp-small"),
                        html.Td(v.author or "—", className="tp-small"),
                        html.Td(
                            [
                                html.Button(
                                    "diff", id={"type": "editor-diff", "version": v.id}, className="tp-btn"
                                ),
                                html.Button(
                                    "restore",
                                    id={"type": "editor-restore", "version": v.id},
                                    className="tp-btn",
                                ),
                            ],
                            className="tp-row",
                        ),
                    ]
                )
                for v in versions[:15]
            ),
        ],
        className="tp-table",
        id="editor-history-table",
    )


def build_diff(before: str, after: str, before_label: str, after_label: str) -> html.Div:
    """A unified diff, removed lines red and added lines green (as text; nothing is interpreted)."""
    lines = list(
        difflib.unified_diff(
            before.splitlines(), after.splitlines(), before_label, after_label, lineterm="", n=2
        )
    )
    if not lines:
        return html.P("No difference.", className="tp-empty")
    styled = []
    for line in lines:
        colour = "#7ee787" if line.startswith("+") else "#ffa198" if line.startswith("-") else "#e6edf3"
        styled.append(html.Span(line + "\n", style={"color": colour}))
    return html.Pre(styled, id="editor-diff-view")
