"""The SQL of a blueprint's live state: pure builders returning text and bound parameters.

Two or three queries answer a whole state:

- :func:`journey_query` walks every journey in a period (spans bound to steps, joined by the journey key,
  ordered by start) and aggregates in one pass into cells per step, previous step and series bucket: the
  caller sums them per step, per step and bucket, per observed transition, and for the journeys as a whole
  (completion, drop-off, conformance, handoffs …); the percentiles come merged per step, bucket and
  transition.
- :func:`blueprints.side_sql.unmapped_query` lists the busiest service/span names no step binds.
- :func:`rollup_step_query` / :func:`rollup_unmapped_query` (in :mod:`blueprints.rollup_sql`) answer the
  per-step figures of long windows from the per-minute rollup instead.

Times are nanoseconds inside the SQL (as `otel_traces` stores them); the assembly converts to seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from blueprints.journey_graph import LANES, JourneyGraph
from blueprints.selectors import (
    TRACE_COLUMNS,
    SpanColumns,
    binding_filter,
    identifier,
    journey_attribute_expression,
    journey_hash_expression,
    step_index_expression,
)
from blueprints.sql_conditions import any_of, every
from blueprints.sql_text import compact
from blueprints.trace_columns import ACTOR_EXPRESSION
from collectors.schema import TRACES_TABLE

QUANTILES = (0.5, 0.9, 0.95, 0.99)
WAIT_QUANTILES = (0.5, 0.95)
# Result rows of journey_query (and of the rollup's step query), told apart by the grouping that produced them.
SET_STEP, SET_SERIES, SET_EDGE, SET_OUTCOME = "step", "series", "edge", "outcome"
_NS = 1_000_000_000
MAX_STEPS = 256  # steps are bits of a UInt256 mask in the journey pass


@dataclass(frozen=True)
class SqlQuery:
    """A query text, its bound parameters and the settings to run it with."""

    sql: str
    params: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)


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


def journey_query(
    blueprint: Any,
    graph: JourneyGraph,
    scan: Scan,
    columns: SpanColumns = TRACE_COLUMNS,
    table: str = TRACES_TABLE,
    lend: bool = True,
) -> SqlQuery:
    """One pass over the spans of `scan` answering steps, series, transitions and journeys.

    Columns: set, step, prev, bucket (0 where the set does not group by it), duration_q_ns (sets SET_STEP and
    SET_SERIES), wait_q_ns (SET_STEP and SET_EDGE), `figures`: the sums named in :data:`SUMMED_FIGURES`, and
    skipped_bits (SET_OUTCOME: a sumMap pair of step index - 1 and journeys that skipped it). SET_OUTCOME rows
    are journeys that began at `step` in `bucket`, their outcome encoded in `prev` (HEAD_PREV and up, decoded
    by :func:`head_outcome`); a journey's first span has no previous step, so it is in no SET_EDGE row.
    A journey's actor changes are judged on 32 bits of each actor's hash (two actors colliding there, about one
    pair in four billion, would count as one).
    A journey's wait before a step is the start of that span minus the end of the journey's previous span,
    clamped at 0; a journey's first span in the period has no wait. Spans of a journey starting at the same
    nanosecond are ordered arbitrarily (but the same way for every figure).
    `columns` may name the convention columns of :mod:`blueprints.trace_columns`; the answer is the same.
    A span carrying the journey key belongs to that journey; a bound span without it joins the journey another
    span of its trace names, else its trace is its journey. `lend=False` skips that lending (one grouping
    instead of two): right when :func:`blueprints.side_sql.unkeyed_query` found no bound span without the key.
    When every step names its service or span, only those ranges of the table are read: a span no step binds
    then lends its journey key to nobody.
    """
    walk = journey_walk(blueprint, graph, columns, table, lend)
    sql = f"""
