"""Reading the per-minute rollup: per-step figures and unmapped names of a long window.

The same selectors as on raw spans (:mod:`blueprints.selectors`), evaluated on the rollup's columns; counts
are exact; percentiles come from merged bfloat16 histograms, within about 1% of the raw figures (a
t-digest is as close but four times slower to merge over a day of minutes). Whole hours are read from the
hourly rollup when the series allows it (hour-aligned buckets), the minutes at either end from the minute
rollup.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from blueprints.rollups import HOURLY_TABLE, ROLLUP_COLUMNS, ROLLUP_QUANTILES, ROLLUP_TABLE
from blueprints.selectors import step_index_expression
from blueprints.state_sql import SET_SERIES, SET_STEP, SqlQuery
from blueprints.time_grid import whole_hours

_LEVELS = ", ".join(map(str, ROLLUP_QUANTILES))


def rollup_step_query(
    blueprint: Any, start: datetime, end: datetime, origin: datetime, bucket_s: int
) -> SqlQuery:
    """Per step and per step and bucket over the minutes [start, end): the SET_STEP and SET_SERIES rows of
    :func:`blueprints.state_sql.journey_query`, with its spans, errors and duration sum as columns of their own
    (set, step, bucket, spans, errors, duration_sum_ns, duration_q_ns). `bucket_s` must be whole minutes."""
    if bucket_s % 60:
        raise ValueError(f"a rollup series bucket must be whole minutes, got {bucket_s} s")
    step = step_index_expression(blueprint, ROLLUP_COLUMNS, prefix="s")
    sql = f"""
SELECT
    if(grouping(step, bucket) = 1, '{SET_STEP}', '{SET_SERIES}') AS set,
    step, bucket,
    sum(Spans) AS spans,
    sum(Errors) AS errors,
    sum(toFloat64(DurationSum)) AS duration_sum_ns,
    quantilesBFloat16Merge({_LEVELS})(DurationDigest) AS duration_q_ns
FROM (
    -- Merge the minutes' duration digests per (step, bucket) once; both grouping sets then merge those few.
    -- Merging every minute's digest for each set cost twice the time (most of a day-long window's query).
    SELECT
        step, bucket,
        sum(Spans) AS Spans, sum(Errors) AS Errors, sum(DurationSum) AS DurationSum,
        quantilesBFloat16MergeState({_LEVELS})(DurationDigest) AS DurationDigest
    FROM (
        SELECT
            {step.sql} AS step,
            intDiv(toInt64(toUnixTimestamp(Minute)) - {{q_origin:Int64}}, {{q_bucket:Int64}}) AS bucket,
            Spans, Errors, DurationSum, DurationDigest
        FROM ({_ROLLUP_ROWS})
    )
    WHERE step != 0
    GROUP BY step, bucket
)
GROUP BY GROUPING SETS ((step), (step, bucket))
"""
    params = {
        **step.params,
        **_rollup_rows_params(start, end, hours_whole=bucket_s % 3600 == 0 and origin.timestamp() % 3600 == 0),
        "q_origin": int(origin.timestamp()),
        "q_bucket": bucket_s,
    }
    return SqlQuery(sql, params)


def rollup_unmapped_query(blueprint: Any, start: datetime, end: datetime, limit: int) -> SqlQuery:
    """The `limit` busiest (service, span name) pairs no step binds, over the minutes [start, end)."""
    step = step_index_expression(blueprint, ROLLUP_COLUMNS, prefix="s")
    sql = f"""
SELECT ServiceName AS service, SpanName AS span_name, sum(Spans) AS spans
FROM ({_ROLLUP_ROWS})
WHERE {step.sql} = 0
GROUP BY service, span_name
ORDER BY spans DESC, service, span_name
LIMIT {{q_limit:UInt32}}
"""
    params = {**step.params, **_rollup_rows_params(start, end, hours_whole=True), "q_limit": int(limit)}
    return SqlQuery(sql, params)


# The rollup rows of [q_from, q_to): hours [q_hours_from, q_hours_to) from the hourly rollup, the other minutes
# from the minute rollup. An empty hour range reads minutes only.
_ROLLUP_ROWS = f"""
    SELECT Hour AS Minute, ServiceName, SpanName, Attributes, Spans, Errors, DurationSum, DurationDigest
    FROM {HOURLY_TABLE}
    WHERE Hour >= {{q_hours_from:DateTime}} AND Hour < {{q_hours_to:DateTime}}
    UNION ALL
    SELECT Minute, ServiceName, SpanName, Attributes, Spans, Errors, DurationSum, DurationDigest
    FROM {ROLLUP_TABLE}
    WHERE Minute >= {{q_from:DateTime}} AND Minute < {{q_to:DateTime}}
        AND NOT (Minute >= {{q_hours_from:DateTime}} AND Minute < {{q_hours_to:DateTime}})
"""


def _rollup_rows_params(start: datetime, end: datetime, hours_whole: bool) -> dict[str, Any]:
    """Hours are read whole only where the caller allows it: a series needs each hour inside one bucket
    (buckets of whole hours counted from a whole hour)."""
    hours_from, hours_to = whole_hours(start.astimezone(UTC), end.astimezone(UTC)) if hours_whole else (start, start)
    return {"q_from": start, "q_to": end, "q_hours_from": hours_from, "q_hours_to": hours_to}
