"""Marking spans as blueprint steps, with the attribute conventions Touchpoint reads.

    from collectors.instrument import blueprint_step

    with blueprint_step(tracer, "payment", lane="support", journey_id=order.id, actor_type="system"):
        charge(order)

Spans without these attributes still count: blueprints also bind by service and span name.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from opentelemetry import trace

Lane = Literal["customer", "frontstage", "backstage", "support"]
ActorType = Literal["person", "process", "system"]

STEP = "blueprint.step"
LANE = "blueprint.lane"
TOUCHPOINT = "touchpoint.id"
CHANNEL = "touchpoint.channel"
JOURNEY = "journey.id"
ACTOR_TYPE = "actor.type"
ACTOR_ID = "actor.id"

LANES = ("customer", "frontstage", "backstage", "support")
ACTOR_TYPES = ("person", "process", "system")


def step_attributes(
    step: str,
    *,
    lane: Lane | None = None,
    touchpoint: str | None = None,
    channel: str | None = None,
    journey_id: str | None = None,
    actor_type: ActorType | None = None,
    actor_id: str | None = None,
) -> dict[str, str]:
    """The attributes that mark a span as `step`; raises ValueError naming a bad lane or actor type."""
    if not step:
        raise ValueError("blueprint.step must be a non-empty step id")
    if lane is not None and lane not in LANES:
        raise ValueError(f"blueprint.lane {lane!r} is not one of {', '.join(LANES)}")
    if actor_type is not None and actor_type not in ACTOR_TYPES:
        raise ValueError(f"actor.type {actor_type!r} is not one of {', '.join(ACTOR_TYPES)}")
    pairs = {
        STEP: step,
        LANE: lane,
        TOUCHPOINT: touchpoint,
        CHANNEL: channel,
        JOURNEY: journey_id,
        ACTOR_TYPE: actor_type,
        ACTOR_ID: actor_id,
    }
    return {k: v for k, v in pairs.items() if v is not None}


def mark_step(span: trace.Span, step: str, **conventions: str | None) -> None:
    """Mark an existing span as a blueprint step (see step_attributes for the keywords)."""
    span.set_attributes(step_attributes(step, **conventions))  # type: ignore[arg-type]


@contextmanager
def blueprint_step(
    tracer: trace.Tracer, step: str, name: str | None = None, **conventions: str | None
) -> Iterator[trace.Span]:
    """Start a span named `name` (default: the step id) marked as `step`; errors inside set its status."""
    with tracer.start_as_current_span(name or step, attributes=step_attributes(step, **conventions)) as span:  # type: ignore[arg-type]
        yield span
