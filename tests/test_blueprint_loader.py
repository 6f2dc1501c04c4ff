"""YAML → Blueprint: every problem of a file at once, each naming file:line:column, field, value, expectation.

Fixtures come in pairs in tests/fixtures/blueprints: `<id>.good.yaml` must load; `<id>.bad-<reason>.yaml`
must fail with exactly the messages listed in EXPECTED below (the id each fixture must carry is the part
of its name before the first dot).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blueprints.errors import InvalidBlueprint
from blueprints.loader import MAX_BYTES, load_blueprint, parse_blueprint, validate_document
from blueprints.model import Blueprint

FIXTURES = Path(__file__).parent / "fixtures" / "blueprints"
MAPS = Path(__file__).resolve().parent.parent / "blueprints" / "maps"
STEP_FIELDS = (
    "id, name, lane, stage, actor, owner, touchpoint, description, select, objectives, optional, "
    "resolution, serves"
)

EXPECTED: dict[str, list[str]] = {
    "checkout.bad-lane.yaml": [
        "checkout.bad-lane.yaml:10:5 steps[1].lane 'backstag' is not one of evidence, customer, frontstage, "
        "backstage, support",
    ],
    "checkout.bad-stage.yaml": [
        "checkout.bad-stage.yaml:9:5 steps[0].stage 'payy' is not a declared stage: expected one of pay, "
        "confirm (did you mean 'pay'?)",
    ],
    "checkout.bad-touchpoint.yaml": [
        "checkout.bad-touchpoint.yaml:12:5 steps[0].touchpoint 'webshop' is not a declared touchpoint: "
        "expected one of web-shop (did you mean 'web-shop'?)",
    ],
    "checkout.bad-actor.yaml": [
        "checkout.bad-actor.yaml:9:5 steps[0].actor 'robot' is not one of person, process, system",
    ],
    "checkout.bad-channel.yaml": [
        "checkout.bad-channel.yaml:7:5 touchpoints[0].channel 'fax' is not one of web, mobile, phone, store, "
        "email, chat, mail, other",
        "checkout.bad-channel.yaml:8:5 touchpoints[0].importance 0 is out of range: expected a number "
        "greater than 0",
    ],
    "checkout.bad-duplicate-step.yaml": [
        "checkout.bad-duplicate-step.yaml:12:5 steps[2].id 'basket' is already the id of steps[0]: ids must "
        "be unique",
    ],
    "checkout.bad-flow.yaml": [
        "checkout.bad-flow.yaml:14:18 flows[0].to[1] 'refund' is not a declared step: expected one of "
        "basket, charge",
        "checkout.bad-flow.yaml:15:5 flows[1].from 'chrage' is not a declared step: expected one of basket, "
        "charge (did you mean 'charge'?)",
        "checkout.bad-flow.yaml:17:9 start[0] 'bsket' is not a declared step: expected one of basket, charge "
        "(did you mean 'basket'?)",
    ],
    "checkout.bad-regex.yaml": [
        "checkout.bad-regex.yaml:11:7 steps[0].select.span 're:^POST /charges/(\\d+$' is not a valid regular "
        "expression: missing ), unterminated subpattern at position 15",
        "checkout.bad-regex.yaml:16:7 steps[1].select.span 're:^(?!GET)' uses a lookaround or backreference, "
        "which ClickHouse's regular expressions (RE2) lack",
    ],
    "checkout.bad-objective.yaml": [
        "checkout.bad-objective.yaml:10:7 steps[0].objectives.availability 1.5 is out of range: expected a "
        "share between 0 and 1, e.g. 0.995",
        "checkout.bad-objective.yaml:12:9 steps[0].objectives.latency.percentile 97 is not one of 50, 90, "
        "95, 99",
        "checkout.bad-objective.yaml:13:9 steps[0].objectives.latency.threshold_ms 0 is out of range: "
        "expected a number greater than 0",
        "checkout.bad-objective.yaml:14:7 steps[0].objectives.max_wait_s -30 is out of range: expected a "
        "number greater than 0",
    ],
    "checkout.bad-id.yaml": [
        "checkout.bad-id.yaml:1:1 id 'check-out' does not match the file name: expected 'checkout' (the file "
        "is checkout.yaml)",
    ],
    "checkout.bad-unknown-key.yaml": [
        f"checkout.bad-unknown-key.yaml:9:5 steps[0].selecter is not a known field: expected one of "
        f"{STEP_FIELDS} (did you mean 'select'?)",
        "checkout.bad-unknown-key.yaml:15:7 steps[1].select.servce is not a known field: expected one of "
        "service, span, attributes, step (did you mean 'service'?)",
        "checkout.bad-unknown-key.yaml:17:1 colour is not a known field: expected one of id, name, owner, "
        "description, correlation, stages, touchpoints, steps, flows, start, end",
    ],
    "checkout.bad-types.yaml": [
        "checkout.bad-types.yaml:2:1 name 42 is not text",
        "checkout.bad-types.yaml:3:1 stages 'pay' is not a list",
        "checkout.bad-types.yaml:6:5 touchpoints[0].importance 'high' is not a number",
        "checkout.bad-types.yaml:11:5 steps[0].optional 'maybe' is not a boolean: expected true or false",
        "checkout.bad-types.yaml:12:5 steps[0].serves 'checkout' is not a list",
        f"checkout.bad-types.yaml:13:5 steps[1] 'just a string' is not a mapping: expected fields "
        f"{STEP_FIELDS}",
        "checkout.bad-types.yaml:15:3 correlation.timeout '2 hours' is not a duration such as 30s, 15m, 2h, "
        "1d or 1h30m (or a number of seconds)",
    ],
    "checkout.bad-missing.yaml": [
        "checkout.bad-missing.yaml:1:1 id is missing",
        "checkout.bad-missing.yaml:3:5 stages[0].id is missing",
        "checkout.bad-missing.yaml:5:5 steps[0].lane is missing",
        "checkout.bad-missing.yaml:6:5 steps[0].stage 'pay' is not a declared stage: no stage with an id is "
        "declared",
        "checkout.bad-missing.yaml:8:5 flows[0].from is missing",
    ],
    "checkout.bad-empty-selector.yaml": [
        "checkout.bad-empty-selector.yaml:9:5 steps[0].select has no condition: expected at least one of "
        "service, span, attributes, step",
    ],
    "checkout.bad-serves.yaml": [
        'checkout.bad-serves.yaml:9:5 steps[0].serves ["charge"] is only for backstage and support steps; '
        "this step's lane is customer",
        "checkout.bad-serves.yaml:13:14 steps[1].serves[0] 'ledger' is in the support lane: expected a step "
        "the customer sees (evidence, customer or frontstage)",
        "checkout.bad-serves.yaml:13:30 steps[1].serves[2] 'refund' is not a declared step: expected one of "
        "basket, charge, ledger",
    ],
    "checkout.bad-anchor.yaml": [
        "checkout.bad-anchor.yaml:4:5 stages[0] defines the anchor &pay: anchors and aliases are not "
        "allowed in blueprints",
        "checkout.bad-anchor.yaml:10:5 steps[0].select uses the alias *pay: anchors and aliases are not "
        "allowed in blueprints",
    ],
    "checkout.bad-tag.yaml": [
        "checkout.bad-tag.yaml:2:7 name has the tag !!python/object/apply:os.system: tags are not allowed "
        "in blueprints",
        "checkout.bad-tag.yaml:8:12 steps[0].stage has the tag !custom: tags are not allowed in blueprints",
    ],
    "checkout.bad-syntax.yaml": [
        "checkout.bad-syntax.yaml:8:10 is not valid YAML: expected ',' or ']', but got ':' (while parsing a "
        "flow sequence)",
    ],
    "checkout.bad-duplicate-key.yaml": [
        "checkout.bad-duplicate-key.yaml:9:5 steps[0].lane is given twice (first at line 7)",
    ],
    "checkout.bad-not-mapping.yaml": [
        "checkout.bad-not-mapping.yaml:1:1 is not a mapping: expected a blueprint with id, name, stages and "
        "steps",
    ],
    "checkout.bad-empty.yaml": [
        "checkout.bad-empty.yaml is empty: expected a blueprint with id, name, stages and steps",
    ],
    "checkout.bad-two-documents.yaml": [
        "checkout.bad-two-documents.yaml:3:1 holds more than one YAML document: expected one blueprint per "
        "file",
    ],
}


def _parse_fixture(path: Path) -> Blueprint:
    return parse_blueprint(path.read_text(encoding="utf-8"), path.name, expected_id=path.name.split(".")[0])


def test_every_bad_fixture_has_its_expected_messages_and_every_expectation_its_fixture() -> None:
    assert sorted(p.name for p in FIXTURES.glob("*.bad-*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.good.yaml")))
def test_good_fixture_loads(name: str) -> None:
    blueprint = _parse_fixture(FIXTURES / name)

    assert blueprint.id == name.split(".")[0]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_fixture_reports_every_problem_with_its_position(name: str) -> None:
    with pytest.raises(InvalidBlueprint) as caught:
        _parse_fixture(FIXTURES / name)

    assert [str(p) for p in caught.value.problems] == EXPECTED[name]


def test_problems_carry_line_column_field_and_value_separately() -> None:
    with pytest.raises(InvalidBlueprint) as caught:
        _parse_fixture(FIXTURES / "checkout.bad-lane.yaml")

    problem = caught.value.problems[0]
    assert (problem.line, problem.column, problem.field, problem.value) == (
        10,
        5,
        "steps[1].lane",
        "backstag",
    )


def test_file_id_must_equal_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "refunds.yaml"
    path.write_text((FIXTURES / "minimal.good.yaml").read_text())

    with pytest.raises(InvalidBlueprint) as caught:
        load_blueprint(path)

    assert [p.message for p in caught.value.problems] == [
        "does not match the file name: expected 'refunds' (the file is refunds.yaml)"
    ]
    assert str(caught.value.problems[0]).startswith(f"{path}:1:1 id 'minimal'")


def test_json_document_problems_name_the_field_without_a_position() -> None:
    document = {
        "id": "x",
        "name": "X",
        "stages": [{"id": "s"}],
        "steps": [{"id": "a", "lane": "top", "stage": "s"}],
    }

    with pytest.raises(InvalidBlueprint) as caught:
        validate_document(document, "request body")

    assert [str(p) for p in caught.value.problems] == [
        "request body steps[0].lane 'top' is not one of evidence, customer, frontstage, backstage, support"
    ]


def test_alias_bomb_is_refused_before_anything_expands() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 10) + "]" for n in range(1, 9)]
    bomb = "\n".join(lines) + "\n"
    started = time.perf_counter()

    with pytest.raises(InvalidBlueprint) as caught:
        parse_blueprint(bomb, "bomb.yaml")

    assert time.perf_counter() - started < 2.0  # 10**9 expanded items would take far longer
    assert all("anchors and aliases are not allowed" in p.message for p in caught.value.problems)


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(InvalidBlueprint) as caught:
        parse_blueprint("id: " + "[" * 200 + "]" * 200 + "\n", "deep.yaml")

    assert [p.message for p in caught.value.problems] == ["is nested deeper than 32 levels: refused"]


def test_control_characters_are_reported_at_their_position() -> None:
    with pytest.raises(InvalidBlueprint) as caught:
        parse_blueprint("id: a\nname: \x1f\n", "ctl.yaml")

    assert str(caught.value) == (
        "ctl.yaml:2:7 is not valid YAML: the character U+001F is not allowed "
        "(special characters are not allowed)"
    )


def test_oversized_text_is_refused() -> None:
    with pytest.raises(InvalidBlueprint) as caught:
        parse_blueprint("# " + "x" * MAX_BYTES + "\n", "big.yaml")

    assert str(caught.value) == f"big.yaml is larger than {MAX_BYTES} bytes: refused"


@pytest.mark.skipif(not MAPS.is_dir(), reason="no demo maps in blueprints/maps")
@pytest.mark.parametrize("path", sorted(MAPS.glob("*.yaml")), ids=lambda p: p.name)
def test_demo_map_validates(path: Path) -> None:
    blueprint = load_blueprint(path)

    assert blueprint.id == path.stem


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8))
_documents = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(
                ["id", "name", "lane", "stage", "steps", "stages", "flows", "from", "to", "select"]
            ),
            inner,
            max_size=5,
        ),
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_any_text_either_loads_or_raises_invalid_blueprint(text: str) -> None:
    try:
        parse_blueprint(text, "fuzz.yaml")
    except InvalidBlueprint as exc:
        assert exc.problems and all(str(p).startswith("fuzz.yaml") for p in exc.problems)


@settings(max_examples=150, deadline=None)
@given(_documents)
def test_any_document_shape_either_validates_or_raises_invalid_blueprint(document: object) -> None:
    try:
        validate_document(document, "body")
    except InvalidBlueprint as exc:
        assert exc.problems and all(p.message for p in exc.problems)
