"""Editing a blueprint's YAML text the way a process owner thinks: add, rename, move and delete steps, draw
and remove flows, set selectors, objectives and importance. Pure: text in, text out, through ruamel's
round-trip mode, so the comments and order of the parts not edited survive."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from app.components.theme import LANES

STEP_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
ACTORS = ("person", "process", "system")


class EditRefused(ValueError):
    """An edit that cannot apply to this document; the message says which part and why."""


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 110
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def load(text: str) -> Any:
    """The document as round-trip data (raises ruamel's errors for text that is not YAML)."""
    document = _yaml().load(text)
    if not isinstance(document, Mapping):
        raise EditRefused("the blueprint must be a mapping with id, name, stages, steps and flows")
    return document


def dump(document: Any) -> str:
    """The document as YAML text."""
    out = io.StringIO()
    _yaml().dump(document, out)
    return out.getvalue()


def edit(text: str, operation: str, **fields: Any) -> str:
    """Apply one named edit (see OPERATIONS) to the YAML `text` and return the new text."""
    try:
        change = OPERATIONS[operation]
    except KeyError:
        raise EditRefused(f"unknown edit {operation!r}; one of {', '.join(OPERATIONS)}") from None
    document = load(text)
    change(document, **fields)
    return dump(document)


def _steps(document: Any) -> list[Any]:
    steps = document.get("steps")
    if steps is None:
        document["steps"] = steps = []
    return steps  # type: ignore[no-any-return]


def _step(document: Any, step_id: str) -> Any:
    for step in _steps(document):
        if step.get("id") == step_id:
            return step
    raise EditRefused(f"the blueprint has no step {step_id!r}")


def _new_id(document: Any, wanted: str) -> str:
    base = re.sub(r"[^a-z0-9_-]+", "-", wanted.lower()).strip("-") or "step"
    if not base[0].isalnum():
        base = "s" + base
    taken = {s.get("id") for s in _steps(document)}
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def add_step(
    document: Any,
    name: str,
    lane: str,
    stage: str,
    actor: str = "system",
    select: Mapping[str, Any] | None = None,
) -> None:
    """Append a step named `name` in `lane` and `stage`, with an id made from its name."""
    if lane not in LANES:
        raise EditRefused(f"lane {lane!r} is not one of {', '.join(LANES)}")
    step = CommentedMap(
        id=_new_id(document, name), name=name or "New step", lane=lane, stage=stage, actor=actor
    )
    if select:
        step["select"] = CommentedMap(select)
    _steps(document).append(step)


def rename_step(document: Any, step_id: str, name: str = "", new_id: str = "") -> None:
    """Give a step a new name and/or id; a new id is carried into flows, start, end and `serves`."""
    step = _step(document, step_id)
    if name:
        step["name"] = name
    if new_id and new_id != step_id:
        if not STEP_ID.match(new_id):
            raise EditRefused(f"step id {new_id!r} must match [a-z0-9][a-z0-9_-]*")
        if any(s.get("id") == new_id for s in _steps(document)):
            raise EditRefused(f"another step already has the id {new_id!r}")
        step["id"] = new_id
        _replace_references(document, step_id, new_id)


def move_step(document: Any, step_id: str, lane: str = "", stage: str = "") -> None:
    """Move a step to another lane and/or stage."""
    step = _step(document, step_id)
    if lane:
        if lane not in LANES:
            raise EditRefused(f"lane {lane!r} is not one of {', '.join(LANES)}")
        step["lane"] = lane
    if stage:
        step["stage"] = stage


def delete_step(document: Any, step_id: str) -> None:
    """Remove a step and every flow, start, end and `serves` entry naming it."""
    steps = _steps(document)
    steps[:] = [s for s in steps if s.get("id") != step_id]
    _replace_references(document, step_id, None)


def add_flow(document: Any, source: str, target: str, optional: bool = False) -> None:
    """Draw a flow from `source` to `target` (nothing changes when it exists)."""
    ids = {s.get("id") for s in _steps(document)}
    for end in (source, target):
        if end not in ids:
            raise EditRefused(f"flows: no step {end!r} to draw a flow from or to")
    flows = document.setdefault("flows", [])
    for flow in flows:
        targets = flow.get("to")
        if flow.get("from") == source and (
            targets == target or (isinstance(targets, list) and target in targets)
        ):
            return
    entry = CommentedMap([("from", source), ("to", target)])
    if optional:
        entry["optional"] = True
    flows.append(entry)


def remove_flow(document: Any, source: str, target: str) -> None:
    """Remove the flow from `source` to `target` (from a list of alternatives too)."""
    kept = []
    for flow in document.get("flows") or []:
        targets = flow.get("to")
        if flow.get("from") == source:
            if targets == target:
                continue
            if isinstance(targets, list) and target in targets:
                targets.remove(target)
                if not targets:
                    continue
        kept.append(flow)
    document["flows"] = kept


def set_step(document: Any, step_id: str, **fields: Any) -> None:
    """Set a step's plain fields (actor, owner, touchpoint, optional, resolution); empty values remove
    them."""
    step = _step(document, step_id)
    for key, value in fields.items():
        if key not in ("actor", "owner", "touchpoint", "optional", "resolution"):
            raise EditRefused(f"steps[{step_id}]: {key!r} is not a field this form sets")
        _put(step, key, value)


def set_selector(
    document: Any, step_id: str, service: str = "", span: str = "", attributes: str = "", step: str = ""
) -> None:
    """Set what spans the step binds: service, span name pattern, `key=value` attribute lines, and the
    `blueprint.step` value."""
    target = _step(document, step_id)
    select = CommentedMap()
    for key, value in (("service", service), ("span", span), ("step", step)):
        if value and value.strip():
            select[key] = value.strip()
    pairs = CommentedMap()
    for number, line in enumerate((attributes or "").splitlines(), start=1):
        if not line.strip():
            continue
        key, equals, value = line.partition("=")
        if not equals or not key.strip():
            raise EditRefused(
                f"steps[{step_id}].select.attributes line {number}: write key=value, got {line!r}"
            )
        pairs[key.strip()] = value.strip()
    if pairs:
        select["attributes"] = pairs
    _put(target, "select", select or None)


def set_objectives(
    document: Any,
    step_id: str,
    availability: float | None = None,
    percentile: int | None = None,
    threshold_ms: float | None = None,
    max_wait_s: float | None = None,
) -> None:
    """Set a step's objectives; None leaves one out."""
    objectives = CommentedMap()
    if availability is not None:
        objectives["availability"] = availability
    if threshold_ms is not None:
        objectives["latency"] = CommentedMap(percentile=int(percentile or 95), threshold_ms=threshold_ms)
    if max_wait_s is not None:
        objectives["max_wait_s"] = max_wait_s
    _put(_step(document, step_id), "objectives", objectives or None)


def set_importance(document: Any, touchpoint_id: str, importance: float) -> None:
    """Set a touchpoint's weight in the journey's health score."""
    for touchpoint in document.get("touchpoints") or []:
        if touchpoint.get("id") == touchpoint_id:
            touchpoint["importance"] = importance
            return
    raise EditRefused(f"the blueprint has no touchpoint {touchpoint_id!r}")


def _put(mapping: Any, key: str, value: Any) -> None:
    if value in (None, "", [], {}):
        mapping.pop(key, None)
    else:
        mapping[key] = value


def _replace_references(document: Any, old: str, new: str | None) -> None:
    flows = []
    for flow in document.get("flows") or []:
        if flow.get("from") == old:
            if new is None:
                continue
            flow["from"] = new
        targets = flow.get("to")
        if isinstance(targets, list):
            targets[:] = [new if t == old else t for t in targets if new is not None or t != old]
            if not targets:
                continue
        elif targets == old:
            if new is None:
                continue
            flow["to"] = new
        flows.append(flow)
    if "flows" in document:
        document["flows"] = flows
    for key in ("start", "end"):
        if isinstance(document.get(key), list):
            document[key] = [new if s == old else s for s in document[key] if new is not None or s != old]
    for step in _steps(document):
        serves = step.get("serves")
        if isinstance(serves, list):
            step["serves"] = [new if s == old else s for s in serves if new is not None or s != old]


OPERATIONS = {
    "add_step": add_step,
    "rename_step": rename_step,
    "move_step": move_step,
    "delete_step": delete_step,
    "add_flow": add_flow,
    "remove_flow": remove_flow,
    "set_step": set_step,
    "set_selector": set_selector,
    "set_objectives": set_objectives,
    "set_importance": set_importance,
}
