"""The SQL of a blueprint's live state: pure builders returning text and bound parameters.

Two or three queries answer a whole state:

- :func:`journey_query` walks every journey in a period (spans bound to steps, joined by the journey key,
  ordered by start) and aggregates in one pass, by GROUPING SETS: per step, per step and series bucket, per
  observed transition, and for the journeys as a whole (completion, drop-off, conformance, handoffs …).
- :func:`unmapped_query` lists the busiest service/span names no step binds.
- :func:`rollup_step_query` / :func:`rollup_unmapped_query` (in :mod:`blueprints.rollup_sql`) answer the
  per-step figures of long windows from the per-minute rollup instead.

Times are nanoseconds inside the SQL (as `otel_traces` stores them); the assembly converts to seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from blueprints.journey_graph import LANES, JourneyGraph
from blueprints.selectors import (
    TRACE_COLUMNS,
    SpanColumns,
    identifier,
    journey_attribute_expression,
    step_index_expression,
)
from collectors.schema import TRACES_TABLE

QUANTILES = (0.5, 0.9, 0.95, 0.99)
WAIT_QUANTILES = (0.5, 0.95)
# Result rows of journey_query, told apart by which GROUPING SETS entry produced them.
SET_STEP, SET_SERIES, SET_EDGE, SET_JOURNEYS = "step", "series", "edge", "journeys"
_NS = 1_000_000_000
_ACTORS = ("person", "process", "system")


@dataclass(frozen=True)
class SqlQuery:
    """A query text and its bound parameters."""

    sql: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Scan:
    """What a query reads, [start, end) by span start, and how it cuts the series.

    `reference` is the instant journeys are judged at (in flight, idle for longer than the timeout):
    the window's end.
    """

    start: datetime
    end: datetime
    origin: datetime
    bucket_s: int
    reference: datetime

    def __post_init__(self) -> None:
        for name in ("start", "end", "origin", "reference"):
            if getattr(self, name).tzinfo is None:
                raise ValueError(f"Scan.{name} must be timezone-aware, got {getattr(self, name)!r}")
        if self.bucket_s <= 0:
            raise ValueError(f"Scan.bucket_s must be > 0, got {self.bucket_s}")


def journey_query(blueprint: Any, graph: JourneyGraph, scan: Scan, table: str = TRACES_TABLE) -> SqlQuery:
    """One pass over the spans of `scan` answering steps, series, transitions and journeys.

    Columns: set (SET_*), step, prev, bucket (0 where the set does not group by it), then the aggregates
    named in :data:`JOURNEY_COLUMNS`. A journey's wait before a step is the start of that span minus the end of
    the journey's previous span, clamped at 0; a journey's first span in the period has no wait.
    """
    identifier(table)
    step = step_index_expression(blueprint, TRACE_COLUMNS, prefix="s")
    attribute = journey_attribute_expression(blueprint, TRACE_COLUMNS, prefix="jk")
    params: dict[str, Any] = {**step.params, **_design_params(graph), **_scan_params(scan)}
    if attribute is not None:
        params.update(attribute.params)
    sql = f"""
