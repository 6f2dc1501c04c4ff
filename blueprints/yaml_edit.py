"""Writing a model-level edit back into a blueprint's YAML text without losing what people wrote.

:func:`edit_text` changes only the parts of the file whose meaning changed: comments, key order, quoting
and the short forms (``to: pick``) survive everywhere else. Items of id'd lists (stages, touchpoints, steps)
are matched by id, other lists (flows) by content, so inserting or removing one item leaves the others alone.
"""

from __future__ import annotations

import difflib
import io
from typing import Any, TypeGuard

from pydantic import BaseModel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from blueprints.errors import InvalidBlueprint
from blueprints.loader import read_yaml, round_trip_yaml
from blueprints.model import Blueprint


def edit_text(text: str, old: Blueprint | None, new: Blueprint, source: str = "<text>") -> str:
    """``text`` rewritten to say what ``new`` says; ``old`` is what it said before (None if it was invalid).

    Falls back to :func:`dump_blueprint` when ``text`` is not a YAML mapping at all.
    """
    try:
        tree = read_yaml(text, source).tree
    except InvalidBlueprint:
        return dump_blueprint(new)
    if not isinstance(tree, CommentedMap):
        return dump_blueprint(new)
    _merge_model(tree, old, new)
    return _dump(tree, _yaml_like(text))


def dump_blueprint(blueprint: Blueprint) -> str:
    """A fresh YAML text for a blueprint: fields in model order, defaults left out."""
    document = blueprint.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    return _dump(_to_yaml(document), _yaml_like(""))


def _merge_model(node: CommentedMap, old: BaseModel | None, new: BaseModel) -> None:
    fields = type(new).model_fields
    for name, info in fields.items():
        key = info.alias or name
        new_value = getattr(new, name)
        if old is not None and getattr(old, name) == new_value:
            continue
        is_default = not info.is_required() and new_value == info.get_default(call_default_factory=True)
        if is_default:
            if key in node:
                del node[key]
            continue
        old_value = getattr(old, name) if old is not None else None
        current = node.get(key)
        if isinstance(new_value, BaseModel) and isinstance(current, CommentedMap):
            _merge_model(current, old_value if isinstance(old_value, BaseModel) else None, new_value)
        elif _is_model_list(new_value) and isinstance(current, CommentedSeq) and _is_model_list(old_value):
            if len(old_value) == len(current):
                _merge_list(current, old_value, new_value)
            else:
                node[key] = _field_yaml(new, name, key)
        elif key in node:
            node[key] = _field_yaml(new, name, key)
        else:
            _insert_in_field_order(
                node, key, _field_yaml(new, name, key), [f.alias or n for n, f in fields.items()]
            )


def _merge_list(seq: CommentedSeq, old: tuple[BaseModel, ...], new: tuple[BaseModel, ...]) -> None:
    has_ids = all(hasattr(item, "id") for item in (*old, *new))
    old_keys = [_identity(item, has_ids) for item in old]
    new_keys = [_identity(item, has_ids) for item in new]
    opcodes = difflib.SequenceMatcher(a=old_keys, b=new_keys, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in reversed(opcodes):  # from the end, so earlier indices stay valid
        if tag == "equal" or (tag == "replace" and not has_ids):
            paired = min(i2 - i1, j2 - j1)
            for k in range(paired):
                _merge_item(seq, i1 + k, old[i1 + k], new[j1 + k])
            del seq[i1 + paired : i2]
            for k, item in enumerate(new[j1 + paired : j2]):
                seq.insert(i1 + paired + k, _to_yaml(_compact(item)))
        else:  # delete, insert, or replace of id'd items: remove the old ones, add the new ones
            del seq[i1:i2]
            for k, item in enumerate(new[j1:j2]):
                seq.insert(i1 + k, _to_yaml(_compact(item)))


def _merge_item(seq: CommentedSeq, index: int, old: BaseModel, new: BaseModel) -> None:
    if old == new:
        return
    if isinstance(seq[index], CommentedMap):
        _merge_model(seq[index], old, new)
    else:
        seq[index] = _to_yaml(_compact(new))


def _identity(item: BaseModel, by_id: bool) -> str:
    return str(item.id) if by_id else item.model_dump_json()  # type: ignore[attr-defined]


def _is_model_list(value: Any) -> TypeGuard[tuple[BaseModel, ...]]:
    return isinstance(value, tuple) and all(isinstance(item, BaseModel) for item in value)


def _compact(model: BaseModel) -> Any:
    return model.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def _field_yaml(model: BaseModel, name: str, key: str) -> Any:
    return _to_yaml(model.model_dump(mode="json", by_alias=True, include={name}, exclude_defaults=True)[key])


def _insert_in_field_order(node: CommentedMap, key: str, value: Any, order: list[str]) -> None:
    """Insert ``key`` after the last key that precedes it in the model's field order."""
    rank = {k: i for i, k in enumerate(order)}
    position = 0
    for index, existing in enumerate(node):
        if rank.get(existing, len(order)) < rank[key]:
            position = index + 1
    node.insert(position, key, value)


def _to_yaml(value: Any) -> Any:
    """Plain data as ruamel round-trip nodes; lists of scalars in flow style (``to: [a, b]``)."""
    if isinstance(value, dict):
        node = CommentedMap()
        for k, v in value.items():
            node[k] = _to_yaml(v)
        return node
    if isinstance(value, list):
        seq = CommentedSeq(_to_yaml(v) for v in value)
        if all(not isinstance(v, dict | list) for v in value):
            seq.fa.set_flow_style()
        return seq
    return value


def _yaml_like(text: str) -> YAML:
    """A round-trip YAML instance indenting like ``text`` (default: two-space mappings, ``  - `` lists)."""
    mapping, sequence, offset = 2, 4, 2
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    seen_mapping = seen_sequence = False
    for prev, line in zip(lines, lines[1:], strict=False):
        if not prev.rstrip().endswith(":"):
            continue
        parent, child = _lead(prev), _lead(line)
        if child <= parent and not line.lstrip().startswith("- "):
            continue
        if line.lstrip().startswith("- ") and not seen_sequence:
            offset = max(child - parent, 0)
            sequence = offset + 1 + _lead(line[child + 1 :])
            seen_sequence = True
        elif not line.lstrip().startswith("- ") and not seen_mapping:
            mapping = child - parent
            seen_mapping = True
    yaml = round_trip_yaml()
    yaml.indent(mapping=mapping, sequence=max(sequence, offset + 2), offset=offset)
    return yaml


def _lead(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _dump(tree: Any, yaml: YAML) -> str:
    out = io.StringIO()
    yaml.dump(tree, out)
    return out.getvalue()
