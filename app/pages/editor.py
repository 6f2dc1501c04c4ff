"""Blueprint editor, for process owners: add, rename, move and delete steps, draw and remove flows, set
selectors (with the spans each matched in the last hour and the spans nothing matches), objectives and
importance; problems shown as you go; save with conflict detection; history with diff and restore; start
from a draft discovered in the spans. The draft lives in the page (a dcc.Store of YAML text) until saved."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import dash
from dash import ALL, Input, Output, State, callback, ctx, dcc, html

from app.components.design import map_design
from app.components.editor_forms import (
    STEP_FIELDS,
    build_add_step,
    build_candidates,
    build_diff,
    build_flow_list,
    build_history,
    build_importance,
    build_problems,
    build_step_form,
    step_form_values,
)
from app.components.swimlane import build_blueprint_figure
from app.components.units import count
from app.pages import context
from app.pages._editor_changes import clicked, message, register
from app.pages._editor_sql import PreviewUnavailable, as_blueprint, match_counts, unmapped
from app.pages._editor_store import SaveConflict, SaveRefused, editor_store
from app.pages._edits import load
from app.pages._sources import blueprints as saved_blueprints
from app.pages._sources import remembered
from app.pages._validation import validate_text

dash.register_page(__name__, path="/editor", name="Editor", title="Editor · Touchpoint")
log = logging.getLogger(__name__)
register()  # the draft-changing callbacks, with this app

DRAFT, BASE, SELECTED, CANDIDATES = "editor-draft", "editor-base", "editor-selected", "editor-candidates-data"
PICKER, STATUS, PROBLEMS, PREVIEW = "editor-blueprint", "editor-status", "editor-problems", "editor-preview"
STEP_PANEL, ADD_PANEL, CANDIDATE_PANEL = "editor-step-panel", "editor-add-panel", "editor-candidates"
IMPORTANCE_PANEL, HISTORY, DIFF, YAML = (
    "editor-importance-panel",
    "editor-history",
    "editor-diff-area",
    "editor-yaml",
)
COUNTS, PREVIEWED = "editor-counts", "editor-previewed"  # the drawn draft's match counts; the draft to count
COUNTING = "counting"
PREVIEW_WINDOW = timedelta(hours=1)


def layout(bp: str = "", **_: str) -> html.Div:
    """The editor for blueprint `bp` (or the first one); editing needs the editor role."""
    from app.auth import Scope, current_identity

    app = context()
    if not current_identity().holds(Scope.EDIT):
        return html.Div(
            [html.H1("Editor"), html.P("Editing blueprints needs the editor role.", className="tp-empty")],
            className="tp-card",
        )
    known = editor_store(app).ids()
    chosen = bp if bp in known else (known[0] if known else None)
    side = [
        html.P("Click a step on the preview to edit it.", id="editor-step-hint", className="tp-card tp-empty"),
        html.Div(build_step_form(), id=STEP_PANEL, className="tp-card", hidden=True),
        html.Div(build_add_step(), id=ADD_PANEL, className="tp-card"),
        html.Div([html.H3("Spans no step binds (last hour)"), html.Div(id=CANDIDATE_PANEL)], className="tp-card"),
        html.Div(
            [
                html.H3("Touchpoint importance"),
                html.Div(id=IMPORTANCE_PANEL),
                html.Button("Apply importance", id="editor-importance-apply", className="tp-btn"),
            ],
            className="tp-card tp-col",
        ),
        html.Div([html.H3("History"), html.Div(id=HISTORY)], className="tp-card"),
    ]
    return html.Div(
        [
            dcc.Store(id=DRAFT),
            dcc.Store(id=BASE),
            dcc.Store(id=SELECTED),
            dcc.Store(id=CANDIDATES),
            dcc.Store(id=COUNTS),
            dcc.Store(id=PREVIEWED),
            html.Div(
                [
                    html.H1("Editor"),
                    dcc.Dropdown(id=PICKER, options=known, value=chosen, clearable=False, className="tp-dropdown"),
                    html.Button("Reload", id="editor-reload", className="tp-btn"),
                    html.Button("Start from discovered draft", id="editor-discover", className="tp-btn"),
                    html.Button("Save", id="editor-save", className="tp-btn primary"),
                    html.Span(id=STATUS, className="tp-small"),
                ],
                className="tp-controls",
            ),
            html.Div(id=PROBLEMS),
            html.Div(
                [
                    html.Div(
                        [
                            html.Div(
                                [
                                    html.Span(
                                        "Preview · spans each step matched in the last hour · click a step",
                                        className="tp-small tp-muted",
                                    ),
                                    dcc.Graph(id=PREVIEW, config={"displayModeBar": False, "responsive": True}),
                                ],
                                className="tp-scroll-x",
                            ),
                            html.Div(id=DIFF, className="tp-section"),
                            html.Details(
                                [
                                    html.Summary("YAML"),
                                    dcc.Textarea(id=YAML, className="tp-yaml"),
                                    html.Button("Apply YAML to draft", id="editor-yaml-apply", className="tp-btn"),
                                ],
                                className="tp-card tp-section",
                            ),
                        ]
                    ),
                    html.Div(side, className="tp-col tp-side"),
                ],
                className="tp-split",
            ),
        ]
    )


@callback(
    Output(DRAFT, "data"),
    Output(BASE, "data"),
    Output(SELECTED, "data"),
    Output(STATUS, "children"),
    Input(PICKER, "value"),
    Input("editor-reload", "n_clicks"),
    Input("editor-discover", "n_clicks"),
)
def open_blueprint(blueprint_id: str | None, _reload: int, _discover: int) -> tuple[Any, ...]:
    """Load the saved text of the picked blueprint, or a draft discovered from the last hour's spans."""
    app = context()
    if ctx.triggered_id == "editor-discover":
        from blueprints.discover import DiscoverOptions, discover

        now = datetime.now(UTC)
        taken = set(editor_store(app).ids())
        name = next(n for n in ("discovered", *(f"discovered-{i}" for i in range(2, 100))) if n not in taken)
        draft = discover(app.client(), now - PREVIEW_WINDOW, now, DiscoverOptions(blueprint_id=name))
        note = f"Draft discovered from {draft.spans} spans and {draft.journeys} journeys of the last hour."
        return draft.yaml, {"bp": name, "etag": None}, None, message(note)
    if not blueprint_id:
        return None, None, None, "No blueprint files yet: start from a discovered draft."
    revision = editor_store(app).read_text(blueprint_id)
    return revision.text, {"bp": blueprint_id, "etag": revision.etag}, None, ""


