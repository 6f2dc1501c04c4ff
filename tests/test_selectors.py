"""Compiling step selectors into ClickHouse expressions: patterns, precedence, and values that only ever
travel as bound parameters. Pure: no engine needed."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from state_scenario import blueprint

from blueprints.selectors import (
    SelectorError,
    SpanColumns,
    binding_filter,
    glob_to_like,
    journey_key_expression,
    selector_attribute_keys,
    span_name_condition,
    step_expression,
    step_index_expression,
)

NASTY = "x'); DROP TABLE otel_traces; -- \\ {s0_svc:String} `"


def bp(steps: str, correlation: str = "{key: trace_id}") -> object:
    return blueprint(f"""
        id: sel
        name: Selectors
        correlation: {correlation}
        stages: [{{id: all, name: All}}]
        steps:
{steps}
    """)


def test_glob_becomes_like_with_its_own_wildcards_escaped() -> None:
    assert glob_to_like("GET /a_b/*") == "GET /a\\_b/%"
    assert glob_to_like("100%?") == "100\\%_"
    assert glob_to_like("C:\\*") == "C:\\\\%"


def test_span_patterns_choose_equality_like_or_match() -> None:
    assert span_name_condition("GET /x", "SpanName", "p").sql == "SpanName = {p:String}"
    assert span_name_condition("GET /x/*", "SpanName", "p").sql == "SpanName LIKE {p:String}"
    regex = span_name_condition(r"re:^billing\.(adjust|credit)$", "SpanName", "p")
    assert regex.sql == "match(SpanName, {p:String})"
    assert regex.params == {"p": r"^billing\.(adjust|credit)$"}


def test_regex_outside_re2_is_refused_with_where_it_is() -> None:
    with pytest.raises(SelectorError) as refused:
        span_name_condition("re:^(?!health)", "SpanName", "p", where="steps[ivr].select.span")
    assert str(refused.value) == (
        "steps[ivr].select.span regex '^(?!health)' uses look-around or a back-reference, "
        "which ClickHouse's RE2 does not support"
    )


def test_column_names_must_be_identifiers() -> None:
    with pytest.raises(SelectorError, match="is not a plain identifier"):
        SpanColumns(attributes="SpanAttributes; DROP TABLE x")


def test_values_travel_only_as_parameters() -> None:
    nasty = json.dumps(NASTY)
    selectors = bp(f"""
          - id: pay
            name: Pay
            lane: frontstage
            stage: all
            actor: system
            select:
              service: {nasty}
              span: {nasty}
              attributes: {{"k'ey": {nasty}}}
    """)
    fragment = step_index_expression(selectors)
    assert NASTY not in fragment.sql and "DROP" not in fragment.sql
    assert list(fragment.params.values()).count(NASTY) == 3


def test_the_selector_with_more_conditions_wins_whatever_the_order() -> None:
    selectors = bp("""
          - {id: any-answer, name: A, lane: frontstage, stage: all, actor: person,
             select: {service: desk, span: agent.answer}}
          - {id: specialist, name: S, lane: frontstage, stage: all, actor: person,
             select: {service: desk, span: agent.answer, attributes: {agent.role: specialist}}}
    """)
    sql = step_index_expression(selectors).sql
    assert sql.index("sel1_ak0") < sql.index("sel0_svc")  # the specialist branch (index 2) comes first
    assert sql.endswith(", 0))")


def test_step_without_select_binds_its_own_blueprint_step() -> None:
    selectors = bp("          - {id: call, name: Call, lane: customer, stage: all, actor: person}")
    fragment = step_expression(selectors)
    assert fragment.params["sel0_step"] == "call"
    assert fragment.params["sel0_stepkey"] == "blueprint.step"
    assert fragment.params["sel_ids"] == ["call"]


def test_journey_key_is_the_trace_or_the_correlation_attribute() -> None:
    step = "          - {id: call, name: Call, lane: customer, stage: all, actor: person}"
    assert journey_key_expression(bp(step)).sql == "TraceId"
    keyed = journey_key_expression(bp(step, "{key: journey.id, timeout: 2h}"))
    assert keyed.sql == "if(SpanAttributes[{jk_key:String}] != '', SpanAttributes[{jk_key:String}], TraceId)"
    assert keyed.params == {"jk_key": "journey.id"}


def test_selector_attribute_keys_name_what_the_rollup_must_keep() -> None:
    selectors = bp("""
          - {id: a, name: A, lane: customer, stage: all, actor: person,
             select: {service: s, attributes: {agent.role: x}}}
          - {id: b, name: B, lane: customer, stage: all, actor: person, select: {step: b}}
    """)
    assert selector_attribute_keys([selectors]) == {"agent.role", "blueprint.step"}


@given(st.text(max_size=40))
def test_every_glob_round_trips_through_like_semantics(glob: str) -> None:
    like = glob_to_like(glob)
    unescaped = like.replace("\\%", "").replace("\\_", "").replace("\\\\", "")
    assert unescaped.count("%") == glob.count("*")
    assert unescaped.count("_") == glob.count("?")


def test_binding_filter_names_the_service_and_span_ranges_steps_can_bind() -> None:
    selectors = bp("""
          - {id: a, name: A, lane: customer, stage: all, actor: person,
             select: {service: web, span: "GET /p/*"}}
          - {id: b, name: B, lane: customer, stage: all, actor: person,
             select: {service: pay, step: b}}
    """)
    fragment = binding_filter(selectors)
    assert fragment is not None
    assert fragment.sql == (
        "((ServiceName = {bf0_svc:String} AND SpanName LIKE {bf0_span:String})"
        " OR (ServiceName = {bf1_svc:String}))"
    )
    assert fragment.params == {"bf0_svc": "web", "bf0_span": "GET /p/%", "bf1_svc": "pay"}


def test_binding_filter_gives_up_when_a_step_binds_by_attributes_alone() -> None:
    selectors = bp(
        "          - {id: call, name: Call, lane: customer, stage: all, actor: person, select: {step: call}}"
    )
    assert binding_filter(selectors) is None
