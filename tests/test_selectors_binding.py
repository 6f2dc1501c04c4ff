"""Selectors evaluated by the real engine: which span binds to which step, and hostile names, attribute
values and ids that stay plain data all the way through the live state."""

from __future__ import annotations

import json
from datetime import timedelta

from state_scenario import Span, blueprint, insert, origin

from blueprints.selectors import step_expression
from blueprints.state import compute_state
from collectors.schema import TRACES_TABLE

DESK = r"""
id: desk
name: Desk
correlation: {key: journey.id, timeout: 1h}
stages: [{id: all, name: All}]
steps:
  - {id: menu, name: Menu, lane: frontstage, stage: all, actor: system,
     select: {service: ivr, span: ivr.menu}}
  - {id: lookup, name: Lookup, lane: support, stage: all, actor: system,
     select: {service: crm, span: "GET /accounts/*"}}
  - {id: adjust, name: Adjust, lane: backstage, stage: all, actor: process,
     select: {service: billing, span: 're:^billing\.(adjust|credit)$'}}
  - {id: greet, name: Greet, lane: frontstage, stage: all, actor: person,
     select: {service: desk, span: agent.answer}}
  - {id: specialist, name: Specialist, lane: frontstage, stage: all, actor: person,
     select: {service: desk, span: agent.answer, attributes: {agent.role: specialist}}}
  - {id: call, name: Call, lane: customer, stage: all, actor: person, select: {service: phone, step: call}}
"""


def bound_steps(ch, day: int) -> dict[str, str]:  # noqa: ANN001
    step = step_expression(blueprint(DESK))
    start = origin(day)
    rows = ch.query(
        f"SELECT SpanName, any({step.sql}) FROM {TRACES_TABLE} "
        "WHERE Timestamp >= {from:DateTime64(9)} AND Timestamp < {to:DateTime64(9)} GROUP BY SpanName",
        parameters={**step.params, "from": start, "to": start + timedelta(hours=1)},
    ).result_rows
    return dict(rows)


def test_exact_glob_regex_attribute_and_convention_selectors_bind_their_spans(ch) -> None:
    insert(ch, origin(1), [
        Span("ivr", "ivr.menu", 0, 1),
        Span("crm", "GET /accounts/42", 1, 1),
        Span("billing", "billing.credit", 2, 1),
        Span("billing", "billing.creditnote", 3, 1),
        Span("desk", "agent.answer", 4, 1),
        Span("phone", "inbound", 5, 1, attributes={"blueprint.step": "call"}),
        Span("phone", "outbound", 6, 1, attributes={"blueprint.step": "callback"}),
        Span("ivr", "ivr.menu.v2", 7, 1),
    ])  # fmt: skip
    assert bound_steps(ch, 1) == {
        "ivr.menu": "menu",
        "GET /accounts/42": "lookup",
        "billing.credit": "adjust",
        "billing.creditnote": "",  # the regex is anchored at both ends
        "agent.answer": "greet",
        "inbound": "call",
        "outbound": "",
        "ivr.menu.v2": "",
    }


def test_attribute_condition_picks_the_more_specific_step(ch) -> None:
    insert(ch, origin(2), [Span("desk", "agent.answer", 0, 1, attributes={"agent.role": "specialist"})])
    assert bound_steps(ch, 2) == {"agent.answer": "specialist"}


def test_glob_treats_like_wildcards_in_names_literally(ch) -> None:
    lookup = DESK.replace('"GET /accounts/*"', '"GET /a_c%/*"')
    step = step_expression(blueprint(lookup))
    insert(ch, origin(3), [Span("crm", "GET /a_c%/1", 0, 1), Span("crm", "GET /abcd/1", 1, 1)])
    start = origin(3)
    rows = ch.query(
        f"SELECT SpanName, {step.sql} FROM {TRACES_TABLE} "
        "WHERE Timestamp >= {from:DateTime64(9)} AND Timestamp < {to:DateTime64(9)} ORDER BY SpanName",
        parameters={**step.params, "from": start, "to": start + timedelta(hours=1)},
    ).result_rows
    assert rows == [("GET /a_c%/1", "lookup"), ("GET /abcd/1", "")]


HOSTILE = "x'); DROP TABLE otel_traces; --"
BACKSLASH = "\\' OR 1=1 --"
KEY = "journey.id'; --"


def test_hostile_names_values_and_ids_are_inert(ch) -> None:
    hostile = DESK.replace(
        "span: ivr.menu}", f"span: {json.dumps(HOSTILE)}, attributes: {{note: {json.dumps(BACKSLASH)}}}}}"
    )
    hostile = hostile.replace("key: journey.id", f"key: {json.dumps(KEY)}")
    insert(ch, origin(4), [
        Span("ivr", HOSTILE, 0, 1, "t1", {"note": BACKSLASH, KEY: "j'1\\"}),
        Span("ivr", HOSTILE, 5, 1, "t2", {"note": "other", KEY: "j'1\\"}),
        Span("phone", "inbound", 9, 1, "t3", {"blueprint.step": "call", KEY: "j'1\\"}),
    ])  # fmt: skip
    start = origin(4)
    state = compute_state(
        ch, blueprint(hostile), start, start + timedelta(minutes=15), start + timedelta(minutes=15)
    )
    counts = {s.step_id: s.count for s in state.steps if s.count}
    assert counts == {"menu": 1, "call": 1}
    assert [(e.from_step, e.to_step) for e in state.edges] == [("menu", "call")]  # one journey across traces
    assert [(u.service, u.span_name, u.count) for u in state.conformance.unmapped] == [("ivr", HOSTILE, 1)]
    assert ch.query(f"EXISTS TABLE {TRACES_TABLE}").result_rows == [(1,)]
