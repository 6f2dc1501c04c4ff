"""The live state of the three demo maps over half an hour of demo traffic: every step counts exactly the
spans the generator meant for it, and fault-free journeys follow the designed flows."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from state_scenario import blueprint

from app.demo.runner import DemoConfig, generate
from app.demo.spans import SpanRecord
from blueprints.state import compute_state
from collectors.schema import TRACES_TABLE

MAPS = Path(__file__).resolve().parent.parent / "blueprints" / "maps"
START = datetime(2024, 5, 1, 8, tzinfo=UTC)
COLUMNS = [
    "Timestamp", "TraceId", "SpanId", "ParentSpanId", "SpanName", "SpanKind", "ServiceName", "SpanAttributes",
    "Duration", "StatusCode", "StatusMessage",
]  # fmt: skip


def attribute_text(value: object) -> str:
    """An attribute value as the exporter stores it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)


def row(span: SpanRecord) -> list[object]:
    return [
        datetime(1970, 1, 1) + timedelta(microseconds=span.start_ns // 1000),
        f"{span.trace_id:032x}",
        f"{span.span_id:016x}",
        f"{span.parent_span_id:016x}" if span.parent_span_id else "",
        span.name,
        span.kind.value.capitalize(),
        span.service,
        {k: attribute_text(v) for k, v in span.attributes.items()},
        span.end_ns - span.start_ns,
        "Error" if span.error else "Unset",
        span.error or "",
    ]


@pytest.fixture(scope="module")
def played(ch) -> tuple[SpanRecord, ...]:  # noqa: ANN001
    spans = tuple(generate(DemoConfig(start=START, duration=timedelta(minutes=30), rate=1.0, seed=11)))
    ch.insert(TRACES_TABLE, [row(s) for s in spans], column_names=COLUMNS)
    return spans


@pytest.mark.parametrize("map_id", ["support-line", "online-order", "store-visit"])
def test_each_step_counts_the_spans_the_generator_meant_for_it(ch, played, map_id: str) -> None:  # noqa: ANN001
    truth = Counter(s.step for s in played if s.scenario == map_id and s.step is not None)
    end = START + timedelta(hours=1)
    state = compute_state(ch, blueprint((MAPS / f"{map_id}.yaml").read_text()), START, end, end)
    assert {s.step_id: s.count for s in state.steps if s.count} == dict(truth)
    assert state.journey.journeys > 0
    assert state.conformance.rate is not None and state.conformance.rate >= 0.95  # no faults were played
