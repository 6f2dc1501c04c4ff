"""Checking rules against the blueprints they watch: the blueprint, step and touchpoint exist, and the
objectives a rule leaves out are there to fill in. Problems are located like syntax problems."""

from __future__ import annotations

from collections.abc import Mapping

from alerts.errors import RuleProblem
from alerts.evaluate import DETECTORS
from alerts.rules import Origin, RuleSet
from blueprints.journey_graph import JourneyGraph


def check_rules(rules: RuleSet, graphs: Mapping[str, JourneyGraph]) -> list[RuleProblem]:
    """Every way `rules` do not fit the blueprints in `graphs`, in file order."""
    problems: list[RuleProblem] = []
    for rule in rules.rules:
        origin = rules.origins.get(rule.id, Origin("(unknown)"))

        def problem(name: str, message: str, origin: Origin = origin, rule_id: str = rule.id) -> None:
            line, column = origin.at(name)
            path = origin.path or f"rules[{rule_id}]"
            path = f"{path}.{name}" if name else path
            problems.append(RuleProblem(origin.file, line, column, path, message))

        graph = graphs.get(rule.blueprint)
        if graph is None:
            known = ", ".join(sorted(graphs)) or "none"
            problem("blueprint", f"{rule.blueprint!r} is not a known blueprint; known: {known}")
            continue
        step = getattr(rule, "step", None)
        if step is not None and step not in graph.step_ids:
            problem("step", f"{step!r} is not a step of {rule.blueprint}; steps: {', '.join(graph.step_ids)}")
            continue
        touchpoint = getattr(rule, "touchpoint", None)
        touchpoints = [t.id for t in graph.touchpoints]
        if touchpoint is not None and touchpoint not in touchpoints:
            problem(
                "touchpoint",
                f"{touchpoint!r} is not a touchpoint of {rule.blueprint}; "
                f"touchpoints: {', '.join(touchpoints)}",
            )
            continue
        try:
            DETECTORS[rule.kind].needs(rule, graph)
        except (LookupError, ValueError) as exc:
            problem("", str(exc).split(": ", 1)[-1])
    problems.sort(key=lambda p: (p.file, p.line, p.column))
    return problems
