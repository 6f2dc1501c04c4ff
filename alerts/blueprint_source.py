"""Where the alert engine gets its blueprints: the server's blueprint store, or a directory of maps."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ruamel.yaml import YAML

from alerts.rules_yaml import unsafe_yaml

log = logging.getLogger(__name__)


def read_blueprint_dir(directory: Path) -> dict[str, Any]:
    """Every `*.yaml` blueprint in `directory`, by id, as attribute-access values.

    A file with YAML aliases or non-plain tags is skipped, and said so in the log.
    """
    found: dict[str, Any] = {}
    for path in sorted(directory.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        unsafe = unsafe_yaml(text, str(path))
        if unsafe:
            log.error("blueprint file skipped", extra={"problems": [str(p) for p in unsafe]})
            continue
        document = YAML(typ="safe").load(text)
        if isinstance(document, Mapping) and "id" in document:
            found[str(document["id"])] = _attributes(document)
    return found


def _attributes(value: Any) -> Any:
    if isinstance(value, Mapping):
        # span attribute maps stay mappings: their keys are attribute names, not fields
        return SimpleNamespace(
            **{str(k): dict(v) if k == "attributes" else _attributes(v) for k, v in value.items()}
        )
    if isinstance(value, list):
        return [_attributes(v) for v in value]
    return value
