"""Where the alert engine gets its blueprints: a directory of maps, read with the blueprint loader."""

from __future__ import annotations

import logging
from pathlib import Path

from blueprints.errors import BlueprintError
from blueprints.loader import load_blueprint
from blueprints.model import Blueprint

log = logging.getLogger(__name__)


def read_blueprint_dir(directory: Path) -> dict[str, Blueprint]:
    """Every valid `*.yaml` blueprint in `directory`, by id.

    An invalid file (aliases and non-plain tags included) is skipped and said so in the log, with the
    loader's located messages: the other blueprints keep being watched.
    """
    found: dict[str, Blueprint] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            blueprint = load_blueprint(path)
        except BlueprintError as invalid:
            log.error("blueprint file skipped by the alert engine", extra={"file": str(path), "problem": str(invalid)})
            continue
        found[blueprint.id] = blueprint
    return found
