"""The managers' and ops people's pieces: journey cards, the channel view, touchpoints, step panel, alert
grouping and evidence, sparklines and units — every figure with its unit, health always in words."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from ui_states import START, availability, design, state, step_state, touchpoint

from app.components import units
from app.components.alert_views import build_evidence_figure, group_alerts
from app.components.blueprint_panels import build_step_panel
from app.components.overview_cards import (
    JourneyHealth,
    build_channel_view,
    build_journey_card,
    build_touchpoint_table,
    objectives_summary,
    score_change,
)
from app.components.sparkline import combined_series, series_values
from blueprints.state_model import Health, ImpactPath


def text_of(component: Any) -> str:
    """Every string a Dash component tree would show, joined."""
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(text_of(c) for c in component)
    return text_of(getattr(component, "children", None))


def test_durations_rates_and_shares_carry_units() -> None:
    assert [units.duration(s) for s in (0.85, 4.2, 210, 7560, 200000)] == [
        "850 ms",
        "4.2 s",
        "3.5 min",
        "2.1 h",
        "2.3 d",
    ]
    assert units.rate(12.34) == "12.3/min" and units.rate(0.5) == "30.0/h"
    assert units.percent(0.0712) == "7.1%" and units.percent(None) == "—"


def test_objectives_summary_counts_met_and_finds_the_least_budget_left() -> None:
    live = state(
        steps=[
            step_state("search", objectives=[availability(0.999, remaining=0.8)]),
            step_state("payment", objectives=[availability(0.8, remaining=-18.0)]),
        ]
    )

    met, judged, worst = objectives_summary(live)

    assert (met, judged) == (1, 2)
    assert worst is not None and worst[0] == "payment"


def test_the_card_says_how_the_score_moved_since_the_period_before() -> None:
    now, before = state(score=80.0), state(score=92.0)

    assert score_change(JourneyHealth(design(), now, before)) == "▼ 12 vs previous period"
    assert score_change(JourneyHealth(design(), now, None)) == ""


def test_a_journey_card_shows_score_health_in_words_bottleneck_and_alerts() -> None:
    alert = SimpleNamespace(state="firing")
    card = build_journey_card(JourneyHealth(design(), state(score=92.0), None, [alert, alert]), "1h")

    shown = text_of(card)
    assert "92" in shown and "✓ OK" in shown
    assert "2 open alerts (2 firing)" in shown
    assert "480" in shown and "62%" in shown  # journeys and completion


def test_channels_take_the_worst_health_and_the_importance_weighted_score() -> None:
    live = state(
        touchpoints=[touchpoint("web", Health.CRITICAL, 60.0), touchpoint("phone", Health.OK, 100.0)]
    )

    view = text_of(build_channel_view([JourneyHealth(design(), live)]))

    assert "Web ✖ CRITICAL 60" in view
    assert "Phone ✓ OK 100" in view
    assert "Mobile ○ NO DATA" in view  # every main channel is shown, even without touchpoints


def test_touchpoints_are_listed_worst_first_with_what_hurts_them() -> None:
    path = ImpactPath(cause_step="payment", affected_steps=["checkout"], touchpoints=["web"])
    live = state(
        touchpoints=[touchpoint("phone", Health.OK, 100.0), touchpoint("web", Health.CRITICAL, 60.0, [path])]
    )

    table = text_of(build_touchpoint_table([JourneyHealth(design(), live)]))

    assert table.index("Web shop") < table.index("Hotline")
    assert "Authorise the payment" in table


def test_the_step_panel_gives_figures_with_units_objectives_and_the_drill_down() -> None:
    live = state(
        steps=[step_state("payment", Health.CRITICAL, objectives=[availability(0.8, remaining=-18.0)])]
    )

    panel = build_step_panel(design(), live, "payment", "1h")

    shown = text_of(panel)
    assert "✖ CRITICAL" in shown and "10.0/min" in shown and "400 ms" in shown and "12.0 s" in shown
    assert "availability 80.00% (target 99.00%) ✖ missed" in shown
    assert "Drill down →" in shown


def test_customer_facing_trend_sums_steps_bucket_by_bucket() -> None:
    a, b = step_state("search"), step_state("product")

    combined = combined_series([a.series, b.series])

    assert [p.count for p in combined] == [200] * 6
    assert series_values(combined, "throughput", 600)[0] == 20.0  # 200 spans in 10 minutes
    assert series_values(combined, "errors", 600)[2] == 2.0  # 4 errors in 200 spans, as %


def alert(**fields: Any) -> Any:
    defaults = {
        "state": "firing",
        "severity": "ticket",
        "episode_id": None,
        "blueprint": "order",
        "target": "payment",
        "rule_id": "r",
        "started_at": START,
        "kind": "failure",
        "threshold": 0.05,
    }
    return SimpleNamespace(**{**defaults, **fields})


def test_alert_groups_put_the_most_urgent_first() -> None:
    quiet = alert(state="acknowledged", target="search", started_at=START + timedelta(minutes=5))
    loud = alert(state="firing", severity="page", target="payment")

    groups = group_alerts([quiet, loud], "step")

    assert [title for title, _ in groups] == ["order · payment", "order · search"]


def test_failure_evidence_is_the_error_rate_in_percent_against_the_threshold() -> None:
    figure = build_evidence_figure(alert(kind="failure", threshold=0.05), step_state("payment").series, 600)

    assert figure is not None
    assert figure["data"][0]["y"][1] == 1.0  # 1 error in 100 spans
    assert figure["layout"]["shapes"][0]["y0"] == 5.0
