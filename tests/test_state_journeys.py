"""The journey pass of the live state, on hand-computable journeys in a real engine: waits, transitions,
drop-off causes, conformance, lead and process time, handoffs, repeats and first-contact resolution."""

from __future__ import annotations

from datetime import timedelta

import pytest
from state_scenario import SideClients, Span, blueprint, insert, origin, step_span

from blueprints.state import StateOptions, compute_state
from collectors.db import connect

LINE = """
id: line
name: Line
correlation: {key: trace_id, timeout: 10m}
stages: [{id: all, name: All}]
steps:
  - {id: a, name: Arrive, lane: customer, stage: all, actor: person, select: {step: a}}
  - {id: b, name: Book, lane: frontstage, stage: all, actor: person, select: {step: b}}
  - {id: c, name: Check, lane: backstage, stage: all, actor: system, select: {step: c}}
  - {id: d, name: Done, lane: customer, stage: all, actor: person, select: {step: d}}
flows:
  - {from: a, to: b}
  - {from: b, to: c}
  - {from: c, to: d}
"""


def state_of(ch, text, day, minutes=15, **kwargs):  # noqa: ANN001, ANN201 - test helper
    start = origin(day)
    end = start + timedelta(minutes=minutes)
    return compute_state(ch, blueprint(text), start, end, end, **kwargs)


def by_step(state):  # noqa: ANN001, ANN201
    return {s.step_id: s for s in state.steps}


def by_edge(state):  # noqa: ANN001, ANN201
    return {(e.from_step, e.to_step): e for e in state.edges}


def test_wait_is_start_minus_previous_end_per_journey(ch) -> None:
    insert(ch, origin(1), [
        step_span("a", 0, 1, "j1"), step_span("b", 3, 1, "j1"), step_span("c", 4.5, 0.5, "j1"),
        step_span("a", 10, 2, "j2"), step_span("b", 12, 1, "j2"), step_span("c", 20, 1, "j2"),
    ])  # fmt: skip
    steps = by_step(state_of(ch, LINE, 1))
    assert steps["a"].wait_mean_s is None  # a journey's first step has no wait
    assert steps["b"].wait_mean_s == pytest.approx(1.0)  # (2 + 0) / 2
    assert steps["b"].wait_p95_s == pytest.approx(1.9)
    assert steps["c"].wait_mean_s == pytest.approx(3.75)  # (0.5 + 7) / 2


def test_edges_count_consecutive_steps_with_their_waits(ch) -> None:
    insert(ch, origin(2), [
        step_span("a", 0, 1, "j1"), step_span("b", 3, 1, "j1"), step_span("c", 4.5, 0.5, "j1"),
        step_span("a", 10, 2, "j2"), step_span("b", 12, 1, "j2"), step_span("c", 20, 1, "j2"),
    ])  # fmt: skip
    edges = by_edge(state_of(ch, LINE, 2))
    assert set(edges) == {("a", "b"), ("b", "c")}
    assert edges[("a", "b")].count == 2
    assert edges[("a", "b")].wait_mean_s == pytest.approx(1.0)
    assert edges[("a", "b")].wait_p50_s == pytest.approx(1.0)
    assert edges[("b", "c")].wait_p95_s == pytest.approx(0.5 + 0.95 * 6.5)
    assert all(edge.expected for edge in edges.values())


def test_overlapping_steps_wait_zero(ch) -> None:
    insert(ch, origin(3), [step_span("a", 0, 10, "j1"), step_span("b", 2, 1, "j1")])
    assert by_step(state_of(ch, LINE, 3))["b"].wait_mean_s == 0.0


def test_error_rate_percentiles_and_throughput(ch) -> None:
    insert(ch, origin(4), [step_span("a", 20 * i, i, f"j{i}", error=i in (3, 7)) for i in range(1, 11)])
    a = by_step(state_of(ch, LINE, 4))["a"]
    assert (a.count, a.errors, a.error_rate) == (10, 2, pytest.approx(0.2))
    assert (a.p50_s, a.p95_s, a.p99_s) == (pytest.approx(5.5), pytest.approx(9.55), pytest.approx(9.91))
    assert a.throughput_per_min == pytest.approx(10 / 15)