WITH
{walk.ctes},
{cells_and_last_stage(span_rows())}"""
    return SqlQuery(compact(sql), {**walk.params, **scan_params(scan)}, dict(JOURNEY_SETTINGS))


@dataclass(frozen=True)
class JourneyWalk:
    """The stages of a journey walk up to `walked` (one row per journey, its spans as arrays): the text of
    `bound AS (…), …, walked AS (…)` and its bound parameters (the period's bounds `q_from` and `q_to`, and
    `q_reference`, `q_origin` and `q_bucket` for what follows, come from the caller)."""

    ctes: str
    params: dict[str, Any]


def journey_walk(
    blueprint: Any,
    graph: JourneyGraph,
    columns: SpanColumns = TRACE_COLUMNS,
    table: str = TRACES_TABLE,
    lend: bool = True,
    *,
    for_store: bool = False,
    keep: str = "",
) -> JourneyWalk:
    """The journey walk of :func:`journey_query`, up to one row per judged journey.

    `for_store`: each journey also carries its key (`journey`), its first and last start and its last end,
    and its verdict leaves out whether it dropped off, which depends on when it is judged (walks kept ahead
    of requests: blueprints.walk_store; journeys keyed without lending only). `keep`: one more condition on
    the spans read, over their journey key `journey` (lend=False only).
    """
    identifier(table)
    if len(graph.steps) > MAX_STEPS:
        raise ValueError(
            f"blueprint {graph.blueprint_id!r} has {len(graph.steps)} steps; "
            f"the live state handles at most {MAX_STEPS}"
        )
    step = step_index_expression(blueprint, columns, prefix="s")
    attribute = journey_attribute_expression(blueprint, columns, prefix="jk")
    bindable = binding_filter(blueprint, columns, prefix="bf")
    params: dict[str, Any] = {**step.params, **_design_params(graph)}
    for fragment in (attribute, bindable):
        if fragment is not None:
            params.update(fragment.params)
    lend = lend and attribute is not None
    if lend and (for_store or keep):
        raise ValueError("journey_walk: a walk for the store, or one keeping some journeys, cannot lend keys")
    if lend:
        tagged = f"if({attribute.sql} != '', cityHash64({attribute.sql}), 0)"
        keys, kept = f"cityHash64(TraceId) AS trace,\n        {tagged} AS tagged,", "trace, tagged,"
    else:
        journey = journey_hash_expression(blueprint, columns, prefix="jh")
        params.update(journey.params)
        keys, kept = f"{journey.sql} AS journey,", "journey,"
    actor = columns.actor or ACTOR_EXPRESSION
    mask = "UInt64" if len(graph.steps) <= 64 else "UInt256"
    bit = VERDICT_BITS
    carried = "journey, " if for_store else ""
    ends = "journey, first_start, last_end, starts[length(starts)] AS last_start,\n        " if for_store else ""
    dropped = "" if for_store else f"+ {bit['dropped']} * (began AND NOT completed AND {IDLE_PAST_TIMEOUT})"
    ctes = f"""bound AS (
    SELECT
        {step.sql} AS step,
        {keys}
        toUnixTimestamp64Nano(Timestamp) AS start_ns,
        toInt64(start_ns + Duration) AS end_ns,
        StatusCode = 'Error' AS failed,
        {actor} AS tagged_actor,
        ServiceName AS service
    FROM {table}
    WHERE Timestamp >= {{q_from:DateTime64(9)}} AND Timestamp < {{q_to:DateTime64(9)}}
        {f"AND {bindable.sql}" if bindable else ""}
        {f"AND {keep}" if keep else ""}
),
spans AS (
    SELECT
        step, {kept} start_ns, end_ns,
        -- the step's designed lane and roles, the error and who did it (the actor attributes, else the
        -- step's designed actor on this service, as 32 bits of a hash) packed in one number: fewer arrays
        arrayElement({{q_meta:Array(UInt64)}}, step) + 65536 * failed
            + 4294967296 * (if(tagged_actor != 0, tagged_actor,
                               cityHash64(arrayElement({{q_actor:Array(String)}}, step), service)) % 4294967296)
            AS meta,
        if(step = 0, to{mask}(0), bitShiftLeft(to{mask}(1), toUInt16(step - 1))) AS bit,
        arrayElement({{q_required:Array({mask})}}, step) AS needs
    FROM bound
),
{_journeys_cte(lend, for_store)},
shaped AS (
    SELECT
        {carried}starts, ends, metas, visited, needed, first_start, last_end,
        length(starts) AS n,
        CAST(metas % 65536 AS Array(UInt64)) AS steps,
        CAST(intDiv(metas, 65536) AS Array(UInt64)) AS flags,
        arrayPopBack(arrayPushFront(metas, toUInt64(0))) AS prev_metas,
        arrayPopBack(arrayPushFront(ends, toInt64(0))) AS prev_ends
    FROM journeys
),
judged AS (
    -- Journey-wide figures from masks of the steps visited and from array arithmetic: lambdas cost about as
    -- much as a scan, so none here.
    SELECT
        {carried}starts, ends, metas, prev_metas, prev_ends, first_start, last_end,
        arrayElement({{q_start:Array(UInt8)}}, steps[1]) = 1 AS began,
        bitAnd(visited, {{q_end_mask:{mask}}}) != 0 AS completed,
        NOT hasAll({{q_expected:Array(UInt64)}},
                   arraySlice(CAST(prev_metas % 65536 AS Array(UInt64)) * 65536 + steps, 2))
            AS unexpected,
        bitAnd(needed, bitNot(visited)) AS skipped_mask,
        n > bitCount(visited) AS repeated,
        {_first_contact(graph)} AS first_contact,
        flags[n] % 2 = 1 AS last_failed,
        arraySum(ends - starts) AS busy_ns,
        toUInt16(steps[n]) AS last_step
    FROM shaped
),
walked AS (
    SELECT
        {ends}starts, ends, metas, prev_metas, prev_ends, skipped_mask, busy_ns, last_step,
        last_end - first_start AS lead_ns,
        -- one small number carries the journey's verdicts to each of its spans (cheaper than ten columns):
        -- the bits of VERDICT_BITS, and the cause of a drop-off times CAUSE_UNIT
        {bit["began"]} * began + {bit["completed"]} * completed
            {dropped}
            + {bit["repeated"]} * repeated + {bit["first_contact"]} * first_contact
            + {bit["conforming"]} * (NOT unexpected AND skipped_mask = 0)
            + {CAUSE_UNIT} * multiIf(last_failed, 1, unexpected, 3, 2) AS verdict
    FROM judged
)"""
    return JourneyWalk(ctes, params)


def span_rows() -> str:
    """The per-span rows of a walk (`walked` spread back into spans), as the cells group them: a SELECT giving
    ROW_COLUMNS (and prev_step)."""
    bit = VERDICT_BITS
    return f"""        SELECT
            {SPAN_STEPS}
            {head_prev("verdict")} AS prev,
            intDiv(meta, 65536) % 2 AS err,
            span_end - span_start AS duration_ns, span_start AS start_ns, span_end AS end_ns,
            {SPAN_WAIT}
            {HANDOFF} AS handoff,
            intDiv(span_start - {{q_origin:Int64}}, {{q_bucket:Int64}}) AS bucket,
            bitAnd(verdict, {bit["began"]}) != 0 AS began,
            bitAnd(verdict, {bit["completed"]}) != 0 AS completed,
            skipped_mask, busy_ns, lead_ns
        {SPREAD_SPANS}
