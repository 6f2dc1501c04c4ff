"""What journeys did between steps: the one query behind bottleneck, conformance and drop-off rules.

Each journey's spans (joined by the blueprint's correlation key, ordered by start) become consecutive pairs
(a → b): the step a journey did and the next one it did, `a` empty for the journey's first step, `b` empty
while nothing has followed yet. Pairs are counted per (a, b) with conditional aggregates for every window the
rules need. Only spans that have ended by `now` are read, so a past instant sees what was known then.
Waits are seconds from the end of `a` to the start of `b` (0 when they overlap).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alerts.span_stats import NS, Interval, _ns
from alerts.step_binding import row_filter, step_index
from blueprints.selectors import (
    TRACE_COLUMNS,
    SpanColumns,
    SqlFragment,
    journey_attribute_expression,
)
from blueprints.sql_conditions import any_of, every
from blueprints.sql_text import compact
from collectors.schema import TRACES_TABLE

START = ""  # the step id standing for "before the journey's first step" and "nothing yet"


@dataclass(frozen=True)
class JourneyNeeds:
    """What a blueprint's journey rules read."""

    lookback_s: float = 0.0  # how far before the oldest window a journey's earlier spans are read
    transitions: frozenset[Interval] = frozenset()  # pairs whose `b` ended in the window
    waits: frozenset[Interval] = frozenset()  # waits of pairs whose `b` ended in the window
    wait_limit_s: Mapping[str, float] = field(default_factory=dict)  # b step -> limit counted as "over"
    waiting_for_s: Mapping[str, float] = field(
        default_factory=dict
    )  # a step -> how long one counts as waiting
    instants_s: frozenset[float] = frozenset()  # seconds before now at which to count waiting journeys
    cohorts: frozenset[tuple[Interval, float]] = frozenset()  # (a ended in window, settle seconds)
    not_going_on: frozenset[str] = frozenset()  # steps that do not count as a journey going on (evidence)

    def __or__(self, other: JourneyNeeds) -> JourneyNeeds:
        return JourneyNeeds(
            max(self.lookback_s, other.lookback_s),
            self.transitions | other.transitions,
            self.waits | other.waits,
            {
                **self.wait_limit_s,
                **{k: min(v, self.wait_limit_s.get(k, v)) for k, v in other.wait_limit_s.items()},
            },
            {
                **self.waiting_for_s,
                **{k: max(v, self.waiting_for_s.get(k, v)) for k, v in other.waiting_for_s.items()},
            },
            self.instants_s | other.instants_s,
            self.cohorts | other.cohorts,
            self.not_going_on | other.not_going_on,
        )

    @property
    def oldest_s(self) -> float:
        # Only transitions need a journey's earlier steps; the other figures start at a step in their window.
        olds = [i.older_s + self.lookback_s for i in self.transitions]
        olds += [i.older_s for i in self.waits] + [c[0].older_s for c in self.cohorts]
        olds += [t + max(self.waiting_for_s.values(), default=0.0) for t in self.instants_s]
        return max(olds, default=0.0)

    @property
    def empty(self) -> bool:
        return not (self.transitions or self.waits or self.instants_s or self.cohorts)


@dataclass(frozen=True)
class Waits:
    """Waits before `b` over one window."""

    count: int = 0
    total_s: float = 0.0
    max_s: float = 0.0
    over_limit: int = 0

    @property
    def mean_s(self) -> float | None:
        return self.total_s / self.count if self.count else None


@dataclass(frozen=True)
class JourneyStats:
    """The answer to one journey query; step ids, START for none."""

    now: datetime
    transitions: Mapping[tuple[str, str, Interval], int]
    waits: Mapping[tuple[str, str, Interval], Waits]
    waiting: Mapping[tuple[str, float], int]  # (a, seconds before now) -> journeys waiting after a
    cohorts: Mapping[tuple[str, Interval, float], tuple[int, int]]  # (a, window, settle) -> (did a, went on)