WITH
spans AS (
    SELECT
        {step.sql} AS step,
        cityHash64(TraceId) AS trace,
        {f"if({attribute.sql} != '', cityHash64({attribute.sql}), 0)" if attribute else "toUInt64(0)"} AS tagged,
        toUnixTimestamp64Nano(Timestamp) AS start_ns,
        toInt64(start_ns + Duration) AS end_ns,
        toUInt8(StatusCode = 'Error') AS err,
        if(SpanAttributes['actor.type'] != '' OR SpanAttributes['actor.id'] != '',
           cityHash64(SpanAttributes['actor.type'], SpanAttributes['actor.id']),
           cityHash64(arrayElement({{q_actor:Array(String)}}, step), ServiceName)) AS actor
    FROM {table}
    WHERE Timestamp >= {{q_from:DateTime64(9)}} AND Timestamp < {{q_to:DateTime64(9)}}
),
{_journeys_cte(attribute is not None)},
walked AS (
    -- Element-wise arrays side by side: lambdas over several arrays, never capturing one (a captured array
    -- is copied for every element).
    SELECT
        seq.1 AS starts,
        seq.2 AS ends,
        seq.3 AS steps,
        seq.4 AS errs,
        seq.5 AS actors,
        length(seq) AS n,
        arrayEnumerate(seq) AS idx,
        arrayPopBack(arrayPushFront(steps, toUInt16(0))) AS prevs,
        arrayPopBack(arrayPushFront(ends, toInt64(0))) AS prev_ends,
        arrayMap((s, pe, i) -> if(i = 1, toInt64(-1), greatest(toInt64(0), s - pe)), starts, prev_ends, idx) AS waits,
        arrayMap(s -> arrayElement({{q_lane:Array(UInt8)}}, s), steps) AS lanes,
        arrayMax(ends) AS last_end,
        starts[1] AS first_start,
        steps[n] AS last_step,
        errs[n] = 1 AS last_err,
        arrayElement({{q_start:Array(UInt8)}}, steps[1]) = 1 AS began,
        arrayExists(s -> arrayElement({{q_end:Array(UInt8)}}, s) = 1, steps) AS completed,
        arrayCount((p, s, i) -> i > 1 AND NOT has({{q_expected:Array(UInt32)}}, toUInt32(p) * 65536 + s), prevs, steps, idx)
            AS unexpected,
        bitmapToArray(bitmapAndnot(
            bitmapBuild(arrayFlatten(arrayMap(s -> arrayElement({{q_required:Array(Array(UInt16))}}, s), steps))),
            bitmapBuild(steps))) AS skipped,
        arrayFold((acc, x) -> (acc.1 + greatest(toInt64(0), x.2 - greatest(x.1, acc.2)), greatest(acc.2, x.2)),
            seq, (toInt64(0), first_start)).1 AS busy_ns,
        arrayCount((a, pa, l, pl, i) -> i > 1 AND (a != pa OR l != pl),
            actors, arrayPopBack(arrayPushFront(actors, toUInt64(0))),
            lanes, arrayPopBack(arrayPushFront(lanes, toUInt8(0))), idx) AS handoffs,
        length(arrayDistinct(steps)) < n AS repeated,
        arrayFirstIndex(s -> arrayElement({{q_resolution:Array(UInt8)}}, s) = 1, steps) AS resolved_at,
        arrayFilter((s, c) -> c = 1, arraySlice(steps, 1, resolved_at - 1),
            arrayMap(s -> arrayElement({{q_customer:Array(UInt8)}}, s), arraySlice(steps, 1, resolved_at - 1))) AS contacts,
        resolved_at > 0 AND length(arrayDistinct(contacts)) = length(contacts) AS first_contact,
        began AND NOT completed AND {{q_reference:Int64}} - last_end >= {{q_timeout:Int64}} AS dropped,
        multiIf(last_err, 1, unexpected > 0, 3, 2) AS cause
    FROM journeys
),
cells AS (
    -- One row per (step, previous step, bucket) with mergeable states; journey-wide figures ride on each
    -- journey's first span.
    SELECT
        step, prev, bucket,
        count() AS spans,
        sum(err) AS errors,
        sum(duration_ns) AS duration_sum_ns,
        quantilesState({", ".join(map(str, QUANTILES))})(duration_ns) AS duration_q,
        countIf(arrayElement({{q_latency:Array(UInt64)}}, step) > 0
                AND duration_ns > arrayElement({{q_latency:Array(UInt64)}}, step)) AS slow,
        countIf(start_ns < {{q_reference:Int64}} AND end_ns > {{q_reference:Int64}}) AS in_flight,
        countIf(wait >= 0) AS waits,
        sumIf(wait, wait >= 0) AS wait_sum_ns,
        quantilesStateIf({", ".join(map(str, WAIT_QUANTILES))})(wait, wait >= 0) AS wait_q,
        countIf(wait >= 0 AND arrayElement({{q_max_wait:Array(Int64)}}, step) > 0
                AND wait > arrayElement({{q_max_wait:Array(Int64)}}, step)) AS long_waits,
        countIf(head AND began) AS journeys,
        countIf(head AND began AND completed) AS completed_journeys,
        countIf(head AND began AND unexpected = 0 AND empty(skipped)) AS conforming,
        countIf(head AND began AND repeated) AS repeats,
        countIf(head AND began AND completed AND first_contact) AS first_contact,
        sumIf(lead_ns, head AND began AND completed) AS lead_sum_ns,
        sumIf(busy_ns, head AND began AND completed) AS busy_sum_ns,
        sumIf(handoffs, head AND began AND completed) AS handoffs_sum,
        sumMapIf(skipped, arrayMap(s -> toUInt64(1), skipped), head AND began) AS skipped_by_step,
        sumMapIf([last_step], [toUInt64(cause = 1)], [toUInt64(cause = 2)], [toUInt64(cause = 3)], head AND dropped)
            AS drop_off
    FROM (
        SELECT
            e.3 AS step, prev, wait, e.2 - e.1 AS duration_ns, e.1 AS start_ns, e.2 AS end_ns, e.4 AS err,
            intDiv(e.1 - {{q_origin:Int64}}, {{q_bucket:Int64}}) AS bucket,
            i = 1 AS head,
            if(head, skipped, []) AS skipped,
            began, completed, dropped, cause, last_step, unexpected, busy_ns, handoffs, repeated,
            first_contact, last_end - first_start AS lead_ns
        FROM walked
        ARRAY JOIN arrayZip(starts, ends, steps, errs) AS e, prevs AS prev, waits AS wait, idx AS i
    )
    GROUP BY step, prev, bucket
)
SELECT
    multiIf(grouping(step, prev, bucket) = 3, '{SET_STEP}', grouping(step, prev, bucket) = 2, '{SET_SERIES}',
            grouping(step, prev, bucket) = 1, '{SET_EDGE}', '{SET_JOURNEYS}') AS set,
    step, prev, bucket,
    sum(spans) AS spans,
    sum(errors) AS errors,
    sum(duration_sum_ns) AS duration_sum_ns,
    quantilesMerge({", ".join(map(str, QUANTILES))})(duration_q) AS duration_q_ns,
    sum(slow) AS slow,
    sum(in_flight) AS in_flight,
    sum(waits) AS waits,
    sum(wait_sum_ns) AS wait_sum_ns,
    quantilesMerge({", ".join(map(str, WAIT_QUANTILES))})(wait_q) AS wait_q_ns,
    sum(long_waits) AS long_waits,
    sum(journeys) AS journeys,
    sum(completed_journeys) AS completed_journeys,
    sum(conforming) AS conforming,
    sum(repeats) AS repeats,
    sum(first_contact) AS first_contact,
    sum(lead_sum_ns) AS lead_sum_ns,
    sum(busy_sum_ns) AS busy_sum_ns,
    sum(handoffs_sum) AS handoffs_sum,
    sumMap(skipped_by_step.1, skipped_by_step.2) AS skipped_by_step,
    sumMap(drop_off.1, drop_off.2, drop_off.3, drop_off.4) AS drop_off