"""


# A walked journey spread back into its spans, one row each, and the columns every reader of those rows derives
# alike: the span's step, its previous step, whether it is the journey's first, and its wait (span_rows, and
# the rows a walk kept ahead stores: blueprints.walk_store_sql).
SPREAD_SPANS = """FROM walked
        ARRAY JOIN starts AS span_start, ends AS span_end, metas AS meta, prev_metas AS prev_meta,
            prev_ends AS prev_end"""
SPAN_STEPS = """toUInt16(meta % 65536) AS step,
            toUInt16(prev_meta % 65536) AS prev_step,
            prev_step = 0 AS head,"""
SPAN_WAIT = "greatest(toInt64(0), span_start - prev_end) AS wait,"


# the columns of the per-span rows the cells read (span_rows gives them; so do the rows of a stored walk,
# blueprints.walk_store_sql)
ROW_COLUMNS = (
    "step, prev, bucket, err, duration_ns, start_ns, end_ns, head, wait, handoff, began, completed, skipped_mask, "
    "busy_ns, lead_ns"
)


def cells_and_last_stage(rows: str) -> str:
    """`cells AS (…)` over the per-span `rows` (a SELECT giving ROW_COLUMNS), then the query's last stage."""
    quantiles, wait_quantiles = ", ".join(map(str, QUANTILES)), ", ".join(map(str, WAIT_QUANTILES))
    summed = ", ".join(f"toFloat64({name})" for name in SUMMED_FIGURES)
    return f"""cells AS (
    -- One row per (step, previous step, bucket) with mergeable states. A journey's first span has no previous
    -- step: its `prev` is HEAD_PREV plus the journey's outcome (see :func:`head_outcome`), so the grouping
    -- itself counts journeys per outcome, where an aggregate per outcome would be evaluated on every span.
    -- The journey's lead and busy time ride on its first span.
    SELECT
        step, prev, bucket,
        count() AS spans,
        sum(err) AS errors,
        sum(toFloat64(duration_ns)) AS duration_sum_ns,
        -- percentiles sample Float32 (7 significant digits of a nanosecond count): half the memory to fill,
        -- merge and sort of UInt64 samples, for no visible difference in seconds
        quantilesState({quantiles})(toFloat32(duration_ns)) AS duration_q,
        countIf(duration_ns > arrayElement({{q_latency:Array(UInt64)}}, step)) AS slow,
        countIf({every("start_ns < {q_reference:Int64}", "end_ns > {q_reference:Int64}")}) AS in_flight,
        countIf(NOT head) AS waits,
        sumIf(toFloat64(wait), NOT head) AS wait_sum_ns,
        quantilesStateIf({wait_quantiles})(toFloat32(wait), NOT head) AS wait_q,
        countIf({every("NOT head", "wait > arrayElement({q_max_wait:Array(Int64)}, step)")}) AS long_waits,
        sumIf(toFloat64(lead_ns), head) AS lead_sum_ns,
        sumIf(toFloat64(busy_ns), head) AS busy_sum_ns,
        countIf({every("began", "completed", "handoff")}) AS handoffs_sum,
        -- bit positions are step indexes - 1
        sumMapIf(bitPositionsToArray(skipped_mask), arrayResize([toUInt64(1)], bitCount(skipped_mask)),
                 {every("head", "began")})
            AS skipped_bits
    FROM (
{rows}
    )
    GROUP BY step, prev, bucket
)
-- Percentiles merged and the additive figures summed per step, per step and bucket and per transition (one
-- GROUP BY over four copies of the few cells); the cells of journeys' first spans (`prev` their outcome) leave
-- one by one, with the steps those journeys skipped, to be counted by outcome.
-- Few aggregates here: each one costs the analyzer about a millisecond, whether or not there are spans.
SELECT
    ['{SET_STEP}', '{SET_SERIES}', '{SET_EDGE}', '{SET_OUTCOME}'][grouped + 1] AS set,
    by_step AS step, by_prev AS prev, by_bucket AS bucket,
    quantilesMergeIf({quantiles})(duration_q, grouped < 2) AS duration_q_ns,
    quantilesMergeIf({wait_quantiles})(wait_q, grouped IN (0, 2)) AS wait_q_ns,
    sumForEach([{summed}]) AS figures,
    anyIf(skipped_bits, grouped = 3) AS skipped_bits
FROM cells ARRAY JOIN [0, 1, 2, 3] AS grouped
WHERE grouped < 2 OR (grouped = 3) = (cells.prev >= {HEAD_PREV})
GROUP BY grouped, cells.step AS by_step, if(grouped IN (2, 3), cells.prev, 0) AS by_prev,
    if(grouped IN (1, 3), cells.bucket, 0) AS by_bucket
"""