@callback(
    Output(PROBLEMS, "children"),
    Output(STEP_PANEL, "hidden"),
    Output("editor-step-hint", "hidden"),
    Output("editor-step-title", "children"),
    *(Output(component, prop) for component, prop in STEP_FIELDS),
    Output("editor-flows", "children"),
    Output("editor-new-stage", "options"),
    Output("editor-new-stage", "value"),
    Output(IMPORTANCE_PANEL, "children"),
    Output(YAML, "value"),
    Input(DRAFT, "data"),
    Input(SELECTED, "data"),
    State(BASE, "data"),
)
def render(text: str | None, selected: str | None, base: dict[str, Any] | None) -> tuple[Any, ...]:
    """The draft's problems and the forms filled for it (the preview is drawn by `draw_preview`)."""
    keep = (dash.no_update,) * len(STEP_FIELDS)
    if not text:
        return (None, True, False, "", *keep, None, [], None, None, "")
    problems = validate_text(text, (base or {}).get("bp"))
    document = parsed_draft(text)
    if document is None:  # text that is not YAML: the problems say where
        return (build_problems(problems), True, False, "", *keep, None, [], None, None, text)
    values = step_form_values(document, selected)
    stages = [str(s.get("id")) for s in document.get("stages") or []]
    return (
        build_problems(problems),
        values is None,
        values is not None,
        f"Step {selected}" if values is not None else "",
        *(values if values is not None else keep),
        build_flow_list(document, str(selected)) if values is not None else None,
        stages,
        stages[0] if stages else None,
        build_importance(document),
        text,
    )


@callback(
    Output(PREVIEW, "figure"),
    Output(PREVIEWED, "data"),
    Input(DRAFT, "data"),
    Input(SELECTED, "data"),
    State(COUNTS, "data"),
)
def draw_preview(text: str | None, selected: str | None, counted: dict[str, Any] | None) -> tuple[Any, Any]:
    """The draft drawn at once, with its match counts when they are known for this very text; else it is
    handed on (PREVIEWED) to `count_matches`, which takes a second or two on a busy hour of spans and draws
    it again with them. The draft and its problems are shown meanwhile, not held back for the counts."""
    draft = draft_key(text or "")
    matched = counted if counted and counted.get("draft") == draft else None
    figure = preview_figure(parsed_draft(text), selected, matched["counts"] if matched else COUNTING)
    return figure, dash.no_update if matched else draft


@callback(
    Output(COUNTS, "data"),
    Output(PREVIEW, "figure", allow_duplicate=True),
    Output(CANDIDATE_PANEL, "children"),
    Output(CANDIDATES, "data"),
    Input(PREVIEWED, "data"),
    State(DRAFT, "data"),
    State(SELECTED, "data"),
    prevent_initial_call=True,
)
def count_matches(draft: str | None, text: str | None, selected: str | None) -> tuple[Any, ...]:
    """How many spans each step of the drawn draft matched in the last hour, drawn on its tiles, and the
    busiest spans no step matches (candidates to bind)."""
    if draft is None or draft_key(text or "") != draft:
        return (dash.no_update,) * 4  # the draft changed since: it is counted next
    document = parsed_draft(text)
    if not document:  # text that is not YAML: nothing to count
        return {"draft": draft, "counts": None}, dash.no_update, None, []
    app = context()
    now = datetime.now(UTC)
    try:
        blueprint = as_blueprint(document)
        counts, candidates = remembered(  # a reload of the same draft is not counted again
            app,
            "dashboard.editor_counts",
            draft,
            lambda: (
                match_counts(app.client(), blueprint, now - PREVIEW_WINDOW, now),
                unmapped(
                    app.client(),
                    blueprint,
                    now - PREVIEW_WINDOW,
                    now,
                    others=[b for key, b in saved_blueprints(app).items() if key != document.get("id")],
                ),
            ),
            ttl_s=60.0,
        )
    except (PreviewUnavailable, AttributeError, TypeError) as exc:
        failed = html.Div(f"No preview counts: {exc}", className="tp-error")
        return {"draft": draft, "counts": None}, preview_figure(document, selected, None), failed, []
    return (
        {"draft": draft, "counts": counts},
        preview_figure(document, selected, counts),
        build_candidates(candidates),
        [list(c) for c in candidates],
    )