DROPS = [
    step_span("a", 0, 1, "err"), step_span("b", 2, 1, "err", error=True),
    step_span("a", 0, 1, "gone"),
    step_span("a", 0, 1, "wrong"), step_span("c", 2, 1, "wrong"),
    step_span("a", 0, 1, "done"), step_span("b", 2, 1, "done"), step_span("c", 4, 1, "done"),
    step_span("d", 6, 1, "done"),
    step_span("a", 3300, 1, "live"),  # 5 minutes before the window ends: still under way
    step_span("c", 100, 1, "tail"), step_span("d", 102, 1, "tail"),  # seen only from the middle
]  # fmt: skip


def test_drop_off_by_last_step_and_cause(ch) -> None:
    insert(ch, origin(5), DROPS)
    journey = state_of(ch, LINE, 5, minutes=60).journey
    drops = {d.step_id: (d.journeys, d.error, d.abandoned, d.wrong_path) for d in journey.drop_off}
    assert drops == {"b": (1, 1, 0, 0), "a": (1, 0, 1, 0), "c": (1, 0, 0, 1)}
    assert (journey.journeys, journey.completed) == (5, 1)
    assert journey.completion_rate == pytest.approx(1 / 4)  # the journey under way is not judged yet


def test_skipped_required_step_and_unexpected_transition_lower_conformance(ch) -> None:
    insert(ch, origin(6), DROPS)
    conformance = state_of(ch, LINE, 6, minutes=60).conformance
    assert (conformance.journeys, conformance.conforming) == (5, 4)
    assert conformance.rate == pytest.approx(0.8)
    assert conformance.skipped == {"b": 1}
    assert [(e.from_step, e.to_step, e.count) for e in conformance.unexpected] == [("a", "c", 1)]


def test_optional_step_is_never_skipped(ch) -> None:
    insert(ch, origin(7), [step_span("a", 0, 1, "j"), step_span("c", 2, 1, "j"), step_span("d", 4, 1, "j")])
    optional_b = LINE.replace("select: {step: b}}", "select: {step: b}, optional: true}")
    conformance = state_of(ch, optional_b, 7).conformance
    assert conformance.skipped == {}
    assert conformance.conforming == 0  # a -> c is still not a designed transition


def test_lead_time_process_time_flow_efficiency_handoffs_and_repeats(ch) -> None:
    def actor(step: str, start: float, duration: float, trace: str, who: str) -> Span:
        return step_span(step, start, duration, trace, attributes={"actor.type": "person", "actor.id": who})

    insert(ch, origin(8), [
        actor("a", 0, 2, "j1", "cust"), actor("b", 4, 1, "j1", "agent"), actor("c", 5, 3, "j1", "crm"),
        actor("d", 10, 1, "j1", "cust"),
        actor("a", 0, 1, "j2", "cust"), actor("b", 1, 1, "j2", "agent"), actor("b", 2, 1, "j2", "agent"),
        actor("c", 3, 1, "j2", "crm"), actor("d", 4, 1, "j2", "cust"),
    ])  # fmt: skip
    journey = state_of(ch, LINE, 8).journey
    assert journey.completed == 2
    assert journey.lead_time_mean_s == pytest.approx((11 + 5) / 2)
    assert journey.process_time_mean_s == pytest.approx((7 + 5) / 2)
    assert journey.flow_efficiency == pytest.approx(12 / 16)
    assert journey.handoffs_mean == pytest.approx(
        3.0
    )  # b -> b by the same agent in the same lane is no handoff
    assert journey.repeats == 1


