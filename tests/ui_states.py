"""Hand-made designs and live states for the dashboard's unit tests: small, readable, every figure chosen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.components.design import map_design
from blueprints.state_model import (
    BlueprintState,
    Bottleneck,
    Conformance,
    EdgeState,
    Health,
    ImpactPath,
    JourneyState,
    ObjectiveStatus,
    Point,
    StepState,
    TouchpointState,
    Window,
)

START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
END = START + timedelta(hours=1)

DOCUMENT: dict[str, Any] = {
    "id": "order",
    "name": "Online order",
    "owner": "shop-team",
    "stages": [{"id": "browse", "name": "Browse"}, {"id": "buy", "name": "Buy"}],
    "touchpoints": [
        {"id": "web", "name": "Web shop", "channel": "web", "importance": 3},
        {"id": "phone", "name": "Hotline", "channel": "phone", "importance": 1},
    ],
    "steps": [
        {
            "id": "search",
            "name": "Search products",
            "lane": "customer",
            "stage": "browse",
            "actor": "person",
            "touchpoint": "web",
        },
        {
            "id": "product",
            "name": "View a product",
            "lane": "customer",
            "stage": "browse",
            "actor": "person",
            "touchpoint": "web",
        },
        {
            "id": "checkout",
            "name": "Place the order",
            "lane": "frontstage",
            "stage": "buy",
            "actor": "system",
            "touchpoint": "web",
        },
        {
            "id": "payment",
            "name": "Authorise the payment",
            "lane": "support",
            "stage": "buy",
            "actor": "system",
            "owner": "payments",
        },
    ],
    "flows": [
        {"from": "search", "to": "product"},
        {"from": "product", "to": "checkout"},
        {"from": "checkout", "to": "payment"},
    ],
}


def design() -> Any:
    return map_design(DOCUMENT)


def step_state(step_id: str, health: Health = Health.OK, **figures: Any) -> StepState:
    """A step over the hour: 600 spans (10/min), 6 errors, p95 0.4 s, 12 s mean wait unless told otherwise."""
    values: dict[str, Any] = {
        "step_id": step_id,
        "count": 600,
        "throughput_per_min": 10.0,
        "errors": 6,
        "error_rate": 0.01,
        "p50_s": 0.2,
        "p95_s": 0.4,
        "p99_s": 0.9,
        "wait_mean_s": 12.0,
        "wait_p95_s": 30.0,
        "in_flight": 0,
        "health": health,
        "health_reason": "all objectives met" if health == Health.OK else "availability 80% below 99%",
        "series": [
            Point(t=START + timedelta(minutes=10 * n), count=100, errors=n, p95_s=0.4, wait_mean_s=12.0)
            for n in range(6)
        ],
    }
    values.update(figures)
    return StepState(**values)


def state(
    steps: list[StepState] | None = None,
    edges: list[EdgeState] | None = None,
    bottleneck: list[Bottleneck] | None = None,
    touchpoints: list[TouchpointState] | None = None,
    score: float = 92.0,
) -> BlueprintState:
    """The live state of DOCUMENT over 09:00–10:00 UTC."""
    return BlueprintState(
        blueprint_id="order",
        window=Window(start=START, end=END, bucket_s=600),
        generated_at=END,
        source="raw",
        steps=steps if steps is not None else [step_state(s["id"]) for s in DOCUMENT["steps"]],
        edges=edges if edges is not None else [edge("search", "product", 500, 8.0)],
        touchpoints=touchpoints if touchpoints is not None else [touchpoint("web", Health.OK, 95.0)],
        journey=JourneyState(
            journeys=480,
            completed=300,
            completion_rate=0.625,
            score=score,
            health=Health.OK,
            lead_time_mean_s=600.0,
            process_time_mean_s=60.0,
            flow_efficiency=0.1,
            handoffs_mean=2.0,
            repeats=4,
        ),
        bottleneck=bottleneck or [],
        conformance=Conformance(journeys=480, conforming=470, rate=470 / 480),
        query_ms=12.0,
    )


def edge(source: str, target: str, count: int, wait_s: float, expected: bool = True) -> EdgeState:
    return EdgeState(
        **{"from": source, "to": target},
        count=count,
        wait_mean_s=wait_s,
        wait_p50_s=wait_s,
        wait_p95_s=wait_s * 2,
        expected=expected,
    )


def touchpoint(
    touchpoint_id: str, health: Health, score: float | None, impacted_by: list[ImpactPath] | None = None
) -> TouchpointState:
    names = {t["id"]: t for t in DOCUMENT["touchpoints"]}
    found = names[touchpoint_id]
    return TouchpointState(
        touchpoint_id=touchpoint_id,
        name=found["name"],
        channel=found["channel"],
        importance=found["importance"],
        health=health,
        score=score,
        impacted_by=impacted_by or [],
    )


def availability(actual: float, target: float = 0.99, remaining: float = 0.5) -> ObjectiveStatus:
    return ObjectiveStatus(
        kind="availability",
        target=target,
        actual=actual,
        met=actual >= target,
        budget_burn=1.0,
        budget_remaining=remaining,
    )