def preview_figure(document: Any, selected: str | None, counts: dict[str, int] | str | None) -> dict[str, Any]:
    """The draft's swimlane with `counts` (spans per step id) on its tiles; COUNTING says they are being
    counted, None shows no counts (counting failed: the candidates panel says why)."""
    design = map_design(document) if document else None
    if design is None or not design.steps:
        return {}
    notes: dict[str, str] | None = None
    if counts == COUNTING:
        notes = {s.id: "counting spans…" for s in design.steps}
    elif isinstance(counts, dict):
        notes = {s.id: f"{count(counts.get(s.id, 0))} spans/h matched" for s in design.steps}
    return build_blueprint_figure(design, None, selected=selected, notes=notes)


def draft_key(text: str) -> str:
    """The draft's identity for its counts: a hash of its text."""
    return hashlib.sha256(text.encode()).hexdigest()


def parsed_draft(text: str | None) -> Any | None:
    """The draft's document, or None for no text or text that is not YAML. Parsed once for the callbacks a
    draft sets off together (its problems and forms, its preview, its counts): a 50-step draft takes ~150 ms
    to parse. The document is shared between them: read it, never change it."""
    if not text:
        return None
    try:
        return remembered(context(), "dashboard.editor_drafts", draft_key(text), lambda: load(text), 60.0, keep=4)
    except Exception:  # noqa: BLE001 - text that is not YAML: `render` shows where it breaks
        return None


@callback(Output(SELECTED, "data", allow_duplicate=True), Input(PREVIEW, "clickData"), prevent_initial_call=True)
def select_step(click: dict[str, Any] | None) -> Any:
    """A click on a tile selects its step."""
    points = (click or {}).get("points") or []
    return points[0].get("customdata") if points else dash.no_update


@callback(
    Output(BASE, "data", allow_duplicate=True),
    Output(STATUS, "children", allow_duplicate=True),
    Output(DIFF, "children", allow_duplicate=True),
    Input("editor-save", "n_clicks"),
    State(DRAFT, "data"),
    State(BASE, "data"),
    prevent_initial_call=True,
)
def save(_clicks: int, text: str | None, base: dict[str, Any] | None) -> tuple[Any, Any, Any]:
    """Save the draft if it is valid and nobody saved in between (the ETag it was loaded with)."""
    from app.auth import current_identity

    if not text or not base:
        return dash.no_update, message("Nothing to save.", ok=False), dash.no_update
    problems = validate_text(text, base["bp"])
    if problems:
        return (
            dash.no_update,
            message(f"Not saved: {len(problems)} problem(s) to fix first.", ok=False),
            dash.no_update,
        )
    author = current_identity().name or "dashboard"
    try:
        revision = editor_store(context()).save_text(base["bp"], text, base.get("etag"), author, datetime.now(UTC))
    except SaveRefused as refused:
        return dash.no_update, message(f"Not saved: {refused}", ok=False), dash.no_update
    except SaveConflict as conflict:
        diff = build_diff(conflict.current.text, text, "saved by someone else", "your draft")
        return dash.no_update, message(str(conflict), ok=False), diff
    log.info("blueprint saved from the editor", extra={"blueprint": base["bp"], "by": author})
    return {"bp": base["bp"], "etag": revision.etag}, message(f"Saved {base['bp']} ({revision.etag})."), None


@callback(Output(HISTORY, "children"), Input(BASE, "data"))
def history(base: dict[str, Any] | None) -> Any:
    """The kept versions of the blueprint being edited."""
    if not base or base.get("etag") is None:
        return build_history([])
    return build_history(editor_store(context()).history(base["bp"]))


@callback(
    Output(DIFF, "children"),
    Input({"type": "editor-diff", "version": ALL}, "n_clicks"),
    State(DRAFT, "data"),
    State(BASE, "data"),
    prevent_initial_call=True,
)
def diff(_clicks: list[int], text: str, base: dict[str, Any]) -> Any:
    """What changed between a kept version and the draft."""
    if not clicked():
        return dash.no_update
    version = ctx.triggered_id["version"]
    before = editor_store(context()).version_text(base["bp"], version)
    return html.Div(
        [html.H3(f"{version[:15]} → draft"), build_diff(before, text, version, "draft")], className="tp-card"
    )
