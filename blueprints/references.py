"""Cross-reference checks of a blueprint document: ids that must be unique, and ids that must exist.

They run over plain data (the parsed YAML or JSON, or :meth:`Blueprint.to_document`), skipping whatever has
the wrong shape (the model's field validation reports that), so a file's type errors and its dangling
references are reported together.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from typing import Any

from blueprints.errors import Problem

_VISIBLE = ("evidence", "customer", "frontstage")  # above the line of visibility


def reference_problems(document: Any, source: str) -> list[Problem]:
    """Every duplicate id and every reference to a stage, touchpoint or step that is not declared."""
    if not isinstance(document, Mapping):
        return []
    problems: list[Problem] = []
    stages = _declared(document, "stages", problems, source)
    touchpoints = _declared(document, "touchpoints", problems, source)
    steps = _declared(document, "steps", problems, source)
    lanes = {
        item["id"]: item.get("lane")
        for _, item in _items(document, "steps")
        if isinstance(item.get("id"), str)
    }

    def unknown(path: tuple[str | int, ...], value: Any, known: dict[str, int] | None, what: str) -> None:
        # known is None when the list itself is malformed: that is reported, its references would be noise
        if known is not None and isinstance(value, str) and value not in known:
            problems.append(
                Problem(source, path, _not_declared(value, list(known), what), value=value, has_value=True)
            )

    for i, step in _items(document, "steps"):
        unknown(("steps", i, "stage"), step.get("stage"), stages, "stage")
        if step.get("touchpoint") is not None:
            unknown(("steps", i, "touchpoint"), step.get("touchpoint"), touchpoints, "touchpoint")
        serves = step.get("serves")
        if not isinstance(serves, list | tuple) or not serves:
            continue
        if step.get("lane") in _VISIBLE:
            problems.append(
                Problem(
                    source,
                    ("steps", i, "serves"),
                    f"is only for backstage and support steps; this step's lane is {step.get('lane')}",
                    value=list(serves),
                    has_value=True,
                )
            )
            continue
        for j, served in enumerate(serves):
            unknown(("steps", i, "serves", j), served, steps, "step")
            if isinstance(served, str) and served in (steps or {}) and lanes.get(served) not in _VISIBLE:
                problems.append(
                    Problem(
                        source,
                        ("steps", i, "serves", j),
                        f"is in the {lanes.get(served)} lane: expected a step the customer sees "
                        "(evidence, customer or frontstage)",
                        value=served,
                        has_value=True,
                    )
                )
    for i, flow in _items(document, "flows"):
        unknown(("flows", i, "from"), flow.get("from"), steps, "step")
        targets = flow.get("to")
        if isinstance(targets, list | tuple):
            for j, target in enumerate(targets):
                unknown(("flows", i, "to", j), target, steps, "step")
        else:
            unknown(("flows", i, "to"), targets, steps, "step")
    for field in ("start", "end"):
        listed = document.get(field)
        if isinstance(listed, list | tuple):
            for j, step_id in enumerate(listed):
                unknown((field, j), step_id, steps, "step")
    return problems


def _items(document: Mapping[str, Any], field: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    listed = document.get(field)
    if isinstance(listed, list | tuple):
        for i, item in enumerate(listed):
            if isinstance(item, Mapping):
                yield i, item


def _declared(
    document: Mapping[str, Any], field: str, problems: list[Problem], source: str
) -> dict[str, int] | None:
    """The ids declared in one list, each with its first index (None when it is not a list); later
    duplicates become problems."""
    if not isinstance(document.get(field, []), list | tuple):
        return None
    first: dict[str, int] = {}
    for i, item in _items(document, field):
        item_id = item.get("id")
        if not isinstance(item_id, str):
            continue
        if item_id in first:
            problems.append(
                Problem(
                    source,
                    (field, i, "id"),
                    f"is already the id of {field}[{first[item_id]}]: ids must be unique",
                    value=item_id,
                    has_value=True,
                )
            )
        else:
            first[item_id] = i
    return first


def _not_declared(value: str, known: list[str], what: str) -> str:
    if not known:
        return f"is not a declared {what}: no {what} with an id is declared"
    message = f"is not a declared {what}"
    if len(known) <= 8:
        message += f": expected one of {', '.join(known)}"
    close = difflib.get_close_matches(value, known, n=1)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    return message