FROM cells
GROUP BY GROUPING SETS ((step), (step, bucket), (prev, step), ())
"""
    return SqlQuery(sql, params)


JOURNEY_COLUMNS = (
    "set", "step", "prev", "bucket", "spans", "errors", "duration_sum_ns", "duration_q_ns", "slow", "in_flight",
    "waits", "wait_sum_ns", "wait_q_ns", "long_waits", "journeys", "completed_journeys", "conforming", "repeats",
    "first_contact", "lead_sum_ns", "busy_sum_ns", "handoffs_sum", "skipped_by_step", "drop_off",
)  # fmt: skip


def _journeys_cte(by_attribute: bool) -> str:
    if not by_attribute:
        return """journeys AS (
    SELECT arraySort(groupArray((start_ns, end_ns, step, err, actor))) AS seq
    FROM spans WHERE step != 0 GROUP BY trace
)"""
    # A trace belongs to one journey: the key found on its spans (spans of off-the-shelf systems may lack it),
    # else the trace itself. Grouping first by trace keeps the second grouping small.
    return """traces AS (
    SELECT trace, anyIf(tagged, tagged != 0) AS key, groupArrayIf((start_ns, end_ns, step, err, actor), step != 0) AS part
    FROM spans WHERE step != 0 OR tagged != 0 GROUP BY trace
),
journeys AS (
    SELECT arraySort(arrayFlatten(groupArray(part))) AS seq
    FROM traces WHERE notEmpty(part) GROUP BY if(key != 0, key, trace)
)"""


def unmapped_query(
    blueprint: Any, start: datetime, end: datetime, limit: int, table: str = TRACES_TABLE
) -> SqlQuery:
    """The `limit` busiest (service, span name) pairs in [start, end) that no step binds.

    Columns: service, span_name, spans.
    """
    identifier(table)
    step = step_index_expression(blueprint, TRACE_COLUMNS, prefix="s")
    sql = f"""
SELECT ServiceName AS service, SpanName AS span_name, count() AS spans
FROM {table}
WHERE Timestamp >= {{q_from:DateTime64(9)}} AND Timestamp < {{q_to:DateTime64(9)}} AND {step.sql} = 0
GROUP BY service, span_name
ORDER BY spans DESC, service, span_name
LIMIT {{q_limit:UInt32}}
"""
    return SqlQuery(sql, {**step.params, "q_from": start, "q_to": end, "q_limit": int(limit)})


def _scan_params(scan: Scan) -> dict[str, Any]:
    return {
        "q_from": scan.start,
        "q_to": scan.end,
        "q_origin": _ns(scan.origin),
        "q_bucket": scan.bucket_s * _NS,
        "q_reference": _ns(scan.reference),
    }


def _design_params(graph: JourneyGraph) -> dict[str, Any]:
    """Per-step facts as arrays indexed by the SQL step index (1-based), plus the expected transitions."""
    index = {step_id: n + 1 for n, step_id in enumerate(graph.step_ids)}
    steps = graph.steps
    return {
        "q_actor": [step.actor for step in steps],
        "q_lane": [LANES.index(step.lane) + 1 if step.lane in LANES else 0 for step in steps],
        "q_start": [int(step.id in graph.start) for step in steps],
        "q_end": [int(step.id in graph.end) for step in steps],
        "q_resolution": [int(step.resolution) for step in steps],
        "q_customer": [int(step.lane == "customer") for step in steps],
        "q_latency": [_ns(step.latency_threshold_s) if step.latency_threshold_s is not None else 0 for step in steps],
        "q_max_wait": [_ns(step.max_wait_s) if step.max_wait_s is not None else 0 for step in steps],
        "q_required": [[index[d] for d in graph.required_before[step.id]] for step in steps],
        "q_expected": sorted(
            index[a] * 65536 + index[b] for a, b in graph.expected if a in index and b in index
        ),
        "q_timeout": int(graph.timeout_s * _NS),
    }


def _ns(value: datetime | float) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp()) * _NS + value.microsecond * 1000
    return int(round(value * _NS))
