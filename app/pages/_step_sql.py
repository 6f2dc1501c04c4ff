"""The step drill-down's questions to ClickHouse, answered with aggregates only: the step's trend per bucket,
its top error messages, its slowest and latest failed spans (as links to their journeys), and the attribute
values that set failing spans apart. Builders are pure; `read_step_detail` runs them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from blueprints.selectors import (
    SpanColumns,
    journey_key_expression,
    selector_condition,
    step_index_expression,
)
from blueprints.state_sql import SqlQuery
from blueprints.trace_columns import trace_columns
from collectors.schema import TRACES_TABLE

EXAMPLES = 8
TOP = 8
_NS = 1_000_000_000


class DrillDownUnavailable(RuntimeError):
    """ClickHouse could not answer a drill-down query; the message names the step and the cause."""


@dataclass(frozen=True)
class TrendPoint:
    """One bucket of the step: spans, errors, and p50/p95 duration in seconds."""

    t: datetime
    spans: int
    errors: int
    p50_s: float | None
    p95_s: float | None


@dataclass(frozen=True)
class ErrorMessage:
    message: str
    spans: int
    last_seen: datetime


@dataclass(frozen=True)
class Example:
    """One span of the step, pointing at its journey."""

    journey: str
    trace_id: str
    at: datetime
    duration_s: float
    failed: bool
    message: str


@dataclass(frozen=True)
class Telltale:
    """An attribute value more common among failing spans than among the others."""

    key: str
    value: str
    failing: int
    passing: int
    failing_share: float
    passing_share: float


@dataclass(frozen=True)
class StepDetail:
    trend: list[TrendPoint]
    errors: list[ErrorMessage] = field(default_factory=list)
    slowest: list[Example] = field(default_factory=list)
    failed: list[Example] = field(default_factory=list)
    telltales: list[Telltale] = field(default_factory=list)


def _where(blueprint: Any, step_index: int, columns: SpanColumns) -> tuple[str, dict[str, Any]]:
    # The step's own selector first: it is cheap and, for service/span selectors, uses the table's sort key;
    # the full precedence (a more specific selector of another step wins) then decides the rest.
    step = step_index_expression(blueprint, columns, prefix="ds")
    params = dict(step.params)
    own = selector_condition(list(blueprint.steps)[step_index - 1], columns, "do", params)
    sql = (
        f"FROM {TRACES_TABLE} WHERE {own} AND Timestamp >= {{d_from:DateTime64(9)}} "
        f"AND Timestamp < {{d_to:DateTime64(9)}} AND {step.sql} = {{d_step:UInt16}}"
    )
    return sql, params


def trend_query(
    blueprint: Any, step_index: int, start: datetime, end: datetime, bucket_s: int, columns: SpanColumns
) -> SqlQuery:
    """Spans, errors and p50/p95 (ns) per bucket of `bucket_s` from `start`."""
    where, params = _where(blueprint, step_index, columns)
    sql = (
        "SELECT intDiv(toUnixTimestamp64Nano(Timestamp) - {d_origin:Int64}, {d_bucket:Int64}) AS bucket, "
        "count() AS spans, countIf(StatusCode = 'Error') AS errors, "
        "quantilesTDigest(0.5, 0.95)(Duration) AS q "
        f"{where} GROUP BY bucket ORDER BY bucket"
    )
    return SqlQuery(
        sql, {**params, **_window(start, end, step_index), "d_origin": _ns(start), "d_bucket": bucket_s * _NS}
    )


def errors_query(
    blueprint: Any, step_index: int, start: datetime, end: datetime, columns: SpanColumns
) -> SqlQuery:
    """The most frequent status messages of failing spans."""
    where, params = _where(blueprint, step_index, columns)
    sql = (
        f"SELECT StatusMessage AS message, count() AS spans, max(Timestamp) AS last_seen {where} "
        f"AND StatusCode = 'Error' GROUP BY message ORDER BY spans DESC, message LIMIT {TOP}"
    )
    return SqlQuery(sql, {**params, **_window(start, end, step_index)})


def examples_query(
    blueprint: Any, step_index: int, start: datetime, end: datetime, columns: SpanColumns, failed: bool
) -> SqlQuery:
    """The slowest spans (or the latest failed ones) with the journey each belongs to."""
    where, params = _where(blueprint, step_index, columns)
    journey = journey_key_expression(blueprint, columns, prefix="dj")
    order = "AND StatusCode = 'Error' ORDER BY Timestamp DESC" if failed else "ORDER BY Duration DESC"
    sql = (
        f"SELECT {journey.sql} AS journey, TraceId AS trace_id, Timestamp AS at, Duration AS duration_ns, "
        f"StatusCode = 'Error' AS failed, StatusMessage AS message {where} {order} LIMIT {EXAMPLES}"
    )
    return SqlQuery(sql, {**params, **journey.params, **_window(start, end, step_index)})


def telltales_query(
    blueprint: Any, step_index: int, start: datetime, end: datetime, columns: SpanColumns
) -> SqlQuery:
    """Attribute values (span and resource) ranked by how much more often failing spans carry them."""
    where, params = _where(blueprint, step_index, columns)
    pairs = (
        "arrayConcat(arrayZip(mapKeys(SpanAttributes), mapValues(SpanAttributes)), "
        "arrayMap(p -> (concat('resource.', p.1), p.2), arrayZip(mapKeys(ResourceAttributes), "
        "mapValues(ResourceAttributes))))"
    )
    sql = f"""