# The live state's reads of raw spans go through the engine's uncompressed cache (its size: collectors.db): a
# dashboard asks for the same window again and again, and the blocks of parts not rewritten since are then read
# without decompressing them again. Windows of more than 4M spans read around the cache rather than flush it.
CACHED_READ_SETTINGS = {"use_uncompressed_cache": 1, "merge_tree_max_rows_to_use_cache": 4_000_000}

# Analyzer rewrites that find nothing to rewrite in journey_query, yet cost part of its ~45 ms of analysis;
# the answer is the same without them. Two look for functions of GROUP BY keys (in the grouping and in the
# aggregates; ~6 ms); one infers comparisons implied by chains of ANDed comparisons (~2 ms: 61 interleaved
# compute_state rounds on the bench window, median 153.2 against 155.5 ms).
JOURNEY_SETTINGS = {
    "optimize_group_by_function_keys": 0,
    "optimize_aggregators_of_group_by_keys": 0,
    "optimize_and_compare_chain": 0,
    **CACHED_READ_SETTINGS,
}

# The additive figures of journey_query's `figures` array, in its order (Float64, exact below 2^53): summed per
# step, per step and bucket, per transition, or one cell of journeys' first spans. Lead and busy time ride on
# journeys' first spans only (so only SET_OUTCOME rows mean them); handoffs count those of completed journeys.
SUMMED_FIGURES = (
    "spans", "errors", "duration_sum_ns", "slow", "in_flight", "waits", "wait_sum_ns", "long_waits",
    "lead_sum_ns", "busy_sum_ns", "handoffs_sum",
)

# A journey's verdict (journey_query's walk): bits, then the cause of a drop-off (1 error, 2 abandoned or timed
# out, 3 wrong path) times CAUSE_UNIT.
VERDICT_BITS = {"began": 1, "completed": 2, "dropped": 4, "repeated": 16, "first_contact": 32, "conforming": 64}
CAUSE_UNIT = 128
# A first span's `prev` in journey_query: HEAD_PREV + verdict, + LAST_STEP_UNIT * last step when it dropped off.
# Step indexes stay below 65536 (MAX_STEPS), so no real previous step reaches HEAD_PREV.
HEAD_PREV = 65536
LAST_STEP_UNIT = 512
# A journey that began and did not complete has dropped off once its last span ended `q_timeout` before
# `q_reference` (nanoseconds; `last_end` its last span's end).
IDLE_PAST_TIMEOUT = "{q_reference:Int64} - last_end >= {q_timeout:Int64}"


def head_prev(verdict: str) -> str:
    """A span's `prev` as SQL: for a journey's first span (`head`) HEAD_PREV plus the journey's outcome, from
    `verdict` (SQL giving VERDICT_BITS and the cause), with its `last_step` only when it dropped off there (read
    back by :func:`head_outcome`); `prev_step` for every other span."""
    dropped = VERDICT_BITS["dropped"]
    return (
        f"toUInt32(if(head, {HEAD_PREV} + if(bitAnd({verdict}, {dropped}) != 0, "
        f"{verdict} + {LAST_STEP_UNIT} * last_step, {verdict} % {CAUSE_UNIT}), prev_step))"
    )


@dataclass(frozen=True)
class HeadOutcome:
    """How the journeys counted in a first-span cell ended (see HEAD_PREV)."""

    began: bool
    completed: bool
    conforming: bool
    repeated: bool
    first_contact: bool
    dropped_at: int  # the step index it dropped off after; 0 when it did not drop off
    cause: int  # 1 error, 2 abandoned or timed out, 3 wrong path (when dropped)


def head_outcome(prev: int) -> HeadOutcome | None:
    """The outcome encoded in a cell's `prev`, or None when `prev` is a real previous step (or 0)."""
    if prev < HEAD_PREV:
        return None
    code = prev - HEAD_PREV
    verdict, last_step = code % LAST_STEP_UNIT, code // LAST_STEP_UNIT
    bits = VERDICT_BITS
    dropped = bool(verdict & bits["dropped"])
    return HeadOutcome(
        began=bool(verdict & bits["began"]),
        completed=bool(verdict & bits["completed"]),
        conforming=bool(verdict & bits["conforming"]),
        repeated=bool(verdict & bits["repeated"]),
        first_contact=bool(verdict & bits["first_contact"]),
        dropped_at=last_step if dropped else 0,
        cause=verdict // CAUSE_UNIT if dropped else 0,
    )


# a journey's work changes hands between two spans done by different actors or in different lanes
HANDOFF = every(
    "NOT head",
    any_of("intDiv(meta, 4294967296) != intDiv(prev_meta, 4294967296)",
           "intDiv(meta, 131072) % 8 != intDiv(prev_meta, 131072) % 8"),
)
_COLLECTED = {"starts": "start_ns", "ends": "end_ns", "metas": "meta"}


def _first_contact(graph: JourneyGraph) -> str:
    """Resolved at the journey's first resolution step without a customer step repeated before it."""
    if not any(step.resolution for step in graph.steps):
        return "false"
    return """indexOf(intDiv(flags, 16) % 2, 1) > 0 AND length(arrayDistinct(
            arrayFilter((s, c) -> c = 1, arraySlice(steps, 1, indexOf(intDiv(flags, 16) % 2, 1) - 1),
                        arraySlice(intDiv(flags, 32) % 2, 1, indexOf(intDiv(flags, 16) % 2, 1) - 1))))
            = arrayCount(arraySlice(intDiv(flags, 32) % 2, 1, indexOf(intDiv(flags, 16) % 2, 1) - 1))"""


