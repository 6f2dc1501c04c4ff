"""The queries a journey walk needs beside it: the busiest span names no step binds, and whether some bound
span lacks its journey key (so that keys must be lent by traces). Pure builders returning text and bound
parameters.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from blueprints.selectors import (
    TRACE_COLUMNS,
    SpanColumns,
    binding_filter,
    identifier,
    journey_attribute_expression,
    step_index_expression,
)
from blueprints.state_sql import CACHED_READ_SETTINGS, Scan, SqlQuery
from collectors.schema import TRACES_TABLE


def unkeyed_query(
    blueprint: Any,
    scan: Scan,
    columns: SpanColumns = TRACE_COLUMNS,
    table: str = TRACES_TABLE,
    among: SqlQuery | None = None,
) -> SqlQuery | None:
    """One row if some span of `scan` binds to a step but lacks the journey key, none otherwise; None when
    journeys are traces (nothing to lend). Stops at the first such span. `among`: a condition on the spans
    to look at, and its parameters."""
    identifier(table)
    attribute = journey_attribute_expression(blueprint, columns, prefix="jk")
    if attribute is None:
        return None
    step = step_index_expression(blueprint, columns, prefix="s")
    bindable = binding_filter(blueprint, columns, prefix="bf")
    params = {**step.params, **attribute.params, "q_from": scan.start, "q_to": scan.end}
    if bindable is not None:
        params.update(bindable.params)
    sql = f"""
SELECT 1 FROM {table}
WHERE Timestamp >= {{q_from:DateTime64(9)}} AND Timestamp < {{q_to:DateTime64(9)}}
    AND {attribute.sql} = '' {f"AND {bindable.sql}" if bindable else ""} AND {step.sql} != 0
    {f"AND {among.sql}" if among else ""}
LIMIT 1
"""
    return SqlQuery(sql, {**params, **(among.params if among else {})}, dict(CACHED_READ_SETTINGS))


def unmapped_query(
    blueprint: Any,
    start: datetime,
    end: datetime,
    limit: int,
    columns: SpanColumns = TRACE_COLUMNS,
    table: str = TRACES_TABLE,
) -> SqlQuery:
    """The `limit` busiest (service, span name) pairs in [start, end) that no step binds.

    Columns: service, span_name, spans.
    """
    identifier(table)
    step = step_index_expression(blueprint, columns, prefix="s")
    sql = f"""
SELECT ServiceName AS service, SpanName AS span_name, count() AS spans
FROM {table}
WHERE Timestamp >= {{q_from:DateTime64(9)}} AND Timestamp < {{q_to:DateTime64(9)}} AND {step.sql} = 0
GROUP BY service, span_name
ORDER BY spans DESC, service, span_name
LIMIT {{q_limit:UInt32}}
"""
    return SqlQuery(
        sql, {**step.params, "q_from": start, "q_to": end, "q_limit": int(limit)}, dict(CACHED_READ_SETTINGS)
    )
