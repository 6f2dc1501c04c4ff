"""Scoring and ranking: objectives and their budget burn, impact paths across the line of visibility,
touchpoint and journey scores, and bottlenecks by total waiting time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from state_scenario import blueprint, insert, origin, step_span

from blueprints.figures import StepFigures
from blueprints.health import HealthPolicy, step_verdict
from blueprints.journey_graph import journey_graph
from blueprints.state import compute_state
from blueprints.state_model import Health

SHOP = """
id: shop
name: Shop
correlation: {key: trace_id, timeout: 10m}
stages: [{id: all, name: All}]
touchpoints:
  - {id: web, name: Web shop, channel: web, importance: 3}
  - {id: mail, name: Mail, channel: email, importance: 1}
steps:
  - {id: order, name: Order, lane: customer, stage: all, actor: person, touchpoint: web,
     select: {step: order}}
  - {id: pay, name: Pay, lane: frontstage, stage: all, actor: system, touchpoint: web, select: {step: pay}}
  - {id: stock, name: Reserve stock, lane: backstage, stage: all, actor: system, serves: [pay],
     select: {step: stock}, objectives: {availability: 0.99}}
  - {id: email, name: Confirmation, lane: evidence, stage: all, actor: system, touchpoint: mail,
     select: {step: email}}
flows:
  - {from: order, to: stock}
  - {from: stock, to: pay}
  - {from: pay, to: email}
"""


def shop_state(ch, day):  # noqa: ANN001, ANN201 - test helper
    start = origin(day)
    end = start + timedelta(minutes=15)
    return compute_state(ch, blueprint(SHOP), start, end, end)


def test_failing_backstage_step_lowers_the_touchpoints_it_serves(ch) -> None:
    spans = []
    for n in range(10):
        j = f"j{n}"
        spans += [step_span("order", 10 * n, 1, j), step_span("stock", 10 * n + 1, 1, j, error=n % 2 == 0),
                  step_span("pay", 10 * n + 2, 1, j), step_span("email", 10 * n + 3, 1, j)]  # fmt: skip
    insert(ch, origin(1), spans)
    state = shop_state(ch, 1)
    web, mail = state.touchpoints
    stock = next(s for s in state.steps if s.step_id == "stock")
    assert stock.health == Health.CRITICAL  # 50% errors against 1% allowed: burning 50x
    assert [(p.cause_step, p.affected_steps, p.touchpoints) for p in web.impacted_by] == [
        ("stock", ["pay"], ["web"])
    ]
    assert (web.health, web.score) == (Health.CRITICAL, pytest.approx((100 + 2) / 2))
    assert (mail.health, mail.score, mail.impacted_by) == (Health.OK, 100.0, [])
    assert state.journey.score == pytest.approx((51 * 3 + 100 * 1) / 4)
    assert state.journey.health == Health.WARN


def test_impacted_step_keeps_its_own_health_and_says_why(ch) -> None:
    insert(ch, origin(2), [step_span("stock", 0, 1, "j", error=True), step_span("pay", 2, 1, "j")])
    pay = next(s for s in shop_state(ch, 2).steps if s.step_id == "pay")
    assert pay.health == Health.OK
    assert pay.health_reason == "no objectives set; impacted by Reserve stock"


def test_derived_serves_follow_flows_to_the_nearest_customer_facing_steps() -> None:
    graph = journey_graph(blueprint(SHOP.replace("serves: [pay],", "")))
    assert graph.serves == {"stock": ("pay",)}


def test_required_steps_before_a_step_are_those_on_every_designed_path() -> None:
    graph = journey_graph(
        blueprint("""
        id: fork
        name: Fork
        stages: [{id: all, name: All}]
        steps:
          - {id: a, name: A, lane: customer, stage: all, actor: person}
          - {id: b, name: B, lane: frontstage, stage: all, actor: person}
          - {id: c, name: C, lane: frontstage, stage: all, actor: person}
          - {id: d, name: D, lane: customer, stage: all, actor: person}
        flows:
          - {from: a, to: [b, c]}
          - {from: b, to: d}
          - {from: c, to: d}
    """)
    )
    assert graph.required_before["d"] == ("a",)  # b and c are alternatives: neither is required before d
    assert graph.required_before["b"] == ("a",)
    assert graph.start == {"a"} and graph.end == {"d"}


AVAILABILITY = journey_graph(blueprint(SHOP)).step("stock")


@pytest.mark.parametrize(
    ("errors", "health", "burn"),
    [(0, Health.OK, 0.0), (1, Health.OK, 1.0), (2, Health.WARN, 2.0), (3, Health.CRITICAL, 3.0)],
)
def test_availability_health_follows_budget_burn(errors: int, health: Health, burn: float) -> None:
    verdict = step_verdict(AVAILABILITY, StepFigures(count=100, errors=errors), HealthPolicy())
    assert verdict.health == health
    assert verdict.objectives[0].budget_burn == pytest.approx(burn)
    assert verdict.score == pytest.approx(100 / max(1.0, burn), abs=0.01)


def test_latency_without_a_measurable_burn_warns_when_the_percentile_is_over() -> None:
    design = journey_graph(
        blueprint(
            SHOP.replace(
                "objectives: {availability: 0.99}",
                "objectives: {latency: {percentile: 95, threshold_ms: 500}}",
            )
        )
    ).step("stock")
    rollup_figures = StepFigures(count=10, percentiles_s={50: 0.2, 90: 0.4, 95: 0.7, 99: 0.9}, slow=None)
    verdict = step_verdict(design, rollup_figures, HealthPolicy())
    assert verdict.health == Health.WARN
    assert verdict.reason == "latency 0.7 s over 0.5 s"
    assert verdict.objectives[0].budget_burn is None


LINE = """
id: line
name: Line
correlation: {key: trace_id, timeout: 10m}
stages: [{id: all, name: All}]
steps:
  - {id: a, name: Arrive, lane: customer, stage: all, actor: person, select: {step: a}}
  - {id: b, name: Book, lane: frontstage, stage: all, actor: person, select: {step: b},
     objectives: {max_wait_s: 30}}
  - {id: c, name: Check, lane: backstage, stage: all, actor: system, select: {step: c}}
flows:
  - {from: a, to: [b, c]}
  - {from: b, to: c}
"""


def test_bottlenecks_rank_by_total_waiting_with_evidence(ch) -> None:
    spans = []
    for n in range(3):
        spans += [
            step_span("a", 0, 1, f"j{n}"),
            step_span("b", 61, 1, f"j{n}"),
            step_span("c", 63, 1, f"j{n}"),
        ]
    spans += [step_span("a", 0, 1, "k"), step_span("c", 11, 1, "k")]
    insert(ch, origin(3), spans)
    start = origin(3)
    state = compute_state(
        ch, blueprint(LINE), start, start + timedelta(minutes=15), start + timedelta(minutes=15)
    )
    ranked = [(b.kind, b.step_id or f"{b.from_step}->{b.to_step}", b.total_wait_s) for b in state.bottleneck]
    assert ranked == [
        ("step", "b", 180.0),
        ("step", "c", 13.0),
        ("edge", "a->c", 10.0),
        ("edge", "b->c", 3.0),
    ]
    assert state.bottleneck[0].evidence == (
        "Journeys waited 60.0 s on average before Book (3 times, 3.0 min in total, 93% of all waiting); "
        "p95 60.0 s against a 30.0 s limit."
    )
    wait = next(s for s in state.steps if s.step_id == "b").objectives[0]
    assert (wait.kind, wait.met, wait.budget_burn) == ("wait", False, pytest.approx(20.0))