def journey_stats_query(
    blueprint: Any, needs: JourneyNeeds, now: datetime, slack: timedelta, columns: SpanColumns = TRACE_COLUMNS
) -> tuple[str, dict[str, Any]]:
    """The SQL and parameters answering `needs` for `blueprint` at `now`."""
    steps = [step.id for step in blueprint.steps]
    index = step_index(blueprint, columns)
    journey = journey_key(blueprint, columns)
    now_ns = _ns(now)
    params: dict[str, Any] = {
        **index.params,
        **journey.params,
        "now_ns": now_ns,
        "scan_from": now - timedelta(seconds=needs.oldest_s) - slack,
        "scan_to": now,
        "wait_limit": [round(needs.wait_limit_s.get(s, 0.0) * NS) for s in steps] or [0],
        "waiting_for": [round(needs.waiting_for_s.get(s, 0.0) * NS) for s in steps] or [0],
    }
    aggregates = ["a_idx", "b_idx"]

    def window(name: str, interval: Interval) -> tuple[str, str]:
        params[f"{name}_lo"] = now_ns - round(interval.older_s * NS)
        params[f"{name}_hi"] = now_ns - round(interval.newer_s * NS)
        return f"{{{name}_lo:Int64}}", f"{{{name}_hi:Int64}}"

    for n, interval in enumerate(sorted(needs.transitions)):
        lo, hi = window(f"t{n}", interval)
        aggregates.append(f"countIf({every('b_idx > 0', f'b_end >= {lo}', f'b_end < {hi}')})")
    for n, interval in enumerate(sorted(needs.waits)):
        lo, hi = window(f"w{n}", interval)
        cond = every("a_idx > 0", "b_idx > 0", f"b_end >= {lo}", f"b_end < {hi}")
        aggregates += [
            f"countIf({cond})",
            f"sumIf(wait, {cond})",
            f"maxIf(wait, {cond})",
            f"countIf({every(cond, 'limit > 0', 'wait > limit')})",
        ]
    for n, seconds in enumerate(sorted(needs.instants_s)):
        params[f"i{n}"] = now_ns - round(seconds * NS)
        at = f"{{i{n}:Int64}}"
        still_waiting = any_of("b_idx = 0", f"{at} < b_end")
        waiting = every("a_idx > 0", "waiting_for > 0", f"a_end <= {at}", still_waiting, f"{at} - a_end <= waiting_for")
        aggregates.append(f"countIf({waiting})")
    for n, (interval, settle) in enumerate(sorted(needs.cohorts)):
        lo, hi = window(f"c{n}", interval)
        params[f"c{n}_settle"] = round(settle * NS)
        cond = every("a_idx > 0", f"a_end >= {lo}", f"a_end < {hi}")
        went_on = every(cond, "on_end > 0", f"on_end - a_end <= {{c{n}_settle:Int64}}")
        aggregates += [f"countIf({cond})", f"countIf({went_on})"]
    params["not_on"] = [i + 1 for i, s in enumerate(steps) if s in needs.not_going_on] or [0]
    service_filter = row_filter(blueprint, params, columns)
    sql = f"""
SELECT {", ".join(aggregates)}
FROM (
    SELECT a_idx, a_end, b_idx, b_end, on_end,
           greatest(toInt64(0), b_start - a_end) AS wait,
           arrayElement({{wait_limit:Array(Int64)}}, b_idx) AS limit,
           arrayElement({{waiting_for:Array(Int64)}}, a_idx) AS waiting_for
    FROM (
        -- pairs (a, b) of consecutive steps, a = 0 before the first and b = 0 after the last; only the pair
        -- arrays reach the ARRAY JOIN, so no other array is copied once per pair
        SELECT a_idx, a_end, b_idx, b_start, b_end, on_end
        FROM (
            SELECT arrayPushFront(arrayMap(x -> tupleElement(x, 3), seq), toUInt16(0)) AS a_idxs,
                   arrayPushFront(arrayMap(x -> tupleElement(x, 2), seq), toInt64(0)) AS a_ends,
                   arrayPushBack(arrayMap(x -> tupleElement(x, 3), seq), toUInt16(0)) AS b_idxs,
                   arrayPushBack(arrayMap(x -> tupleElement(x, 1), seq), toInt64(0)) AS b_starts,
                   arrayPushBack(arrayMap(x -> tupleElement(x, 2), seq), toInt64(0)) AS b_ends,
                   -- the end of the next step that counts as going on (an email does not), 0 if none yet
                   arrayPushBack(arrayReverseFill(x -> x != 0, arrayMap(x -> if(has({{not_on:Array(UInt16)}},
                       tupleElement(x, 3)), toInt64(0), tupleElement(x, 2)), seq)), toInt64(0)) AS on_ends
            FROM (
                SELECT arraySort(groupArray((start_ns, end_ns, step_idx))) AS seq
                FROM (
                    SELECT {journey.sql} AS journey, {index.sql} AS step_idx,
                           toUnixTimestamp64Nano(Timestamp) AS start_ns,
                           start_ns + toInt64(Duration) AS end_ns
                    FROM {TRACES_TABLE}
                    WHERE Timestamp >= {{scan_from:DateTime64(9)}} AND Timestamp <= {{scan_to:DateTime64(9)}}
                          {service_filter}
                )
                -- filtered here, not in the scan's WHERE: measured a quarter less CPU for the whole query
                WHERE journey != '' AND step_idx > 0 AND end_ns < {{now_ns:Int64}}
                GROUP BY journey
            )
        )
        ARRAY JOIN a_idxs AS a_idx, a_ends AS a_end, b_idxs AS b_idx, b_starts AS b_start, b_ends AS b_end,
                   on_ends AS on_end
    )
)
GROUP BY a_idx, b_idx
"""
    return compact(sql), params


