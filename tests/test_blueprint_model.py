"""The blueprint model's values and derived views: what other packages read off a Blueprint."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from blueprints.loader import parse_blueprint
from blueprints.model import LANE_ORDER, Blueprint, Lane, PatternKind, Selector, SpanPattern
from blueprints.patterns import format_duration, parse_duration

FIXTURES = Path(__file__).parent / "fixtures" / "blueprints"


@pytest.fixture(scope="module")
def checkout() -> Blueprint:
    return parse_blueprint((FIXTURES / "checkout.good.yaml").read_text(), "checkout.yaml", "checkout")


def _blueprint(steps: list[dict], flows: list[dict] | None = None, **fields: object) -> Blueprint:
    return Blueprint.model_validate(
        {"id": "t", "name": "T", "stages": [{"id": "s"}], "steps": steps, "flows": flows or [], **fields}
    )


def _step(step_id: str, lane: str = "customer", **fields: object) -> dict:
    return {"id": step_id, "lane": lane, "stage": "s", **fields}


def test_lanes_run_top_to_bottom_with_their_lines() -> None:
    assert [lane.value for lane in LANE_ORDER] == [
        "evidence",
        "customer",
        "frontstage",
        "backstage",
        "support",
    ]
    assert [lane.line_below for lane in LANE_ORDER] == [
        None,
        "line of interaction",
        "line of visibility",
        "line of internal interaction",
        None,
    ]


def test_steps_by_id_keep_file_order(checkout: Blueprint) -> None:
    assert list(checkout.steps_by_id) == [
        "basket",
        "checkout-page",
        "charge",
        "fraud-check",
        "payment-failed",
        "confirmation",
    ]


def test_edges_expand_alternatives_and_include_optional_flows(checkout: Blueprint) -> None:
    assert checkout.edges == {
        ("basket", "checkout-page"),
        ("checkout-page", "basket"),
        ("checkout-page", "fraud-check"),
        ("fraud-check", "charge"),
        ("charge", "confirmation"),
        ("charge", "payment-failed"),
    }
    assert ("checkout-page", "basket") not in checkout.required_edges


def test_required_steps_leave_optional_ones_out(checkout: Blueprint) -> None:
    assert "payment-failed" not in checkout.required_steps
    assert checkout.required_steps[0] == "basket"


def test_start_and_end_as_written(checkout: Blueprint) -> None:
    assert checkout.start_steps == ("basket",)
    assert checkout.end_steps == ("confirmation", "payment-failed")


def test_start_and_end_default_to_steps_without_incoming_or_outgoing_flows_ignoring_self_loops() -> None:
    blueprint = _blueprint(
        [_step("a"), _step("b"), _step("c")],
        [{"from": "a", "to": "b"}, {"from": "b", "to": "b"}, {"from": "b", "to": "c"}],
    )

    assert (blueprint.start_steps, blueprint.end_steps) == (("a",), ("c",))


def test_a_pure_cycle_starts_at_the_first_step_and_ends_at_the_last() -> None:
    blueprint = _blueprint([_step("a"), _step("b")], [{"from": "a", "to": "b"}, {"from": "b", "to": "a"}])

    assert (blueprint.start_steps, blueprint.end_steps) == (("a",), ("b",))


def test_lanes_used_come_in_lane_order(checkout: Blueprint) -> None:
    assert checkout.lanes == (Lane.evidence, Lane.customer, Lane.frontstage, Lane.backstage, Lane.support)


def test_steps_in_one_cell_of_the_grid(checkout: Blueprint) -> None:
    assert [s.id for s in checkout.steps_in(lane=Lane.frontstage, stage="confirm")] == ["payment-failed"]


def test_impact_path_uses_serves_when_given_and_flows_downstream_otherwise(checkout: Blueprint) -> None:
    # charge declares nothing: downstream it reaches the confirmation email (evidence, passed over) and the
    # payment-failed page (frontstage); fraud-check declares what it serves.
    assert checkout.impact_path == {"charge": ("payment-failed",), "fraud-check": ("checkout-page",)}


def test_derived_impact_path_stops_at_the_first_customer_facing_step_on_each_path() -> None:
    blueprint = _blueprint(
        [_step("db", "support"), _step("api", "backstage"), _step("page", "frontstage"), _step("next")],
        [{"from": "db", "to": "api"}, {"from": "api", "to": "page"}, {"from": "page", "to": "next"}],
    )

    assert blueprint.impact_path == {"db": ("page",), "api": ("page",)}
    assert blueprint.served_by == {"page": ("db", "api"), "next": ()}


def test_touchpoint_steps_list_each_touchpoints_steps(checkout: Blueprint) -> None:
    assert checkout.touchpoint_steps == {
        "web-shop": ("basket", "checkout-page", "payment-failed"),
        "inbox": ("confirmation",),
    }


def test_names_default_to_ids(checkout: Blueprint) -> None:
    assert checkout.stages_by_id["confirm"].name == "confirm"


def test_a_step_without_select_binds_by_its_blueprint_step_attribute(checkout: Blueprint) -> None:
    assert checkout.steps_by_id["payment-failed"].selector == Selector(step="payment-failed")


def test_attribute_values_are_compared_as_span_attribute_text(checkout: Blueprint) -> None:
    select = checkout.steps_by_id["checkout-page"].select
    assert select is not None and select.attributes == {"http.method": "GET", "http.status_code": "200"}


def test_correlation_timeout_is_a_duration(checkout: Blueprint) -> None:
    assert checkout.correlation.timeout == timedelta(minutes=90)
    assert not checkout.correlation.by_trace


def test_correlation_defaults_to_the_trace_and_one_hour() -> None:
    blueprint = _blueprint([_step("a")])

    assert blueprint.correlation.by_trace and blueprint.correlation.timeout_s == 3600


@pytest.mark.parametrize(
    ("text", "kind", "matching", "not_matching"),
    [
        ("GET /basket", PatternKind.exact, "GET /basket", "GET /basket/1"),
        ("GET /checkout/*", PatternKind.glob, "GET /checkout/42/pay", "POST /checkout/42"),
        ("GET /item/?", PatternKind.glob, "GET /item/7", "GET /item/77"),
        ("GET /a[1]", PatternKind.exact, "GET /a[1]", "GET /a1"),
        (r"re:^POST /charges(/\d+)?$", PatternKind.regex, "POST /charges/12", "POST /charges/x"),
        ("re:charge", PatternKind.regex, "POST /charges", "POST /refunds"),  # searched, as match() does
    ],
)
def test_span_patterns_match_like_clickhouse(
    text: str, kind: PatternKind, matching: str, not_matching: str
) -> None:
    pattern = SpanPattern.parse(text)

    assert pattern.kind is kind
    assert pattern.matches(matching) and not pattern.matches(not_matching)


def test_glob_regex_escapes_what_regular_expressions_treat_specially() -> None:
    assert SpanPattern.parse("GET /p.json?*").regex == r"^GET /p\.json..*$"


def test_document_round_trips_to_an_equal_model(checkout: Blueprint) -> None:
    document = checkout.to_document()

    assert document["flows"][4] == {
        "from": "charge",
        "to": ["confirmation", "payment-failed"],
        "optional": False,
    }
    assert document["correlation"]["timeout"] == "1h30m"
    assert Blueprint.model_validate(document) == checkout


def test_constructing_a_blueprint_with_a_dangling_reference_fails() -> None:
    with pytest.raises(ValidationError, match=r"flows\[0\]\.to 'nowhere' is not a declared step"):
        _blueprint([_step("a")], [{"from": "a", "to": "nowhere"}])


def test_models_are_frozen(checkout: Blueprint) -> None:
    with pytest.raises(ValidationError):
        checkout.name = "Other"  # type: ignore[misc]


@given(st.integers(min_value=1, max_value=10**7))
def test_formatted_durations_parse_back_to_the_same_seconds(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds
