"""The SQL of journey walks kept ahead of requests (blueprints.walk_store): pure builders.

A stored walk holds one row per bound span of every journey whose spans all started in the walked period
[start, watermark): its step, previous step, wait, hand-off and its journey's verdicts, as the live walk
computes them, less what depends on when a journey is judged (whether it dropped off, which spans are in
flight: those are worked out per request from the stored times).

A request then reads (:func:`stored_state_query`):
- from the store, the journeys whose spans all started inside its window and none at or after the watermark;
- live, the spans of every other journey in the window (those crossing its edges, still going on at the
  watermark, or touched by a span that arrived after the walk),
and groups both into the same cells in one query, so that percentiles are merged over all of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from blueprints.journey_graph import JourneyGraph
from blueprints.selectors import TRACE_COLUMNS, SpanColumns, binding_filter, journey_hash_expression
from blueprints.sql_text import compact
from blueprints.state_sql import (
    CACHED_READ_SETTINGS,
    HANDOFF,
    IDLE_PAST_TIMEOUT,
    JOURNEY_SETTINGS,
    ROW_COLUMNS,
    SPAN_STEPS,
    SPAN_WAIT,
    SPREAD_SPANS,
    VERDICT_BITS,
    Scan,
    SqlQuery,
    cells_and_last_stage,
    head_prev,
    journey_walk,
    scan_params,
    span_rows,
    to_ns,
)
from collectors.schema import TRACES_TABLE

WALKS_TABLE = "touchpoint_journey_walks"

WALKS_DDL = f"""
CREATE TABLE IF NOT EXISTS {WALKS_TABLE} (
    walk UInt64,
    generation UInt32,
    journey UInt64,
    first_start Int64,
    last_start Int64,
    last_end Int64,
    last_step UInt16,
    step UInt16,
    prev_step UInt16,
    verdict UInt32,
    err UInt8,
    start_ns Int64,
    end_ns Int64,
    wait Int64,
    handoff UInt8,
    skipped_mask UInt64,
    busy_ns Int64,
    lead_ns Int64
) ENGINE = MergeTree
PARTITION BY (walk, generation)
ORDER BY start_ns
"""
_STORED = (
    "journey, first_start, last_start, last_end, last_step, step, prev_step, verdict, err, start_ns, end_ns, "
    "wait, handoff, skipped_mask, busy_ns, lead_ns"
)


def store_walk_query(
    blueprint: Any,
    graph: JourneyGraph,
    start: Any,
    watermark: Any,
    walk: int,
    generation: int,
    columns: SpanColumns = TRACE_COLUMNS,
    table: str = TRACES_TABLE,
) -> SqlQuery:
    """INSERT … SELECT: the walk of every journey of spans started in [start, watermark) into the store, as
    generation `generation` of walk `walk` (journeys keyed without lending; at most 64 steps)."""
    rows = journey_walk(blueprint, graph, columns, table, lend=False, for_store=True)
    sql = f"""
INSERT INTO {WALKS_TABLE} (walk, generation, {_STORED})
WITH
{rows.ctes}
SELECT {{q_walk:UInt64}}, {{q_generation:UInt32}}, {_STORED}
FROM (
    SELECT
        journey, first_start, last_start, last_end, last_step,
        {SPAN_STEPS}
        toUInt32(verdict) AS verdict,
        toUInt8(intDiv(meta, 65536) % 2) AS err,
        span_start AS start_ns, span_end AS end_ns,
        {SPAN_WAIT}
        toUInt8({HANDOFF}) AS handoff,
        skipped_mask, busy_ns, lead_ns
    {SPREAD_SPANS}
)
"""
    params = {**rows.params, "q_from": start, "q_to": watermark, "q_walk": walk, "q_generation": generation}
    return SqlQuery(compact(sql), params, dict(JOURNEY_SETTINGS))


def walk_fingerprint_text(blueprint: Any, graph: JourneyGraph, columns: SpanColumns = TRACE_COLUMNS) -> str:
    """What a stored walk depends on, as text: the walk's SQL and every parameter but the period's bounds.
    Two blueprints (or two versions of one) with the same text walk journeys the same way."""
    rows = journey_walk(blueprint, graph, columns, lend=False, for_store=True)
    return rows.ctes + repr(sorted(rows.params.items()))


def counted_query(
    blueprint: Any,
    start: Any,
    end: Any,
    columns: SpanColumns = TRACE_COLUMNS,
    table: str = TRACES_TABLE,
) -> SqlQuery:
    """The spans in [start, end) that a step could bind (the rows a walk reads, before binding): one row,
    one column."""
    bindable = binding_filter(blueprint, columns, prefix="bf")
    sql = f"""