def test_process_time_sums_step_durations_even_when_steps_overlap(ch) -> None:
    insert(ch, origin(9), [
        step_span("a", 0, 10, "j"), step_span("b", 2, 3, "j"),
        step_span("c", 12, 1, "j"), step_span("d", 13, 1, "j"),
    ])  # fmt: skip
    journey = state_of(ch, LINE, 9).journey
    assert journey.lead_time_mean_s == pytest.approx(14.0)
    assert journey.process_time_mean_s == pytest.approx(10 + 3 + 1 + 1)
    assert journey.flow_efficiency == pytest.approx(15 / 14)  # above 1: steps ran in parallel


SUPPORT = """
id: support
name: Support
correlation: {key: trace_id, timeout: 10m}
stages: [{id: all, name: All}]
steps:
  - {id: call, name: Call, lane: customer, stage: all, actor: person, select: {step: call}}
  - {id: agent, name: Agent, lane: frontstage, stage: all, actor: person, select: {step: agent}}
  - {id: resolved, name: Resolved, lane: frontstage, stage: all, actor: person, resolution: true,
     select: {step: resolved}}
  - {id: callback, name: Callback, lane: frontstage, stage: all, actor: person, optional: true,
     select: {step: callback}}
flows:
  - {from: call, to: agent}
  - {from: agent, to: [resolved, callback]}
"""


def test_first_contact_resolution_excludes_callbacks_and_repeated_calls(ch) -> None:
    insert(ch, origin(10), [
        step_span("call", 0, 1, "j1"), step_span("agent", 1, 1, "j1"), step_span("resolved", 2, 1, "j1"),
        step_span("call", 0, 1, "j2"), step_span("agent", 1, 1, "j2"), step_span("callback", 2, 1, "j2"),
        step_span("call", 0, 1, "j3"), step_span("agent", 1, 1, "j3"), step_span("call", 2, 1, "j3"),
        step_span("agent", 3, 1, "j3"), step_span("resolved", 4, 1, "j3"),
    ])  # fmt: skip
    journey = state_of(ch, SUPPORT, 10).journey
    assert journey.completed == 3
    assert journey.first_contact_resolution == pytest.approx(1 / 3)


def test_first_contact_resolution_is_none_without_resolution_steps(ch) -> None:
    insert(ch, origin(11), [step_span("a", 0, 1, "j"), step_span("b", 1, 1, "j"), step_span("c", 2, 1, "j"),
                            step_span("d", 3, 1, "j")])  # fmt: skip
    assert state_of(ch, LINE, 11).journey.first_contact_resolution is None


KEYED = LINE.replace("key: trace_id", "key: journey.id")


def test_journeys_cross_traces_by_key_and_untagged_spans_join_their_trace(ch) -> None:
    insert(ch, origin(12), [
        step_span("a", 0, 1, "t1", attributes={"journey.id": "j-1"}),
        step_span("b", 60, 1, "t2", attributes={"journey.id": "j-1"}),
        step_span("c", 62, 1, "t2"),  # an off-the-shelf system's span: no journey.id, same trace as b
        step_span("d", 70, 1, "t3"),  # no key anywhere in its trace: a journey of its own
    ])  # fmt: skip
    state = state_of(ch, KEYED, 12)
    assert {k: e.count for k, e in by_edge(state).items()} == {("a", "b"): 1, ("b", "c"): 1}
    assert by_edge(state)[("a", "b")].wait_mean_s == pytest.approx(59.0)
    assert state.journey.journeys == 1


