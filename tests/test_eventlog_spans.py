"""Events as step spans: lifecycle pairing, zero-length steps, stable ids, attributes, OTLP messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from collectors.eventlog import (
    Event,
    SpanOptions,
    events_to_requests,
    events_to_spans,
    read_log,
    spans_to_requests,
    step_slug,
)
from collectors.eventlog.otlp_encode import SpanEncoder
from collectors.eventlog.to_spans import StepSpanAssembler, span_id_for, trace_id_for

FIXTURES = Path(__file__).parent / "fixtures" / "eventlogs"
T0 = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
NS = 1_000_000_000


def _event(
    case: str, index: int, activity: str, minutes: float, lifecycle: str | None = None, **fields
) -> Event:
    return Event(
        source="log.csv",
        line=index + 2,
        case_id=case,
        index=index,
        activity=activity,
        timestamp=T0 + timedelta(minutes=minutes),
        lifecycle=lifecycle,
        **fields,
    )


def _ns(minutes: float) -> int:
    return int((T0 + timedelta(minutes=minutes)).timestamp()) * NS


def _spans(events: list[Event], **options) -> list:
    return list(events_to_spans(events, SpanOptions(source="helpdesk", **options)))


def test_complete_only_events_become_zero_length_spans_at_completion_so_waits_are_the_gaps() -> None:
    spans = _spans([_event("C1", 0, "Open", 0), _event("C1", 1, "Assign", 30), _event("C1", 2, "Close", 90)])
    assert [(s.name, s.start_ns, s.end_ns) for s in spans] == [
        ("Open", _ns(0), _ns(0)),
        ("Assign", _ns(30), _ns(30)),
        ("Close", _ns(90), _ns(90)),
    ]
    waits = [(b.start_ns - a.end_ns) / NS for a, b in zip(spans, spans[1:], strict=False)]
    assert waits == [1800.0, 3600.0]


def test_start_and_complete_of_the_same_activity_pair_into_one_span_first_in_first_out() -> None:
    spans = _spans(
        [
            _event("C1", 0, "Call", 0, "start"),
            _event("C1", 1, "Call", 5, "start"),
            _event("C1", 2, "Call", 10, "complete"),
            _event("C1", 3, "Call", 20, "complete"),
        ]
    )
    assert [(s.start_ns, s.end_ns, s.span_id) for s in spans] == [
        (_ns(0), _ns(10), span_id_for("helpdesk", "C1", 0)),
        (_ns(5), _ns(20), span_id_for("helpdesk", "C1", 1)),
    ]


def test_pairs_never_cross_cases_or_activities() -> None:
    spans = _spans(
        [
            _event("C1", 0, "Call", 0, "start"),
            _event("C2", 0, "Call", 1, "complete"),
            _event("C1", 1, "Mail", 2, "complete"),
            _event("C1", 2, "Call", 3, "complete"),
        ]
    )
    assert [(s.name, dict(s.attributes)["journey.id"], s.start_ns, s.end_ns) for s in spans] == [
        ("Call", "C2", _ns(1), _ns(1)),
        ("Mail", "C1", _ns(2), _ns(2)),
        ("Call", "C1", _ns(0), _ns(3)),
    ]


def test_a_row_with_its_own_start_timestamp_is_one_span_from_start_to_end() -> None:
    (span,) = _spans([_event("C1", 0, "Triage", 45, start=T0 + timedelta(minutes=30))])
    assert (span.start_ns, span.end_ns) == (_ns(30), _ns(45))


def test_abort_ends_the_started_activity_with_an_error_status() -> None:
    spans = _spans([_event("C1", 0, "Visit", 0, "start"), _event("C1", 1, "Visit", 20, "ate_abort")])
    assert [(s.start_ns, s.end_ns, s.error) for s in spans] == [(_ns(0), _ns(20), "ate_abort")]


def test_start_never_completed_is_sent_zero_length_and_marked_unfinished() -> None:
    assembler = StepSpanAssembler(SpanOptions(source="helpdesk"))
    spans = list(assembler.spans([_event("C1", 0, "Invoice", 0, "start")]))
    assert [(s.start_ns, s.end_ns, dict(s.attributes)["eventlog.unfinished"]) for s in spans] == [
        (_ns(0), _ns(0), True)
    ]
    assert assembler.unfinished == 1


def test_transitions_without_a_step_of_their_own_are_counted_not_sent() -> None:
    assembler = StepSpanAssembler(SpanOptions(source="helpdesk"))
    spans = list(
        assembler.spans(
            [
                _event("C1", 0, "Visit", 0, "schedule"),
                _event("C1", 1, "Visit", 1, "suspend"),
                _event("C1", 2, "Visit", 2, "schedule"),
            ]
        )
    )
    assert spans == []
    assert dict(assembler.ignored) == {"schedule": 2, "suspend": 1}


def test_lifecycle_fixture_gives_paired_aborted_and_unfinished_spans() -> None:
    events = [e for e in read_log(FIXTURES / "lifecycle.good.xes") if isinstance(e, Event)]
    spans = _spans(events)
    assert [(s.name, (s.end_ns - s.start_ns) // NS, s.error) for s in spans] == [
        ("Book visit", 330, None),
        ("Visit", 5400, None),
        ("Visit", 1200, "ate_abort"),
        ("Send invoice", 0, None),
    ]


def test_convention_attributes_carry_journey_actor_channel_and_event_attributes() -> None:
    (span,) = _spans(
        [
            _event(
                "T-7",
                0,
                "Call customer",
                0,
                resource="dana",
                channel="phone",
                attributes=(("priority", "high"), ("actor.type", "spoofed")),
            )
        ]
    )
    assert dict(span.attributes) == {
        "priority": "high",
        "journey.id": "T-7",
        "actor.type": "person",
        "actor.id": "dana",
        "touchpoint.channel": "phone",
    }


def test_actor_type_can_be_chosen_and_steps_are_bound_only_when_asked() -> None:
    event = _event("T-7", 0, "Take in charge ticket", 0)
    (plain,) = _spans([event])
    (bound,) = _spans([event], actor_type="process", bind_steps=True)
    assert "blueprint.step" not in dict(plain.attributes)
    assert dict(bound.attributes)["blueprint.step"] == "take-in-charge-ticket"
    assert dict(bound.attributes)["actor.type"] == "process"


def test_step_slugs_are_valid_step_ids() -> None:
    assert step_slug("Resolve SW anomaly") == "resolve-sw-anomaly"
    assert step_slug("  Rückruf / Kunde ") == "ruckruf-kunde"
    assert step_slug("VERIFIED") == "verified"
    assert step_slug("???").startswith("activity-") and len(step_slug("???")) == len("activity-") + 8


def test_ids_are_derived_from_source_case_and_index_only() -> None:
    first = _spans([_event("C1", 0, "Open", 0), _event("C1", 1, "Close", 5)])
    again = _spans([_event("C1", 0, "Open", 0), _event("C1", 1, "Close", 5)])
    other_source = list(events_to_spans([_event("C1", 0, "Open", 0)], SpanOptions(source="crm")))
    assert [(s.trace_id, s.span_id) for s in first] == [(s.trace_id, s.span_id) for s in again]
    assert first[0].trace_id == first[1].trace_id == trace_id_for("helpdesk", "C1")
    assert len(first[0].trace_id) == 16 and len(first[0].span_id) == 8
    assert first[0].span_id != first[1].span_id
    assert other_source[0].trace_id != first[0].trace_id


def test_different_cases_get_different_traces() -> None:
    ids = {trace_id_for("helpdesk", f"Case {n}") for n in range(5000)}
    assert len(ids) == 5000


def test_requests_hold_at_most_batch_size_spans_under_the_service_resource() -> None:
    events = [_event(f"C{n}", 0, "Open", n) for n in range(5)]
    requests = list(events_to_requests(events, "helpdesk", SpanOptions(source="helpdesk"), batch_size=2))
    assert [len(r.resource_spans[0].scope_spans[0].spans) for r in requests] == [2, 2, 1]
    resource = requests[0].resource_spans[0].resource
    assert [(kv.key, kv.value.string_value) for kv in resource.attributes] == [("service.name", "helpdesk")]
    assert requests[0].resource_spans[0].scope_spans[0].scope.name == "touchpoint.eventlog"


def test_span_messages_carry_ids_times_kind_status_and_typed_attributes() -> None:
    events = [
        _event(
            "C1",
            0,
            "Visit",
            0,
            "start",
            attributes=(("attempts", 2), ("cost", 12.5), ("urgent", True), ("tags", ("a", "b"))),
        ),
        _event("C1", 1, "Visit", 20, "pi_abort"),
    ]
    (request,) = list(events_to_requests(events, "repairs", SpanOptions(source="repairs")))
    (span,) = request.resource_spans[0].scope_spans[0].spans
    assert span.trace_id == trace_id_for("repairs", "C1") and span.span_id == span_id_for("repairs", "C1", 0)
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (_ns(0), _ns(20))
    assert span.kind == Span.SPAN_KIND_INTERNAL
    assert (span.status.code, span.status.message) == (Status.STATUS_CODE_ERROR, "pi_abort")
    values = {kv.key: kv.value for kv in span.attributes}
    assert values["attempts"].int_value == 2
    assert values["cost"].double_value == 12.5
    assert values["urgent"].bool_value is True
    assert [v.string_value for v in values["tags"].array_value.values] == ["a", "b"]
    assert values["journey.id"].string_value == "C1"


def test_encoder_reuses_repeated_attributes_without_mixing_types() -> None:
    encoder = SpanEncoder(max_cached=3)
    values = [
        encoder.key_value("n", 1).value,
        encoder.key_value("n", True).value,
        encoder.key_value("n", 1.0).value,
    ]
    assert [v.WhichOneof("value") for v in values] == ["int_value", "bool_value", "double_value"]
    assert encoder.key_value("n", 1) is encoder.key_value("n", 1)
    encoder.key_value("m", "x")
    assert len(encoder.cache) <= 3


def test_batch_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        list(spans_to_requests([], "x", batch_size=0))