WITH totals AS (SELECT countIf(StatusCode = 'Error') AS f, countIf(StatusCode != 'Error') AS p {where})
SELECT pair.1 AS key, pair.2 AS value, countIf(failed) AS failing, countIf(NOT failed) AS passing,
       failing / greatest((SELECT f FROM totals), 1) AS failing_share,
       passing / greatest((SELECT p FROM totals), 1) AS passing_share
FROM (SELECT StatusCode = 'Error' AS failed, arrayJoin({pairs}) AS pair {where})
GROUP BY key, value HAVING failing >= 2 AND failing_share >= 0.2 AND failing_share > passing_share
ORDER BY failing_share - passing_share DESC, key, value LIMIT {TOP}"""
    return SqlQuery(sql, {**params, **_window(start, end, step_index)})


def read_step_detail(
    client: Any, blueprint: Any, step_index: int, start: datetime, end: datetime, bucket_s: int
) -> StepDetail:
    """Every drill-down figure of the step at 1-based `step_index` over [start, end)."""
    columns = trace_columns(client)

    def rows(query: SqlQuery) -> list[dict[str, Any]]:
        try:
            result = client.query(query.sql, parameters=query.params)
        except Exception as exc:  # clickhouse-connect raises several types; all mean the same here
            raise DrillDownUnavailable(f"drill-down of step {step_index} of {blueprint.id!r}: {exc}") from exc
        return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]

    trend = [
        TrendPoint(
            t=datetime.fromtimestamp(start.timestamp() + int(r["bucket"]) * bucket_s, start.tzinfo),
            spans=int(r["spans"]),
            errors=int(r["errors"]),
            p50_s=_seconds(r["q"][0]),
            p95_s=_seconds(r["q"][1]),
        )
        for r in rows(trend_query(blueprint, step_index, start, end, bucket_s, columns))
    ]
    failures = sum(p.errors for p in trend)
    return StepDetail(
        trend=trend,
        errors=[
            ErrorMessage(str(r["message"]), int(r["spans"]), _utc(r["last_seen"]))
            for r in (rows(errors_query(blueprint, step_index, start, end, columns)) if failures else [])
        ],
        slowest=[
            _example(r) for r in rows(examples_query(blueprint, step_index, start, end, columns, False))
        ],
        failed=[
            _example(r)
            for r in (
                rows(examples_query(blueprint, step_index, start, end, columns, True)) if failures else []
            )
        ],
        telltales=[
            Telltale(
                str(r["key"]),
                str(r["value"]),
                int(r["failing"]),
                int(r["passing"]),
                float(r["failing_share"]),
                float(r["passing_share"]),
            )  # fmt: skip
            for r in (rows(telltales_query(blueprint, step_index, start, end, columns)) if failures else [])
        ],
    )


def _example(row: dict[str, Any]) -> Example:
    return Example(
        journey=str(row["journey"]),
        trace_id=str(row["trace_id"]),
        at=_utc(row["at"]),
        duration_s=int(row["duration_ns"]) / _NS,
        failed=bool(row["failed"]),
        message=str(row["message"]),
    )


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _window(start: datetime, end: datetime, step_index: int) -> dict[str, Any]:
    return {"d_from": start, "d_to": end, "d_step": step_index}


def _ns(moment: datetime) -> int:
    return int(round(moment.timestamp() * _NS))


def _seconds(nanoseconds: Any) -> float | None:
    value = float(nanoseconds)
    return None if value != value else value / _NS