def test_a_span_naming_another_journey_than_its_trace_stays_in_its_own(ch) -> None:
    insert(ch, origin(70), [
        step_span("a", 0, 1, "t1", attributes={"journey.id": "j-1"}),
        step_span("b", 10, 1, "t1", attributes={"journey.id": "j-2"}),  # a trace touching two journeys
        step_span("c", 20, 1, "t2", attributes={"journey.id": "j-2"}),
    ])  # fmt: skip
    every_span_keyed = state_of(ch, KEYED, 70)
    assert {k: e.count for k, e in by_edge(every_span_keyed).items()} == {("b", "c"): 1}
    assert every_span_keyed.journey.journeys == 1  # j-2 began at b, not a start step; j-1 is a lone a
    # A bound span without a key anywhere in the window makes the pass lend trace keys: nothing else changes.
    insert(ch, origin(70), [step_span("d", 300, 1, "t9")])
    lending = state_of(ch, KEYED, 70)
    assert by_edge(lending) == by_edge(every_span_keyed)
    assert by_step(lending)["d"].count == 1
    assert [(s.step_id, s.count, s.wait_mean_s) for s in lending.steps if s.step_id != "d"] == [
        (s.step_id, s.count, s.wait_mean_s) for s in every_span_keyed.steps if s.step_id != "d"
    ]


def test_in_flight_counts_spans_running_at_the_window_end(ch) -> None:
    insert(ch, origin(13), [step_span("a", 899, 10, "j1"), step_span("a", 100, 5, "j2")])
    assert by_step(state_of(ch, LINE, 13))["a"].in_flight == 1


def test_series_cuts_the_window_into_round_buckets(ch) -> None:
    insert(ch, origin(14), [
        step_span("a", 1, 1, "j1"), step_span("a", 5, 1, "j2", error=True), step_span("a", 65, 1, "j3"),
    ])  # fmt: skip
    state = state_of(ch, LINE, 14)
    series = by_step(state)["a"].series
    assert state.window.bucket_s == 30 and len(series) == 30
    assert [(p.count, p.errors) for p in series[:3]] == [(2, 1), (0, 0), (1, 0)]
    assert series[2].t == origin(14) + timedelta(seconds=60)


def test_unmapped_lists_the_busiest_names_no_step_binds(ch) -> None:
    at = origin(15)
    insert(ch, at, [Span("noise", "GET /health", i, 0.01, f"n{i}") for i in range(3)])
    insert(ch, at, [Span("noise", "poll", 9, 0.01, "p"), step_span("a", 1, 1, "j")])
    unmapped = state_of(ch, LINE, 15).conformance.unmapped
    assert [(u.service, u.span_name, u.count) for u in unmapped] == [
        ("noise", "GET /health", 3),
        ("noise", "poll", 1),
    ]


def test_a_side_client_reads_unmapped_names_beside_the_walk_and_changes_no_figure(ch, dsn) -> None:  # noqa: ANN001
    at = origin(80)
    insert(ch, at, [Span("noise", "GET /health", i, 0.01, f"n{i}") for i in range(3)])
    insert(ch, at, [Span("noise", "poll", 9, 0.01, "p"), step_span("a", 1, 1, "j"), step_span("b", 3, 1, "j")])
    alone = state_of(ch, LINE, 80)
    side = SideClients(connect(dsn))
    try:
        beside = state_of(ch, LINE, 80, side_client=side)
    finally:
        side.client.close()
    assert side.asked_from and all(name.startswith("touchpoint-state-side") for name in side.asked_from)
    assert [(u.service, u.count) for u in beside.conformance.unmapped] == [("noise", 3), ("noise", 1)]
    assert beside.model_dump(exclude={"query_ms"}) == alone.model_dump(exclude={"query_ms"})


def test_window_without_spans_has_no_data(ch) -> None:
    state = state_of(ch, LINE, 16)
    assert {s.health.value for s in state.steps} == {"no_data"}
    assert state.journey.journeys == 0 and state.journey.completion_rate is None
    assert state.source == "raw" and state.journey_window is None


