"""The live state of a blueprint over a window: plan which tables answer, run two or three queries, and
assemble a :class:`~blueprints.state_model.BlueprintState`.

`compute_state` is the only function here that talks to ClickHouse; `plan_state` and `assemble_state` are
pure. Windows up to `StateOptions.rollup_after_s` are answered from raw spans in one journey pass plus one
query for unmapped names. Longer windows take per-step counts, errors, percentiles and series from the
per-minute rollup, and walk journeys (waits, transitions, completion, conformance, in-flight spans) over the
last `journey_horizon_s` of the window only (15 minutes unless configured, the same journeys the default
live window shows); the state then says so in `journey_window`.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from blueprints.figures import Observed, merge_walked, parse_journey_rows, parse_rollup_rows
from blueprints.health import HealthPolicy
from blueprints.journey_graph import JourneyGraph, journey_graph
from blueprints.rollup_sql import rollup_step_query, rollup_unmapped_query
from blueprints.rollups import RollupCoverage, read_coverage
from blueprints.selectors import SpanColumns, selector_attribute_keys
from blueprints.side_sql import unkeyed_query, unmapped_query
from blueprints.state_assembly import assemble_state
from blueprints.state_model import BlueprintState, Window
from blueprints.state_sql import Scan, SqlQuery, journey_query
from blueprints.time_grid import ceil_minute, floor_minute, floor_to
from blueprints.trace_columns import trace_columns
from blueprints.walk_store import StoredWalk, WalkStore, blueprint_walk_key
from blueprints.walk_store_sql import stored_state_query, unsettled_spans

log = logging.getLogger(__name__)

SOURCES = ("auto", "raw", "rollup")
_NICE_BUCKETS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


class StateUnavailable(RuntimeError):
    """ClickHouse could not answer a state query; the message names the blueprint, window and cause."""


@dataclass(frozen=True)
class StateOptions:
    """How a state is computed: which tables, how far journeys are walked, how fine the series is."""

    source: str = "auto"  # auto | raw | rollup
    rollup_after_s: float = 6 * 3600.0  # windows at least this long use the rollup (when it covers them)
    journey_horizon_s: float = 900.0  # with the rollup, journeys are walked over the window's last 15 minutes
    series_points: int = 30
    unmapped_limit: int = 10
    bottleneck_limit: int = 8
    policy: HealthPolicy = field(default_factory=HealthPolicy)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"StateOptions.source {self.source!r} is not one of {', '.join(SOURCES)}")
        if self.journey_horizon_s <= 0 or self.series_points < 1:
            raise ValueError("StateOptions.journey_horizon_s and series_points must be positive")


@dataclass(frozen=True)
class StatePlan:
    """Which tables answer and over which periods."""

    source: str  # raw | rollup
    window: Window
    walk: Scan  # the journey pass: the whole window (raw) or its last journey_horizon_s (rollup)


def plan_state(
    start: datetime,
    end: datetime,
    now: datetime,
    options: StateOptions,
    coverage: RollupCoverage | None,
    selector_keys: set[str],
) -> StatePlan:
    """Pick raw or rollup and cut the series; rollup windows are widened to whole minutes."""
    check_window(start, end)
    length_s = (end - start).total_seconds()
    wants_rollup = options.source == "rollup" or (
        options.source == "auto" and length_s >= options.rollup_after_s
    )
    use_rollup = (
        wants_rollup
        and coverage is not None
        and (options.source == "rollup" or coverage.covers(selector_keys, floor_minute(start)))
    )
    if use_rollup:
        start, end = floor_minute(start), ceil_minute(end)
        length_s = (end - start).total_seconds()
    bucket_s = bucket_seconds(length_s, options.series_points, whole_minutes=use_rollup)
    reference = min(end, now)
    walk_start = max(start, end - timedelta(seconds=options.journey_horizon_s)) if use_rollup else start
    # Rollup points are aligned to the clock so that whole hours can be read from the hourly rollup.
    origin = floor_to(start, bucket_s) if use_rollup else start
    return StatePlan(
        source="rollup" if use_rollup else "raw",
        window=Window(start=start, end=end, bucket_s=bucket_s, origin=origin if origin != start else None),
        walk=Scan(start=walk_start, end=end, origin=origin, bucket_s=bucket_s, reference=reference),
    )


def compute_state(
    client: Any,
    blueprint: Any,
    start: datetime,
    end: datetime,
    now: datetime,
    options: StateOptions | None = None,
    side_client: Callable[[], Any] | None = None,
    walks: WalkStore | None = None,
) -> BlueprintState:
    """The live state of `blueprint` over [start, end), judged at `now` (all timezone-aware).

    `side_client`, when given, returns a client for the thread calling it (such as a per-thread pool's): what
    does not depend on the journey walk (unmapped names; the rollup's figures for a long window) is then read
    on another thread while `client` walks the journeys, so a viewer waits for the longer of the two rather
    than their sum.

    `walks`, when given, holds journeys walked ahead (blueprints.walk_store): those it can answer for are read
    from it, and only the others are walked; the answer is the same.

    Raises ValueError for a bad window and StateUnavailable when ClickHouse refuses a query.
    """
    options = options or StateOptions()
    graph = journey_graph(blueprint)
    coverage = None
    if options.source == "rollup" or (
        options.source == "auto" and (end - start).total_seconds() >= options.rollup_after_s
    ):
        coverage = _coverage(client)
    plan = plan_state(start, end, now, options, coverage, selector_attribute_keys([blueprint]))
    began = time.perf_counter()
    observed = _observe(client, blueprint, graph, plan, options, side_client, walks)
    query_ms = (time.perf_counter() - began) * 1000.0
    log.debug(
        "blueprint state computed",
        extra={"blueprint": graph.blueprint_id, "source": plan.source, "query_ms": round(query_ms, 1)},
    )
    return assemble_state(
        graph,
        plan.source,
        plan.window,
        plan.walk,
        observed,
        now,
        query_ms,
        options.policy,
        options.bottleneck_limit,
    )


def check_window(start: datetime, end: datetime) -> None:
    """Raise ValueError unless [start, end) is a non-empty window of timezone-aware instants."""
    for name, value in (("start", start), ("end", end)):
        if value.tzinfo is None:
            raise ValueError(
                f"window {name} {value.isoformat()} has no timezone: give an offset such as Z or +02:00"
            )
    if end <= start:
        raise ValueError(f"window end {end.isoformat()} must be after its start {start.isoformat()}")


def bucket_seconds(length_s: float, points: int, whole_minutes: bool = False) -> int:
    """The smallest round bucket width that cuts `length_s` into at most `points` buckets."""
    wanted = length_s / points
    for width in _NICE_BUCKETS_S:
        if width >= wanted and (not whole_minutes or width % 60 == 0):
            return width
    return int(math.ceil(wanted / 86400) * 86400)


def _observe(
    client: Any,
    blueprint: Any,
    graph: JourneyGraph,
    plan: StatePlan,
    options: StateOptions,
    side_client: Callable[[], Any] | None,
    walks: WalkStore | None = None,
) -> Observed:
    ids = graph.step_ids
    window = plan.window
    columns = _trace_columns(client, graph)
    # What does not depend on the journey walk: unmapped names, and for long windows the rollup's figures.
    if plan.source == "raw":
        side_queries = [unmapped_query(blueprint, window.start, window.end, options.unmapped_limit, columns)]
    else:
        side_queries = [
            rollup_step_query(blueprint, window.start, window.end, plan.walk.origin, window.bucket_s),
            rollup_unmapped_query(blueprint, window.start, window.end, options.unmapped_limit),
        ]

    def read_side(on: Any) -> list[list[dict[str, Any]]]:
        return [_rows(on, query, graph) for query in side_queries]

    def walk(lend: bool) -> Observed:
        query = journey_query(blueprint, graph, plan.walk, columns, lend=lend)
        return parse_journey_rows(_rows(client, query, graph), ids)

    beside = None if side_client is None else _side_threads().submit(lambda: read_side(side_client()))
    stored = None if walks is None else walks.find(blueprint_walk_key(blueprint, columns, graph))
    ahead = None
    if stored is not None and stored.covers(plan.walk.start, plan.walk.end):
        ahead = _walk_with_store(client, blueprint, graph, plan.walk, columns, walks, stored, side_client)
        walks.used(lent=ahead is None)
    if ahead is not None:
        walked = parse_journey_rows(ahead, ids)
    elif (unkeyed := unkeyed_query(blueprint, plan.walk, columns)) is None:
        walked = walk(False)
    elif side_client is None:
        walked = walk(bool(_rows(client, unkeyed, graph)))
    else:
        # Whether some bound span lacks the journey key is asked beside the walk, which meanwhile assumes
        # the answer this blueprint's last state got (traffic seldom changes its habits); a wrong guess
        # walks again.
        check = _side_threads().submit(lambda: bool(_rows(side_client(), unkeyed, graph)))
        guess = _LENT.get(graph.blueprint_id, False)
        walked = walk(guess)
        lend = _LENT[graph.blueprint_id] = check.result()
        if lend != guess:
            walked = walk(lend)
    side_rows = read_side(client) if beside is None else beside.result()
    if plan.source == "raw":
        (unmapped,) = side_rows
        observed = walked
    else:
        rolled, unmapped = side_rows
        observed = merge_walked(parse_rollup_rows(rolled, ids), walked)
    return Observed(
        steps=observed.steps,
        series=observed.series,
        edges=observed.edges,
        journeys=observed.journeys,
        unmapped=[(r["service"], r["span_name"], int(r["spans"])) for r in unmapped],
    )


def _walk_with_store(
    client: Any,
    blueprint: Any,
    graph: JourneyGraph,
    scan: Scan,
    columns: SpanColumns,
    walks: WalkStore,
    stored: StoredWalk,
    side_client: Callable[[], Any] | None,
) -> list[dict[str, Any]] | None:
    """journey_query's rows with the journeys stored in `stored` read from it; None when some bound span of
    the window lacks the journey key (the caller then walks live, lending keys). That check runs beside the
    query (on `side_client`'s threads, when given)."""
    # the stored walk found every bound span keyed, so only those it did not walk are looked at
    late = walks.late_seconds(stored)
    unkeyed = unkeyed_query(blueprint, scan, columns, among=unsettled_spans(stored, late))

    def keyed(on: Any) -> bool:
        return unkeyed is None or not _rows(on, unkeyed, graph)

    check = None if side_client is None else _side_threads().submit(lambda: keyed(side_client()))
    rows = _rows(client, stored_state_query(blueprint, graph, scan, stored, late, columns), graph)
    return rows if (keyed(client) if check is None else check.result()) else None


# Per blueprint id: whether its last walk had to lend journey keys to spans without one.
_LENT: dict[str, bool] = {}


@functools.cache
def _side_threads() -> ThreadPoolExecutor:
    """The threads that read unmapped names, the rollup and the unkeyed check beside a journey walk (started on
    first use)."""
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="touchpoint-state-side")


def _rows(client: Any, query: SqlQuery, graph: JourneyGraph) -> list[dict[str, Any]]:
    try:
        result = client.query(query.sql, parameters=query.params, settings=query.settings or None)
    except Exception as exc:  # clickhouse-connect raises several types; all mean the same to the caller
        raise StateUnavailable(
            f"live state of blueprint {graph.blueprint_id!r}: ClickHouse refused a query: {exc}"
        ) from exc
    names = result.column_names
    return [dict(zip(names, row, strict=True)) for row in result.result_rows]


def _trace_columns(client: Any, graph: JourneyGraph) -> SpanColumns:
    try:
        return trace_columns(client)
    except Exception as exc:
        raise StateUnavailable(
            f"live state of blueprint {graph.blueprint_id!r}: ClickHouse refused a query: {exc}"
        ) from exc


def _coverage(client: Any) -> RollupCoverage | None:
    try:
        return read_coverage(client)
    except Exception as exc:  # noqa: BLE001 - no rollup (not migrated yet) means raw spans answer
        log.warning("span rollup unavailable, answering from raw spans", extra={"error": str(exc)})
        return None
