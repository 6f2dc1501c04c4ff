"""The editor's callbacks that change the draft: the step form (rename, move, selector, objectives, delete),
flows, new steps (named, or from unmapped spans), touchpoint importance, typed YAML, and restoring a kept
version. Each applies pure edits from app.pages._edits to the draft's YAML text."""

from __future__ import annotations

from typing import Any

import dash
from dash import ALL, Input, Output, State, callback, ctx, html

from app.pages import context
from app.pages._editor_store import editor_store
from app.pages._edits import EditRefused, edit, load

DRAFT, BASE, SELECTED, CANDIDATES = "editor-draft", "editor-base", "editor-selected", "editor-candidates-data"
STATUS, YAML = "editor-status", "editor-yaml"


def message(text: str, ok: bool = True) -> html.Span:
    """A status line: green for done, red for refused."""
    return html.Span(text, className="tp-ok-note" if ok else "tp-error")


def _change(
    text: str, operation: str, message: str, selected: Any = dash.no_update, **fields: Any
) -> tuple[Any, Any, Any]:
    try:
        return edit(text, operation, **fields), selected, message(message)
    except EditRefused as exc:
        return dash.no_update, dash.no_update, message(str(exc), ok=False)


def number(value: Any) -> float | None:
    """A form's number: None for an emptied field ("" arrives from it), whole numbers kept whole."""
    if value in (None, ""):
        return None
    parsed = float(value)
    return int(parsed) if parsed.is_integer() and isinstance(value, int) else parsed


def clicked() -> bool:
    """Whether the callback runs because a button was pressed (not because buttons were drawn)."""
    return bool(ctx.triggered) and bool(ctx.triggered[0].get("value"))


CHANGES = (
    Output(DRAFT, "data", allow_duplicate=True),
    Output(SELECTED, "data", allow_duplicate=True),
    Output(STATUS, "children", allow_duplicate=True),
)


def change_step(*values: Any) -> tuple[Any, Any, Any]:
    """Apply the step form to the draft (rename, move, selector, objectives), or delete the step."""
    if not clicked():
        return dash.no_update, dash.no_update, dash.no_update
    (
        _,
        _,
        name,
        new_id,
        lane,
        stage,
        actor,
        touchpoint,
        owner,
        service,
        span,
        attributes,
        tagged,
        availability,
        wait,
        percentile,
        threshold,
        text,
        step_id,
    ) = values
    if ctx.triggered_id == "editor-delete":
        return _change(text, "delete_step", f"Deleted step {step_id} and its flows.", None, step_id=step_id)
    try:
        for operation, fields in (
            ("set_step", {"actor": actor, "owner": owner, "touchpoint": touchpoint}),
            (
                "set_selector",
                {
                    "service": service or "",
                    "span": span or "",
                    "attributes": attributes or "",
                    "step": tagged or "",
                },
            ),
            (
                "set_objectives",
                {
                    "availability": number(availability),
                    "percentile": number(percentile),
                    "threshold_ms": number(threshold),
                    "max_wait_s": number(wait),
                },
            ),
            ("move_step", {"lane": lane, "stage": stage}),
            ("rename_step", {"name": name or "", "new_id": new_id or ""}),
        ):
            text = edit(text, operation, step_id=step_id, **fields)
    except (EditRefused, ValueError) as exc:
        return dash.no_update, dash.no_update, message(str(exc), ok=False)
    return (
        text,
        new_id or step_id,
        message(f"Applied to step {new_id or step_id} in the draft; Save to keep it."),
    )


def change_flows(
    _add: int, _remove: list[int], target: str | None, text: str, step_id: str
) -> tuple[Any, Any, Any]:
    """Draw a flow from the selected step, or remove one."""
    if not clicked():
        return dash.no_update, dash.no_update, dash.no_update
    if ctx.triggered_id == "editor-flow-add":
        if not target:
            return dash.no_update, dash.no_update, message("Pick the step the flow goes to.", ok=False)
        return _change(text, "add_flow", f"Flow {step_id} → {target} drawn.", source=step_id, target=target)
    removed = ctx.triggered_id["to"]
    return _change(
        text, "remove_flow", f"Flow {step_id} → {removed} removed.", source=step_id, target=removed
    )