@pytest.mark.parametrize("lend", [True, False])
def test_convention_columns_and_the_attribute_map_give_the_same_answer(ch, lend) -> None:
    from blueprints.journey_graph import journey_graph
    from blueprints.selectors import TRACE_COLUMNS
    from blueprints.state_sql import Scan, journey_query
    from blueprints.trace_columns import CONVENTION_COLUMNS, trace_columns

    day = 17 if lend else 16
    insert(
        ch,
        origin(day),
        DROPS
        + [
            step_span("b", 5, 1, "k", attributes={"actor.type": "person", "actor.id": "x"}),
            # one journey over two traces
            step_span("a", 30, 1, "t-x", attributes={"journey.id": "j-9"}),
            step_span("b", 40, 1, "t-y", attributes={"journey.id": "j-9"}),
        ],
    )
    bp = blueprint(KEYED)
    start = origin(day)
    scan = Scan(start, start + timedelta(hours=1), start, 120, start + timedelta(hours=1))
    answers = []
    for columns in (TRACE_COLUMNS, CONVENTION_COLUMNS):
        query = journey_query(bp, journey_graph(bp), scan, columns, lend=lend)
        answers.append(sorted(map(repr, ch.query(query.sql, parameters=query.params).result_rows)))
    assert trace_columns(ch) == CONVENTION_COLUMNS
    assert answers[0] == answers[1] and len(answers[0]) >= 8  # rows of several steps, transitions, buckets


def test_blueprints_beyond_64_steps_use_wide_step_masks(ch) -> None:
    steps = "\n".join(
        f"  - {{id: s{n}, name: S{n}, lane: frontstage, stage: all, actor: system, select: {{step: s{n}}}}}"
        for n in range(70)
    )
    flows = "\n".join(f"  - {{from: s{n}, to: s{n + 1}}}" for n in range(69))
    wide = f"id: wide\nname: Wide\nstages: [{{id: all, name: All}}]\nsteps:\n{steps}\nflows:\n{flows}\n"
    insert(ch, origin(18), [step_span(f"s{n}", n, 0.5, "j") for n in range(70) if n != 66])
    state = state_of(ch, wide, 18)
    assert state.conformance.skipped == {"s66": 1}
    assert state.journey.completed == 1 and state.edges[-1].from_step == "s68"


def test_long_waits_of_many_journeys_do_not_overflow(ch) -> None:
    month = 30 * 86400.0
    insert(
        ch,
        origin(19),
        [
            s
            for n in range(4000)
            for s in (step_span("a", n, 1, f"j{n}"), step_span("b", n + month, 1, f"j{n}"))
        ],
    )
    start = origin(19)
    end = start + timedelta(days=40)
    state = compute_state(ch, blueprint(LINE), start, end, end, StateOptions(source="raw"))
    assert by_step(state)["b"].wait_mean_s == pytest.approx(month - 1)  # 4000 x 30 days passes 2**63 ns
    assert by_edge(state)[("a", "b")].wait_mean_s == pytest.approx(month - 1)


def test_a_walk_beside_the_unkeyed_check_lends_keys_exactly_when_needed_whatever_it_guessed(ch, dsn) -> None:  # noqa: ANN001
    keyed = [
        step_span("a", 0, 1, "t1", attributes={"journey.id": "j-1"}),
        step_span("b", 60, 1, "t2", attributes={"journey.id": "j-1"}),
    ]
    insert(ch, origin(71), keyed)
    insert(ch, origin(72), [*keyed, step_span("c", 62, 1, "t2")])  # c lacks the key: it joins j-1 via t2
    side = SideClients(connect(dsn))
    try:
        # The guess carried from one state to the next is wrong at the second and third call.
        states = [(day, state_of(ch, KEYED, day, side_client=side)) for day in (71, 71, 72, 72, 71)]
    finally:
        side.client.close()
    for day, beside in states:
        assert beside.model_dump(exclude={"query_ms"}) == state_of(ch, KEYED, day).model_dump(exclude={"query_ms"})
    assert {k: e.count for k, e in by_edge(states[2][1]).items()} == {("a", "b"): 1, ("b", "c"): 1}
    assert {k: e.count for k, e in by_edge(states[4][1]).items()} == {("a", "b"): 1}
