"""The demo's blueprint maps: written in the documented format, and binding every demo span to its step.

The selector semantics here follow docs/blueprint-format.md (service exact; span exact, glob or
`re:` regex; attribute equality; `step` = the span's `blueprint.step`). Other test modules import
`MAPS` and `bind` from here.
"""

from __future__ import annotations

import fnmatch
import re
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from app.demo.runner import DemoConfig, generate
from app.demo.scenarios import SCENARIOS
from app.demo.spans import SpanRecord

MAPS_DIR = Path(__file__).resolve().parent.parent / "blueprints" / "maps"
MAP_IDS = ("support-line", "online-order", "store-visit")
LANES = {"evidence", "customer", "frontstage", "backstage", "support"}
ACTORS = {"person", "process", "system"}
CHANNELS = {"web", "mobile", "phone", "store", "email", "chat", "mail", "other"}
SELECT_KEYS = {"service", "span", "attributes", "step"}


def load_map(blueprint: str) -> dict[str, Any]:
    """The blueprint YAML `blueprint` as plain data."""
    return YAML(typ="safe").load((MAPS_DIR / f"{blueprint}.yaml").read_text(encoding="utf-8"))


MAPS: Mapping[str, dict[str, Any]] = {b: load_map(b) for b in MAP_IDS}


def span_matches(pattern: str, name: str) -> bool:
    """A `select.span` pattern against a span name: `re:` regex, glob with glob characters, else exact."""
    if pattern.startswith("re:"):
        return re.search(pattern[3:], name) is not None
    if any(c in pattern for c in "*?"):
        return fnmatch.fnmatchcase(name, pattern)
    return pattern == name


def selects(select: Mapping[str, Any], service: str, name: str, attributes: Mapping[str, Any]) -> bool:
    """Whether every condition of `select` holds for a span."""
    if "service" in select and select["service"] != service:
        return False
    if "span" in select and not span_matches(select["span"], name):
        return False
    if "step" in select and attributes.get("blueprint.step") != select["step"]:
        return False
    for key, value in (select.get("attributes") or {}).items():
        if key not in attributes or str(attributes[key]) != str(value):
            return False
    return True


