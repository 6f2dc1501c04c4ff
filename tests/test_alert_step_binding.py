"""The alert queries' compact step lookup gives the same step for every span as the blueprint's selectors."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from alert_journeys import COLUMNS

from alerts.step_binding import exact_pairs, row_filter, step_index
from blueprints.selectors import binding_filter, step_index_expression

AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SPANS = [  # (service, span name): one row each
    ("web", "GET /browse"),
    ("web", "GET /cart"),
    ("checkout", "POST /pay"),
    ("checkout", "GET /cart"),  # a span name another service's step selects
    ("we", "bGET /cart"),  # service + span name read together as "webGET /cart" would be the cart step
    ("web", "GET /other"),  # no step
    ("gateway", "authorize"),
]


def blueprint(*selects: tuple[str, str]) -> Any:
    steps = [
        SimpleNamespace(id=f"s{n}", select=SimpleNamespace(service=service, span=span, attributes={}))
        for n, (service, span) in enumerate(selects)
    ]
    return SimpleNamespace(id="shop", steps=steps)


@pytest.fixture(scope="module")
def spans(ch):  # noqa: ANN001, ANN201
    ch.command("TRUNCATE TABLE otel_traces")
    ch.insert(
        "otel_traces",
        [[AT, f"t{n}", f"s{n}", span, service, {}, 1000, "Ok"] for n, (service, span) in enumerate(SPANS)],
        column_names=COLUMNS,
    )
    return ch


def steps_of_rows(client, index_sql: str, where: str, params: dict) -> list[tuple[str, str, int]]:  # noqa: ANN001
    return sorted(
        (str(service), str(span), int(step))
        for service, span, step in client.query(
            f"SELECT ServiceName, SpanName, {index_sql} FROM otel_traces WHERE 1 {where}", parameters=params
        ).result_rows
    )


def test_exact_selectors_give_the_selectors_step_for_every_span_even_when_two_steps_share_one(spans) -> None:  # noqa: ANN001
    shop = blueprint(("web", "GET /browse"), ("web", "GET /cart"), ("checkout", "POST /pay"), ("web", "GET /cart"))
    compact, reference = step_index(shop), step_index_expression(shop)

    found = steps_of_rows(spans, compact.sql, "", dict(compact.params))

    assert exact_pairs(shop) is not None
    assert found == steps_of_rows(spans, reference.sql, "", dict(reference.params))
    assert ("web", "GET /cart", 2) in found and ("we", "bGET /cart", 0) in found


def test_exact_selectors_keep_the_rows_the_selectors_keep(spans) -> None:  # noqa: ANN001
    shop = blueprint(("web", "GET /browse"), ("web", "GET /cart"), ("checkout", "POST /pay"))
    compact_params: dict = {}
    compact_where = row_filter(shop, compact_params)
    reference = binding_filter(shop)
    assert reference is not None

    assert steps_of_rows(spans, "0", compact_where, compact_params) == steps_of_rows(
        spans, "0", f"AND {reference.sql}", dict(reference.params)
    )


def test_span_patterns_fall_back_to_the_selectors_own_sql() -> None:
    shop = blueprint(("web", "GET /*"), ("checkout", "POST /pay"))

    assert exact_pairs(shop) is None
    assert step_index(shop).sql == step_index_expression(shop).sql