SELECT count() AS spans
FROM {table}
WHERE Timestamp >= {{q_from:DateTime64(9)}} AND Timestamp < {{q_to:DateTime64(9)}}
    {f"AND {bindable.sql}" if bindable else ""}
"""
    params = {**(bindable.params if bindable else {}), "q_from": start, "q_to": end}
    return SqlQuery(compact(sql), params, dict(CACHED_READ_SETTINGS))


def stored_state_query(
    blueprint: Any,
    graph: JourneyGraph,
    scan: Scan,
    stored: Any,
    late: list[datetime],
    columns: SpanColumns = TRACE_COLUMNS,
    table: str = TRACES_TABLE,
) -> SqlQuery:
    """journey_query's answer for `scan`, the journeys `stored` (a blueprints.walk_store.StoredWalk) walked
    read from the store and only the others walked (journeys keyed without lending).

    A stored journey is walked live instead when it has a span after the store's watermark, or one in the
    `late` seconds (spans that arrived after the walk): its stored rows may miss that span.
    """
    journey = journey_hash_expression(blueprint, columns, prefix="jh")
    settled = unsettled_spans(stored, late)
    unsettled = f"""SELECT {journey.sql} FROM {table}
        WHERE Timestamp >= {{q_from:DateTime64(9)}} AND Timestamp < {{q_to:DateTime64(9)}} AND {settled.sql}"""
    inside = f"""walk = {{q_walk:UInt64}} AND generation = {{q_generation:UInt32}}
        AND start_ns >= {{q_from_ns:Int64}} AND start_ns < {{q_to_ns:Int64}}
        AND first_start >= {{q_from_ns:Int64}} AND last_start < {{q_to_ns:Int64}}
        AND journey NOT IN ({unsettled})"""
    # Every journey with a span before the watermark was walked, unless a span of it came late. So the live part
    # is the stored journeys crossing the window's edges, read from their first rows, and the unsettled ones.
    crossing = "start_ns < {q_from_ns:Int64} AND last_start >= {q_from_ns:Int64}"
    if scan.end < stored.watermark:
        crossing += " OR start_ns >= {q_from_ns:Int64} AND start_ns < {q_to_ns:Int64} AND last_start >= {q_to_ns:Int64}"
    edges = f"""SELECT journey FROM {WALKS_TABLE}
        WHERE walk = {{q_walk:UInt64}} AND generation = {{q_generation:UInt32}} AND prev_step = 0 AND ({crossing})"""
    live = journey_walk(
        blueprint, graph, columns, table, lend=False, keep=f"(journey IN ({edges}) OR journey IN ({unsettled}))"
    )
    bit = VERDICT_BITS
    judged = f"""verdict + {bit["dropped"]} * (bitAnd(verdict, {bit["began"]}) != 0
                AND bitAnd(verdict, {bit["completed"]}) = 0
                AND {IDLE_PAST_TIMEOUT})"""
    from_store = f"""
        SELECT
            step, prev_step, prev_step = 0 AS head,
            {judged} AS judged_verdict,
            {head_prev("judged_verdict")} AS prev,
            err, end_ns - start_ns AS duration_ns, start_ns, end_ns, wait, handoff,
            intDiv(start_ns - {{q_origin:Int64}}, {{q_bucket:Int64}}) AS bucket,
            bitAnd(verdict, {bit["began"]}) != 0 AS began,
            bitAnd(verdict, {bit["completed"]}) != 0 AS completed,
            skipped_mask, busy_ns, lead_ns
        FROM {WALKS_TABLE}
        WHERE {inside}"""
    rows = f"""
        SELECT {ROW_COLUMNS} FROM ({span_rows()})
        UNION ALL
        SELECT {ROW_COLUMNS} FROM ({from_store})"""
    sql = f"""
WITH
{live.ctes},
{cells_and_last_stage(rows)}"""
    params = {
        **live.params,
        **settled.params,
        **scan_params(scan),
        "q_walk": stored.walk,
        "q_generation": stored.generation,
        "q_from_ns": to_ns(scan.start),
        "q_to_ns": to_ns(scan.end),
    }
    return SqlQuery(compact(sql), params, dict(JOURNEY_SETTINGS))


def unsettled_spans(stored: Any, late: list[datetime]) -> SqlQuery:
    """A condition true for spans started at or after the watermark of `stored` and for spans in the `late`
    seconds (blueprints.walk_store: their journeys may have been walked without some span). Both read
    little: `toDateTime(Timestamp)` is a key of `otel_traces`' order."""
    sql = "(Timestamp >= {q_watermark:DateTime64(9)} OR toDateTime(Timestamp) IN {q_late:Array(DateTime)})"
    return SqlQuery(sql, {"q_watermark": stored.watermark, "q_late": late})