def bind(service: str, name: str, attributes: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every (blueprint, step) of the demo maps whose selector takes this span."""
    return [
        (blueprint, step["id"])
        for blueprint, document in MAPS.items()
        for step in document["steps"]
        if selects(step["select"], service, name, attributes)
    ]


@cache
def two_hours() -> tuple[SpanRecord, ...]:
    """Two hours of every scenario at 1 journey/s, seed 11, no faults."""
    config = DemoConfig(
        start=datetime(2024, 5, 1, 8, tzinfo=UTC), duration=timedelta(hours=2), rate=1.0, seed=11
    )
    return tuple(generate(config))


def steps_of(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in document["steps"]}


def successors(document: Mapping[str, Any]) -> dict[str, set[str]]:
    allowed: dict[str, set[str]] = defaultdict(set)
    for flow in document["flows"]:
        targets = flow["to"] if isinstance(flow["to"], list) else [flow["to"]]
        allowed[flow["from"]].update(targets)
    return allowed


# --- the format -------------------------------------------------------------------------------------


@pytest.mark.parametrize("blueprint", MAP_IDS)
def test_each_map_is_named_after_its_id_and_correlates_by_journey_id(blueprint: str) -> None:
    document = MAPS[blueprint]
    assert document["id"] == blueprint
    assert document["correlation"]["key"] == "journey.id"
    assert re.fullmatch(r"\d+[smh]", str(document["correlation"]["timeout"]))


@pytest.mark.parametrize("blueprint", MAP_IDS)
def test_steps_use_only_the_lanes_actors_stages_and_touchpoints_the_map_declares(blueprint: str) -> None:
    document = MAPS[blueprint]
    stages = {s["id"] for s in document["stages"]}
    touchpoints = {t["id"]: t for t in document["touchpoints"]}
    for touchpoint in touchpoints.values():
        assert touchpoint["channel"] in CHANNELS
        assert touchpoint["importance"] > 0
    for step in document["steps"]:
        assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*", step["id"])
        assert step["lane"] in LANES, step["id"]
        assert step["actor"] in ACTORS, step["id"]
        assert step["stage"] in stages, step["id"]
        assert step.get("touchpoint") is None or step["touchpoint"] in touchpoints, step["id"]
        assert step["select"] and set(step["select"]) <= SELECT_KEYS, step["id"]


@pytest.mark.parametrize("blueprint", MAP_IDS)
def test_flows_start_and_end_name_only_steps_of_the_map(blueprint: str) -> None:
    document = MAPS[blueprint]
    steps = steps_of(document)
    named = set(document["start"]) | set(document["end"])
    for origin, targets in successors(document).items():
        named |= {origin} | targets
    assert named <= set(steps)


@pytest.mark.parametrize("blueprint", MAP_IDS)
def test_backstage_and_support_steps_say_which_customer_facing_steps_they_serve(blueprint: str) -> None:
    steps = steps_of(MAPS[blueprint])
    for step in steps.values():
        if step["lane"] in ("backstage", "support"):
            assert step.get("serves"), f"{blueprint}/{step['id']} has no serves"
            for served in step["serves"]:
                assert steps[served]["lane"] in ("customer", "frontstage", "evidence"), served


def test_support_line_marks_solving_the_problem_on_the_call_as_the_resolution() -> None:
    resolutions = [s["id"] for s in MAPS["support-line"]["steps"] if s.get("resolution")]
    assert resolutions == ["resolved"]


def test_the_maps_bind_with_every_kind_of_selector() -> None:
    kinds = set()
    for document in MAPS.values():
        for step in document["steps"]:
            select = step["select"]
            pattern = select.get("span", "")
            if pattern.startswith("re:"):
                kinds.add("regex")
            elif any(c in pattern for c in "*?"):
                kinds.add("glob")
            elif pattern:
                kinds.add("exact")
            kinds |= {"attributes"} & set(select) | {"step"} & set(select)
    assert kinds == {"exact", "glob", "regex", "attributes", "step"}


@pytest.mark.parametrize("blueprint", MAP_IDS)
def test_the_map_and_the_generator_agree_on_steps_lanes_actors_and_touchpoints(blueprint: str) -> None:
    scenario = SCENARIOS[blueprint]
    steps = steps_of(MAPS[blueprint])
    assert set(steps) == set(scenario.steps)
    for step_id, spec in scenario.steps.items():
        step = steps[step_id]
        assert (step["lane"], step["actor"], step.get("touchpoint")) == (
            spec.lane,
            spec.actor,
            spec.touchpoint,
        )
        assert tuple(step.get("serves") or ()) == spec.serves, step_id
    channels = {t["id"]: t["channel"] for t in MAPS[blueprint]["touchpoints"]}
    assert channels == dict(scenario.touchpoints)


# --- binding the demo's spans -----------------------------------------------------------------------


def test_every_journey_span_binds_to_exactly_the_step_it_performs() -> None:
    wrong = defaultdict(int)
    for record in two_hours():
        if record.step is None:
            continue
        bound = bind(record.service, record.name, record.attributes)
        if bound != [(record.scenario, record.step)]:
            wrong[(record.scenario, record.step, tuple(bound))] += 1
    assert not wrong


def test_health_checks_are_noise_no_map_binds() -> None:
    noise = [r for r in two_hours() if r.step is None]
    assert noise and all(r.name == "GET /healthz" for r in noise)
    assert all(bind(r.service, r.name, r.attributes) == [] for r in noise)


def test_spans_with_the_conventions_carry_their_step_s_lane_and_touchpoint() -> None:
    tagged = [r for r in two_hours() if "blueprint.step" in r.attributes]
    assert {r.step for r in tagged} >= {"call", "agent-greeting", "courier-delivery", "arrive-in-store"}
    for record in tagged:
        step = steps_of(MAPS[record.scenario])[record.step]
        assert record.attributes["blueprint.lane"] == step["lane"]
        assert record.attributes["actor.type"] == step["actor"]
        assert record.attributes.get("touchpoint.id") == step.get("touchpoint")


def test_some_steps_bind_only_by_service_and_span_name_like_plain_http_spans() -> None:
    plain = {r.name for r in two_hours() if r.step is not None and "blueprint.step" not in r.attributes}
    assert {"GET /search", "POST /checkout", "GET /accounts/{account_id}"} <= plain


@pytest.mark.parametrize("blueprint", MAP_IDS)
def test_journeys_without_faults_only_take_paths_the_flows_allow(blueprint: str) -> None:
    document = MAPS[blueprint]
    allowed = successors(document)
    journeys: dict[str, list[SpanRecord]] = defaultdict(list)
    for record in two_hours():
        if record.scenario == blueprint:
            journeys[record.journey_id].append(record)
    off_map = defaultdict(int)
    settled_by = max(r.end_ns for r in two_hours()) - 20 * 60 * 10**9
    for records in journeys.values():
        if any(r.end_ns > settled_by for r in records):
            continue  # still under way at the end: a span around its last steps may not have ended yet
        path = [r.step for r in sorted(records, key=lambda r: (r.start_ns, -r.end_ns))]
        assert path[0] in document["start"]
        for before, after in zip(path, path[1:], strict=False):
            if after not in allowed[before]:
                off_map[(before, after)] += 1
    assert len(journeys) > 300
    assert not off_map
