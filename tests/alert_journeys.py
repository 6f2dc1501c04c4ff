"""Journeys through the test shop (tests/fixtures/alerts/blueprints/shop.yaml) as otel_traces rows.

Each journey browses, opens its cart, pays (the card gateway's `authorize` inside `POST /pay`), waits to be
packed, is packed and gets an email. A `Shape` bends one journey: failed steps, skipped steps, slower steps,
a longer wait before packing, or a journey that stops after some step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from alerts.blueprint_source import read_blueprint_dir

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "alerts"
SPANS = {  # step -> (service, span name, usual seconds)
    "browse": ("web", "GET /browse", 0.1),
    "cart": ("web", "GET /cart", 0.1),
    "pay": ("checkout", "POST /pay", 0.3),
    "auth": ("gateway", "authorize", 0.2),
    "pack": ("warehouse", "pack", 60.0),
    "email": ("notify", "email", 0.5),
}
COLUMNS = [
    "Timestamp",
    "TraceId",
    "SpanId",
    "SpanName",
    "ServiceName",
    "SpanAttributes",
    "Duration",
    "StatusCode",
]


def shop() -> Any:
    """The shop blueprint model."""
    return read_blueprint_dir(FIXTURES / "blueprints")["shop"]


@dataclass(frozen=True)
class Shape:
    """How one journey goes; the default is a journey that goes well."""

    fail: frozenset[str] = frozenset()
    skip: frozenset[str] = frozenset()
    seconds: Mapping[str, float] = field(default_factory=dict)
    wait_before_pack_s: float = 30.0
    stop_after: str | None = None


USUAL = Shape()


def journey(number: int, start: datetime, shape: Shape = USUAL) -> list[list[Any]]:
    """The rows of journey `number` starting at `start`."""
    rows: list[list[Any]] = []
    journey_id = f"j-{number}"
    at = start

    def span(step: str, begin: datetime) -> datetime:
        service, name, usual = SPANS[step]
        seconds = shape.seconds.get(step, usual)
        status = "Error" if step in shape.fail else "Ok"
        rows.append(
            [
                begin,
                f"t-{number}-{step}",
                f"s-{number}-{step}",
                name,
                service,
                {"journey.id": journey_id},
                round(seconds * 1e9),
                status,
            ]
        )
        return begin + timedelta(seconds=seconds)

    for step, gap in (("browse", 0.0), ("cart", 20.0), ("pay", 10.0)):
        if step in shape.skip:
            continue
        at = at + timedelta(seconds=gap)
        if step == "pay":
            paid_at = at
            end = span("pay", at)
            if "auth" not in shape.skip:
                span("auth", paid_at + timedelta(seconds=0.05))
            at = end
        else:
            at = span(step, at)
        if shape.stop_after == step:
            return rows
    if "pack" not in shape.skip:
        at = span("pack", at + timedelta(seconds=shape.wait_before_pack_s))
    if "email" not in shape.skip:
        span("email", at + timedelta(seconds=5))
    return rows


def traffic(
    start: datetime,
    end: datetime,
    every_s: float,
    shape_at: Callable[[datetime, int], Shape] = lambda at, n: USUAL,
    first: int = 0,
) -> list[list[Any]]:
    """A journey every `every_s` seconds from `start` to `end`, each shaped by `shape_at(start, number)`."""
    rows: list[list[Any]] = []
    number, at = first, start
    while at < end:
        rows += journey(number, at, shape_at(at, number))
        number += 1
        at += timedelta(seconds=every_s)
    return rows


def insert(client: Any, rows: Iterable[list[Any]]) -> None:
    """Write the rows into otel_traces."""
    batch = list(rows)
    if batch:
        client.insert("otel_traces", batch, column_names=COLUMNS)
