"""One journey's spans, for the journey view: found by its correlation key (or trace id) within a search
window, bound to steps by the blueprint's selectors. One journey is tens of spans; LIMIT keeps it bounded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from blueprints.selectors import correlation_key, journey_attribute_expression, step_expression
from blueprints.state_sql import SqlQuery
from blueprints.trace_columns import trace_columns
from collectors.schema import TRACES_TABLE

MAX_SPANS = 400
_NS = 1_000_000_000


class JourneyUnavailable(RuntimeError):
    """ClickHouse could not answer the journey query; the message says which journey and why."""


@dataclass(frozen=True)
class JourneySpan:
    """One span of the journey; `step` is '' when no step binds it."""

    start: datetime
    duration_s: float
    step: str
    service: str
    name: str
    failed: bool
    message: str
    actor_type: str
    actor_id: str
    trace_id: str

    @property
    def end_s(self) -> float:
        return self.start.timestamp() + self.duration_s


def journey_query(blueprint: Any, key: str, start: datetime, end: datetime, columns: Any) -> SqlQuery:
    """The spans of journey `key`: every span of every trace in which a span carries the key (or of the
    trace `key` itself), started in [start, end), oldest first."""
    step = step_expression(blueprint, columns, prefix="js")
    window = "Timestamp >= {j_from:DateTime64(9)} AND Timestamp < {j_to:DateTime64(9)}"
    params: dict[str, Any] = {**step.params, "j_from": start, "j_to": end, "j_key": key}
    traces = "TraceId = {j_key:String}"
    attribute = journey_attribute_expression(blueprint, columns, prefix="jk")
    if correlation_key(blueprint) is not None and attribute is not None:
        params.update(attribute.params)
        traces = (
            f"TraceId IN (SELECT TraceId FROM {TRACES_TABLE} WHERE {window} "
            f"AND {attribute.sql} = {{j_key:String}}) OR {traces}"
        )
    sql = (
        f"SELECT Timestamp AS start, Duration AS duration_ns, {step.sql} AS step, ServiceName AS service, "
        "SpanName AS name, StatusCode = 'Error' AS failed, StatusMessage AS message, "
        "SpanAttributes['actor.type'] AS actor_type, SpanAttributes['actor.id'] AS actor_id, "
        "TraceId AS trace_id "
        f"FROM {TRACES_TABLE} WHERE {window} AND ({traces}) ORDER BY start, Duration DESC LIMIT {MAX_SPANS}"
    )
    return SqlQuery(sql, params)


def read_journey(client: Any, blueprint: Any, key: str, start: datetime, end: datetime) -> list[JourneySpan]:
    """The spans of one journey, oldest first (at most MAX_SPANS)."""
    query = journey_query(blueprint, key, start, end, trace_columns(client))
    try:
        result = client.query(query.sql, parameters=query.params)
    except Exception as exc:  # clickhouse-connect raises several types; all mean the same here
        raise JourneyUnavailable(f"journey {key!r} of blueprint {blueprint.id!r}: {exc}") from exc
    spans = []
    for row in result.result_rows:
        item = dict(zip(result.column_names, row, strict=True))
        moment = item["start"]
        spans.append(
            JourneySpan(
                start=moment if moment.tzinfo else moment.replace(tzinfo=UTC),
                duration_s=int(item["duration_ns"]) / _NS,
                step=str(item["step"]),
                service=str(item["service"]),
                name=str(item["name"]),
                failed=bool(item["failed"]),
                message=str(item["message"]),
                actor_type=str(item["actor_type"]),
                actor_id=str(item["actor_id"]),
                trace_id=str(item["trace_id"]),
            )
        )
    return spans


@dataclass(frozen=True)
class RecentJourney:
    """A journey that started lately: its correlation key, first span, span count and failed spans."""

    key: str
    started: datetime
    spans: int
    failed: int


def read_recent_journeys(
    client: Any, blueprint: Any, start: datetime, end: datetime, limit: int = 8
) -> list[RecentJourney]:
    """The `limit` journeys of `blueprint` that started last in [start, end), newest first: those carrying
    its correlation key with at least one span a step binds; none when the blueprint has no correlation key."""
    columns = trace_columns(client)
    attribute = journey_attribute_expression(blueprint, columns, prefix="rk")
    if correlation_key(blueprint) is None or attribute is None:
        return []
    step = step_expression(blueprint, columns, prefix="rs")
    sql = (
        f"SELECT {attribute.sql} AS key, min(Timestamp) AS started, count() AS spans, "
        f"countIf(StatusCode = 'Error') AS failed FROM {TRACES_TABLE} "
        "WHERE Timestamp >= {r_from:DateTime64(9)} AND Timestamp < {r_to:DateTime64(9)} AND key != '' "
        f"GROUP BY key HAVING countIf({step.sql} != '') > 0 ORDER BY started DESC LIMIT {int(limit)}"
    )
    try:
        parameters = {**attribute.params, **step.params, "r_from": start, "r_to": end}
        result = client.query(sql, parameters=parameters)
    except Exception as exc:  # clickhouse-connect raises several types; all mean the same here
        raise JourneyUnavailable(f"recent journeys of blueprint {blueprint.id!r}: {exc}") from exc
    rows = [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]
    return [
        RecentJourney(
            key=str(r["key"]),
            started=r["started"] if r["started"].tzinfo else r["started"].replace(tzinfo=UTC),
            spans=int(r["spans"]),
            failed=int(r["failed"]),
        )
        for r in rows
    ]
