"""The rules in force: the rules directory plus the rules generated from the blueprints, with the blueprints'
journey graphs and impact paths, and the notifiers of the configured destinations.

Reloaded when a rules file or a blueprint changes. A rules directory that stops validating keeps the last good
rules in force (and says why in the log and in `problems`): a typo must not switch alerting off.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alerts.errors import RulesInvalid
from alerts.evaluate import Watched
from alerts.generated import generated_rules
from alerts.impact import ImpactMap, impact_map
from alerts.notify.base import Notifier
from alerts.rules import RuleSet
from alerts.rules_yaml import load_rules

log = logging.getLogger(__name__)

BlueprintProvider = Callable[[], Mapping[str, Any]]


@dataclass(frozen=True)
class RuleContext:
    """Everything one evaluation cycle needs besides ClickHouse and the clock."""

    rules: RuleSet
    watched: Mapping[str, Watched]
    impact: ImpactMap
    notifiers: Mapping[str, Notifier] = field(default_factory=dict)
    problems: tuple[str, ...] = ()  # why some rules or destinations are not in force


class RuleSource:
    """Gives the current `RuleContext`, rebuilding it only when the rules files or the blueprints changed."""

    def __init__(
        self, rules_dir: Path | None, blueprints: BlueprintProvider, environ: Mapping[str, str] | None = None
    ) -> None:
        self._rules_dir = rules_dir
        self._blueprints = blueprints
        self._environ = environ if environ is not None else os.environ
        self._signature: tuple[Any, ...] | None = None
        self._context = RuleContext(RuleSet(), {}, ImpactMap())
        self._file_rules = RuleSet()
        self._file_problems: tuple[str, ...] = ()

    def current(self) -> RuleContext:
        """The context for this cycle."""
        models = dict(self._blueprints())
        files = self._file_signature()
        signature = (files, tuple(sorted((k, id(v)) for k, v in models.items())))
        if signature != self._signature:
            if self._signature is None or files != self._signature[0]:
                self._reload_files()
            self._context = self._build(models)
            self._signature = signature
        return self._context

    def _file_signature(self) -> tuple[tuple[str, float, int], ...]:
        if self._rules_dir is None or not self._rules_dir.is_dir():
            return ()
        return tuple(
            sorted(
                (p.name, p.stat().st_mtime, p.stat().st_size)
                for p in self._rules_dir.iterdir()
                if p.suffix in (".yaml", ".yml")
            )
        )

    def _reload_files(self) -> None:
        if self._rules_dir is None or not self._rules_dir.is_dir():
            self._file_rules, self._file_problems = RuleSet(), ()
            return
        try:
            self._file_rules, self._file_problems = load_rules([self._rules_dir]), ()
        except RulesInvalid as exc:
            self._file_problems = tuple(str(p) for p in exc.problems)
            log.error(
                "rules files are invalid; the last good rules stay in force",
                extra={"problems": list(self._file_problems)},
            )

    def _build(self, models: Mapping[str, Any]) -> RuleContext:
        watched: dict[str, Watched] = {}
        problems = list(self._file_problems)
        for blueprint_id, model in models.items():
            try:
                watched[blueprint_id] = Watched.of(model)
            except (ValueError, KeyError, AttributeError) as exc:
                problems.append(f"blueprint {blueprint_id}: cannot be watched: {exc}")
        rules = self._file_rules.merged(generated_rules(w.graph for w in watched.values()))
        notifiers: dict[str, Notifier] = {}
        for destination in rules.destinations:
            try:
                notifiers[destination.id] = destination.notifier(self._environ)
            except LookupError as exc:
                problems.append(str(exc))
        for problem in problems[len(self._file_problems) :]:
            log.error("alerting problem", extra={"problem": problem})
        return RuleContext(
            rules, watched, impact_map(w.blueprint for w in watched.values()), notifiers, tuple(problems)
        )


def directory_blueprints(directory: Path) -> BlueprintProvider:
    """Blueprints read from a directory of maps, re-read when a file there changes."""
    from alerts.blueprint_source import read_blueprint_dir

    cache: dict[str, Any] = {"signature": None, "models": {}}

    def provide() -> Mapping[str, Any]:
        signature = (
            tuple(sorted((p.name, p.stat().st_mtime) for p in directory.glob("*.yaml")))
            if directory.is_dir()
            else ()
        )
        if signature != cache["signature"]:
            cache["models"] = read_blueprint_dir(directory) if directory.is_dir() else {}
            cache["signature"] = signature
        return cache["models"]  # type: ignore[no-any-return]

    return provide
