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


# The step form's fields: (component id, property) in the order `step_form_values` gives them.
STEP_FIELDS = (
    ("editor-step-name", "value"),
    ("editor-step-id", "value"),
    ("editor-step-lane", "value"),
    ("editor-step-stage", "options"),
    ("editor-step-stage", "value"),
    ("editor-step-actor", "value"),
    ("editor-step-touchpoint", "options"),
    ("editor-step-touchpoint", "value"),
    ("editor-step-owner", "value"),
    ("editor-select-service", "value"),
    ("editor-select-span", "value"),
    ("editor-select-attributes", "value"),
    ("editor-select-step", "value"),
    ("editor-objective-availability", "value"),
    ("editor-objective-wait", "value"),
    ("editor-objective-percentile", "value"),
    ("editor-objective-threshold", "value"),
    ("editor-flow-to", "options"),
)


def build_step_form() -> html.Div:
    """The step form, drawn once with the page (so callbacks always find its fields); `step_form_values`
    fills it for the selected step."""
    number = "number"
    return html.Div(
        [
            html.H3(id="editor-step-title"),
            _field("name", _input("editor-step-name", "")),
            _field("id", _input("editor-step-id", "")),
            html.Div(
                [
                    _field("lane", dcc.Dropdown(id="editor-step-lane", options=list(LANES), clearable=False)),
                    _field("stage", dcc.Dropdown(id="editor-step-stage", clearable=False)),
                ],
                className="tp-grid cols-2",
            ),
            html.Div(
                [
                    _field(
                        "actor", dcc.Dropdown(id="editor-step-actor", options=list(ACTORS), clearable=False)
                    ),
                    _field("touchpoint", dcc.Dropdown(id="editor-step-touchpoint")),
                ],
                className="tp-grid cols-2",
            ),
            _field("owner", _input("editor-step-owner", "")),
            html.H3("Selector", className="tp-section"),
            _field("service", _input("editor-select-service", "", "service.name, exact")),
            _field("span", _input("editor-select-span", "", "exact, glob GET /p/* or re:^…$")),
            _field(
                "attributes",
                dcc.Textarea(
                    id="editor-select-attributes", placeholder="key=value per line", className="tp-input"
                ),
            ),
            _field("blueprint.step", _input("editor-select-step", "", "spans tagged with this step")),
            html.H3("Objectives", className="tp-section"),
            html.Div(
                [
                    _field("availability", _input("editor-objective-availability", "", "0.995", number)),
                    _field("max wait (s)", _input("editor-objective-wait", "", "300", number)),
                    _field(
                        "latency percentile",
                        dcc.Dropdown(
                            id="editor-objective-percentile", options=[50, 90, 95, 99], clearable=False
                        ),
                    ),
                    _field("latency threshold (ms)", _input("editor-objective-threshold", "", "800", number)),
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
            html.H3("Flows from this step", className="tp-section"),
            html.Div(id="editor-flows"),
            html.Div(
                [
                    dcc.Dropdown(id="editor-flow-to", placeholder="to step…", style={"minWidth": "160px"}),
                    html.Button("Draw flow", id="editor-flow-add", className="tp-btn"),
                ],
                className="tp-row",
            ),
        ],
        className="tp-col",
    )


def step_form_values(document: Mapping[str, Any], step_id: str | None) -> tuple[Any, ...] | None:
    """The values of STEP_FIELDS for one step of the draft, or None when it has no such step."""
    step = next((s for s in document.get("steps") or [] if s.get("id") == step_id), None)
    if step is None:
        return None
    select = step.get("select") or {}
    objectives = step.get("objectives") or {}
    latency = objectives.get("latency") or {}
    stages = [str(s.get("id")) for s in document.get("stages") or []]
    touchpoints = [str(t.get("id")) for t in document.get("touchpoints") or []]
    others = [str(s.get("id")) for s in document.get("steps") or [] if s.get("id") != step_id]
    return (
        step.get("name") or "",
        step.get("id"),
        step.get("lane"),
        stages,
        step.get("stage"),
        step.get("actor", "system"),
        touchpoints,
        step.get("touchpoint"),
        step.get("owner") or "",
        select.get("service") or "",
        select.get("span") or "",
        "\n".join(f"{k}={v}" for k, v in (select.get("attributes") or {}).items()),
        select.get("step") or "",
        _blank(objectives.get("availability")),
        _blank(objectives.get("max_wait_s")),
        latency.get("percentile", 95),
        _blank(latency.get("threshold_ms")),
        others,
    )


def _blank(value: Any) -> Any:
    return "" if value is None else value


def build_flow_list(document: Mapping[str, Any], step_id: str) -> html.Div:
    """The step's outgoing flows, each with a button removing it."""
    targets = []
    for flow in document.get("flows") or []:
        if flow.get("from") == step_id:
            to = flow.get("to")
            targets += to if isinstance(to, list) else [to]
    if not targets:
        return html.P("No flows out of this step.", className="tp-empty")
    return html.Ul(
        [
            html.Li(
                [
                    f"→ {target} ",
                    html.Button(
                        "remove", id={"type": "editor-flow-remove", "to": str(target)}, className="tp-btn"
                    ),
                ]
            )
            for target in targets
        ]
    )


def build_add_step() -> html.Div:
    """Name, lane and stage of a new step (the stage options follow the draft)."""
    return html.Div(
        [
            html.H3("Add a step"),
            _input("editor-new-name", "", "name of the new step"),
            html.Div(
                [
                    dcc.Dropdown(
                        id="editor-new-lane", options=list(LANES), value="frontstage", clearable=False
                    ),
                    dcc.Dropdown(id="editor-new-stage", clearable=False),
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
    """Each touchpoint's importance (its weight in the journey's health score), as number fields."""
    touchpoints = document.get("touchpoints") or []
    if not touchpoints:
        return html.P("No touchpoints.", className="tp-empty")
    return html.Div(
        [
            html.Div(
                [
                    html.Span(
                        f"{t.get('name') or t.get('id')} ({t.get('channel', 'other')})", className="tp-small"
                    ),
                    dcc.Input(
                        id={"type": "editor-importance", "touchpoint": str(t.get("id"))},
                        value=t.get("importance", 1),
                        type="number",
                        min=0.1,
                        step="any",  # a step counts from `min`: 0.5 would mark whole numbers invalid
                        className="tp-input",
                        style={"width": "70px"},
                    ),  # fmt: skip
                ],
                className="tp-between",
            )
            for t in touchpoints
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
