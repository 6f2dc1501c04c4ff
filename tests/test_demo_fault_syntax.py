"""The `--fault` syntax: what it reads, how it says no, and where a fault lands in a run."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.demo.durations import format_duration, parse_duration
from app.demo.errors import FaultSyntaxError, FaultTargetError
from app.demo.faults import FaultKind, FaultSpec, place_fault
from app.demo.scenarios import SCENARIOS


def test_a_full_fault_reads_kind_target_start_duration_and_magnitude() -> None:
    spec = FaultSpec.parse("failure:online-order/payment@+2m/5m=0.8")
    assert spec == FaultSpec(
        FaultKind.FAILURE, "online-order", "payment", timedelta(minutes=2), False, timedelta(minutes=5), 0.8
    )


def test_timing_and_magnitude_are_optional_and_default_per_kind() -> None:
    spec = FaultSpec.parse("latency:support-line/crm-lookup")
    assert (spec.start, spec.from_end, spec.duration, spec.magnitude) == (timedelta(0), False, None, None)
    assert spec.effective_magnitude == 5.0


def test_a_minus_start_counts_back_from_the_end_of_the_run() -> None:
    spec = FaultSpec.parse("dark:store-visit/mobile-app@-20m/10m")
    window = place_fault(spec, SCENARIOS, run_length=3600)
    assert (window.start, window.end) == (2400, 3000)


def test_without_a_duration_the_fault_lasts_until_the_run_ends() -> None:
    window = place_fault(
        FaultSpec.parse("skip:online-order/order-confirmation@10m"), SCENARIOS, run_length=1800
    )
    assert (window.start, window.end) == (600, 1800)
    open_ended = place_fault(FaultSpec.parse("skip:online-order/order-confirmation@10m"), SCENARIOS, None)
    assert open_ended.end == math.inf


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("payment", "expected KIND:BLUEPRINT/TARGET[@START[/DURATION]][=MAGNITUDE]"),
        (
            "outage:online-order/payment",
            "unknown kind 'outage'; kinds: failure, latency, queue, dark, skip, cascade",
        ),
        ("failure:online-order/payment@2x", "'2x' is not a duration"),
        ("failure:online-order/payment=1.5", "failure magnitude (error_rate) must be in (0, 1], got 1.5"),
        (
            "latency:online-order/payment=0.5",
            "latency magnitude (latency_factor) must be in (1, inf), got 0.5",
        ),
        ("failure:online-order/payment@1m/0s", "the duration must be longer than 0s"),
    ],
)
def test_a_malformed_fault_is_refused_with_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(FaultSyntaxError) as error:
        FaultSpec.parse(text)
    assert message in str(error.value)
    assert repr(text) in str(error.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("failure:web-shop/payment", "blueprint 'web-shop' is not being played; playing: support-line"),
        ("failure:online-order/pay", "online-order has no step 'pay'; steps: search, product"),
        ("queue:online-order/payment", "queue needs a staffed step; in online-order: warehouse-pick"),
        (
            "dark:online-order/search",
            "dark takes a touchpoint of online-order: web-shop, order-emails, doorstep",
        ),
        ("cascade:support-line/agent-greeting", "cascade needs a backstage or support step"),
        ("failure:online-order/payment@2h/5m", "the fault lies outside the run (0s to 3600s)"),
    ],
)
def test_a_fault_aimed_at_something_the_demo_does_not_play_is_refused(text: str, message: str) -> None:
    with pytest.raises(FaultTargetError) as error:
        place_fault(FaultSpec.parse(text), SCENARIOS, run_length=3600)
    assert message in str(error.value)


def test_a_start_from_the_end_needs_a_run_with_an_end() -> None:
    with pytest.raises(FaultTargetError, match="needs a run with an end"):
        place_fault(FaultSpec.parse("failure:online-order/payment@-5m"), SCENARIOS, run_length=None)


def test_a_dark_touchpoint_darkens_every_step_at_it_and_a_cascade_names_whom_it_hurts() -> None:
    dark = place_fault(FaultSpec.parse("dark:store-visit/mobile-app"), SCENARIOS, 600)
    assert (dark.touchpoint, dark.steps) == ("mobile-app", ("stock-lookup", "reserve-item"))
    cascade = place_fault(FaultSpec.parse("cascade:support-line/crm-lookup"), SCENARIOS, 600)
    assert (cascade.steps, cascade.impacts) == (("crm-lookup",), ("agent-greeting", "resolved"))


durations = st.integers(min_value=1, max_value=3 * 86_400_000).map(lambda ms: timedelta(milliseconds=ms))
specs = st.builds(
    FaultSpec,
    kind=st.sampled_from(FaultKind),
    blueprint=st.sampled_from(list(SCENARIOS)),
    target=st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True),
    start=st.one_of(st.just(timedelta(0)), durations),
    from_end=st.booleans(),
    duration=st.one_of(st.none(), durations),
    magnitude=st.none(),
)


def with_magnitude(spec: FaultSpec) -> st.SearchStrategy[FaultSpec]:
    """`spec` with no magnitude or any magnitude its kind accepts."""
    low, high = (1.0, 1e6) if spec.kind is FaultKind.LATENCY else (0.0, 1.0)
    values = st.floats(
        low, high, exclude_min=True, exclude_max=spec.kind in (FaultKind.LATENCY, FaultKind.QUEUE)
    )
    return st.one_of(st.none(), values).map(lambda m: replace(spec, magnitude=m))


@given(specs.flatmap(with_magnitude))
def test_a_fault_written_back_reads_as_the_same_fault(spec: FaultSpec) -> None:
    assert FaultSpec.parse(str(spec)) == spec


@given(durations)
def test_a_duration_written_back_reads_as_the_same_span(span: timedelta) -> None:
    assert parse_duration(format_duration(span)) == span


def test_durations_combine_units_and_refuse_a_bare_number() -> None:
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    assert parse_duration("250ms") == timedelta(milliseconds=250)
    with pytest.raises(ValueError, match="'90' is not a duration"):
        parse_duration("90")