def journey_key(blueprint: Any, columns: SpanColumns) -> SqlFragment:
    """The journey a row belongs to: its correlation attribute (from its own column where the database has
    one), else its trace."""
    attribute = journey_attribute_expression(blueprint, columns)
    if attribute is None:
        return SqlFragment(columns.trace_id)
    return SqlFragment(f"if({attribute.sql} != '', {attribute.sql}, {columns.trace_id})", attribute.params)


def journey_stats_from_rows(
    rows: Sequence[Sequence[Any]], blueprint: Any, needs: JourneyNeeds, now: datetime
) -> JourneyStats:
    """Read the query's rows back into `JourneyStats`."""
    steps = [START] + [step.id for step in blueprint.steps]
    transitions: dict[tuple[str, str, Interval], int] = {}
    waits: dict[tuple[str, str, Interval], Waits] = {}
    waiting: dict[tuple[str, float], int] = {}
    cohorts: dict[tuple[str, Interval, float], tuple[int, int]] = {}
    instants = sorted(needs.instants_s)
    for row in rows:
        a, b = steps[int(row[0])], steps[int(row[1])]
        col = 2
        for interval in sorted(needs.transitions):
            if row[col]:
                transitions[(a, b, interval)] = int(row[col])
            col += 1
        for interval in sorted(needs.waits):
            count, total, longest, over = row[col : col + 4]
            if count:
                waits[(a, b, interval)] = Waits(int(count), total / NS, longest / NS, int(over))
            col += 4
        for seconds in instants:
            if row[col]:
                waiting[(a, seconds)] = waiting.get((a, seconds), 0) + int(row[col])
            col += 1
        for interval, settle in sorted(needs.cohorts):
            did, went_on = row[col : col + 2]
            if did:
                old = cohorts.get((a, interval, settle), (0, 0))
                cohorts[(a, interval, settle)] = (old[0] + int(did), old[1] + int(went_on))
            col += 2
    return JourneyStats(now, transitions, waits, waiting, cohorts)