def _journeys_cte(lend: bool, keyed: bool = False) -> str:
    # Each journey's spans as parallel arrays in start order (sorting plain arrays by one Int64 key is several
    # times faster than sorting an array of tuples), plus masks of the steps visited and needed before them.
    ordered = ", ".join(
        f"arraySort((x, k) -> k, {name}_all, starts_all) AS {name}" for name in ("ends", "metas")
    )
    if not lend:
        # Journeys are traces, or every bound span carries its key: one grouping.
        collected = ", ".join(f"groupArray({row}) AS {name}_all" for name, row in _COLLECTED.items())
        key = "journey, " if keyed else ""
        return f"""journeys AS (
    SELECT {key}arraySort(starts_all) AS starts, {ordered}, visited, needed, first_start, last_end
    FROM (
        SELECT {key}{collected},
               groupBitOr(bit) AS visited, groupBitOr(needs) AS needed,
               min(start_ns) AS first_start, max(end_ns) AS last_end
        FROM spans WHERE step != 0 GROUP BY journey
    )
)"""
    # Some bound spans lack the key (spans of off-the-shelf systems): group by trace and key first, then lend
    # each trace's key to its untagged part (a window over those few rows) and group again by journey.
    per_trace = ", ".join(f"groupArrayIf({row}, step != 0) AS t_{name}" for name, row in _COLLECTED.items())
    flattened = ", ".join(f"arrayFlatten(groupArray(t_{name})) AS {name}_all" for name in _COLLECTED)
    return f"""traces AS (
    SELECT
        trace, tagged, {per_trace},
        groupBitOr(bit) AS t_visited, groupBitOr(needs) AS t_needed,
        minIf(start_ns, step != 0) AS t_first, maxIf(end_ns, step != 0) AS t_last
    FROM spans WHERE step != 0 OR tagged != 0 GROUP BY trace, tagged
),
journeys AS (
    SELECT arraySort(starts_all) AS starts, {ordered}, visited, needed, first_start, last_end
    FROM (
        SELECT {flattened},
               groupBitOr(t_visited) AS visited, groupBitOr(t_needed) AS needed,
               min(t_first) AS first_start, max(t_last) AS last_end
        FROM (SELECT *, anyIf(tagged, tagged != 0) OVER (PARTITION BY trace) AS lent FROM traces)
        WHERE notEmpty(t_starts)
        GROUP BY if(tagged != 0, tagged, if(lent != 0, lent, trace))
    )
)"""


def scan_params(scan: Scan) -> dict[str, Any]:
    return {
        "q_from": scan.start,
        "q_to": scan.end,
        "q_origin": to_ns(scan.origin),
        "q_bucket": scan.bucket_s * _NS,
        "q_reference": to_ns(scan.reference),
    }


def _design_params(graph: JourneyGraph) -> dict[str, Any]:
    """Per-step facts as arrays indexed by the SQL step index (1-based), plus the expected transitions."""
    index = {step_id: n + 1 for n, step_id in enumerate(graph.step_ids)}
    never = 2**63 - 1  # no objective: no span is slow, no wait is long
    return {
        # the required steps before each step (those on every designed path to it), as a bit mask
        "q_required": [sum(1 << (index[d] - 1) for d in graph.required_before[s.id]) for s in graph.steps],
        "q_actor": [step.actor for step in graph.steps],
        # step index | lane << 17 | resolution << 20 | customer lane << 21; the error bit (<< 16) is per span
        "q_meta": [
            n
            + 1
            + ((LANES.index(step.lane) + 1 if step.lane in LANES else 0) << 17)
            + (int(step.resolution) << 20)
            + (int(step.lane == "customer") << 21)
            for n, step in enumerate(graph.steps)
        ],
        "q_start": [int(step.id in graph.start) for step in graph.steps],
        "q_end_mask": sum(1 << (index[s] - 1) for s in graph.end if s in index),
        "q_latency": [
            to_ns(s.latency_threshold_s) if s.latency_threshold_s is not None else never for s in graph.steps
        ],
        "q_max_wait": [to_ns(s.max_wait_s) if s.max_wait_s is not None else never for s in graph.steps],
        "q_expected": sorted(
            index[a] * 65536 + index[b] for a, b in graph.expected if a in index and b in index
        ),
        "q_timeout": int(graph.timeout_s * _NS),
    }


def to_ns(value: datetime | float) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp()) * _NS + value.microsecond * 1000
    return int(round(value * _NS))