def add_step(
    _add: int, _candidates: list[int], name: str, lane: str, stage: str, candidates: list[Any], text: str
) -> tuple[Any, Any, Any]:
    """Add a named step, or one that binds an unmapped service/span pair."""
    if not clicked():
        return dash.no_update, dash.no_update, dash.no_update
    document = load(text)
    first_stage = str((document.get("stages") or [{}])[0].get("id", ""))
    if ctx.triggered_id == "editor-add":
        if not (name or "").strip():
            return dash.no_update, dash.no_update, message("Name the new step first.", ok=False)
        fields: dict[str, Any] = {"name": name.strip(), "lane": lane, "stage": stage or first_stage}
    else:
        service, span, _ = candidates[ctx.triggered_id["index"]]
        fields = {
            "name": span,
            "lane": "backstage",
            "stage": first_stage,
            "select": {"service": service, "span": span},
        }
    new = edit(text, "add_step", **fields)
    step_id = str(load(new)["steps"][-1]["id"])
    return new, step_id, message(f"Step {step_id} added to the draft; place it and Save.")


def change_document(
    _i: int,
    _y: int,
    _r: list[int],
    weights: list[Any],
    ids: list[Any],
    yaml: str,
    text: str,
    base: dict[str, Any],
) -> tuple[Any, Any, Any]:
    """Touchpoint importance, the YAML typed in, or an earlier version restored into the draft."""
    if not clicked():
        return dash.no_update, dash.no_update, dash.no_update
    if ctx.triggered_id == "editor-yaml-apply":
        return yaml, dash.no_update, message("YAML applied to the draft; Save to keep it.")
    if ctx.triggered_id == "editor-importance-apply":
        try:
            for weight, key in zip(weights, ids, strict=True):
                text = edit(text, "set_importance", touchpoint_id=key["touchpoint"], importance=float(weight))
        except (EditRefused, TypeError, ValueError) as exc:
            return dash.no_update, dash.no_update, message(f"importance: {exc}", ok=False)
        return text, dash.no_update, message("Importance applied to the draft; Save to keep it.")
    version = ctx.triggered_id["version"]
    restored = editor_store(context()).version_text(base["bp"], version)
    return (
        restored,
        None,
        message(f"Version {version[:15]} restored into the draft; Save to make it current."),
    )


def register() -> None:
    """Register these callbacks with the Dash app being built (called by the editor page module, which
    Dash executes once per app)."""
    callback(
        *CHANGES,
        Input("editor-apply", "n_clicks"),
        Input("editor-delete", "n_clicks"),
        State("editor-step-name", "value"),
        State("editor-step-id", "value"),
        State("editor-step-lane", "value"),
        State("editor-step-stage", "value"),
        State("editor-step-actor", "value"),
        State("editor-step-touchpoint", "value"),
        State("editor-step-owner", "value"),
        State("editor-select-service", "value"),
        State("editor-select-span", "value"),
        State("editor-select-attributes", "value"),
        State("editor-select-step", "value"),
        State("editor-objective-availability", "value"),
        State("editor-objective-wait", "value"),
        State("editor-objective-percentile", "value"),
        State("editor-objective-threshold", "value"),
        State(DRAFT, "data"),
        State(SELECTED, "data"),
        prevent_initial_call=True,
    )(change_step)
    callback(
        *CHANGES,
        Input("editor-flow-add", "n_clicks"),
        Input({"type": "editor-flow-remove", "to": ALL}, "n_clicks"),
        State("editor-flow-to", "value"),
        State(DRAFT, "data"),
        State(SELECTED, "data"),
        prevent_initial_call=True,
    )(change_flows)
    callback(
        *CHANGES,
        Input("editor-add", "n_clicks"),
        Input({"type": "editor-candidate", "index": ALL}, "n_clicks"),
        State("editor-new-name", "value"),
        State("editor-new-lane", "value"),
        State("editor-new-stage", "value"),
        State(CANDIDATES, "data"),
        State(DRAFT, "data"),
        prevent_initial_call=True,
    )(add_step)
    callback(
        *CHANGES,
        Input("editor-importance-apply", "n_clicks"),
        Input("editor-yaml-apply", "n_clicks"),
        Input({"type": "editor-restore", "version": ALL}, "n_clicks"),
        State({"type": "editor-importance", "touchpoint": ALL}, "value"),
        State({"type": "editor-importance", "touchpoint": ALL}, "id"),
        State(YAML, "value"),
        State(DRAFT, "data"),
        State(BASE, "data"),
        prevent_initial_call=True,
    )(change_document)
