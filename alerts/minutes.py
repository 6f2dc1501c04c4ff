"""Per-minute span counts per step, kept in ClickHouse so that long windows (1 hour to 7 days) cost only the
minutes not counted yet.

`touchpoint_alert_step_minutes` holds, per blueprint step and minute of span *end*, how many spans ended, how
many failed, and how many were slower than each latency threshold the rules use. Rows are keyed by a
`signature` of the blueprint's selectors and thresholds: when those change, counting starts afresh under a new
signature. Days older than 8 days before the evaluation instant are dropped (by the evaluation's clock, not
the wall clock, so simulated time works too). A minute is counted once it is `settle` old, so spans that
arrive a little late are still counted; later ones are not (the raw span query answers the last minutes).
Settled minutes are counted `BATCH` at a time: counting reads the raw query's slack before the first of them
(15 minutes or more), so counting one minute per cycle read sixteen minutes of spans per cycle; the minutes
waiting for their batch are answered by the raw span query, which reads them anyway for the short windows.
Window edges are rounded to whole minutes: under 2 minutes of a window of an hour or more.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from alerts.span_stats import NS, Interval, StepWindow, _ns
from alerts.step_binding import row_filter, step_index
from blueprints.selectors import TRACE_COLUMNS, SpanColumns, step_index_expression
from collectors.schema import TRACES_TABLE, Migration, register_migration

MINUTES = "touchpoint_alert_step_minutes"
SETTLE = timedelta(minutes=5)
BATCH = timedelta(minutes=5)
KEEP = timedelta(days=8)
MINUTE = timedelta(minutes=1)
# Windows longer than this are read from the minutes (plus the raw last minutes); shorter ones from raw spans.
LONG = timedelta(minutes=59)

register_migration(
    Migration(
        201,
        "per-minute step counts for long alert windows",
        lambda _o: [
            f"""
CREATE TABLE IF NOT EXISTS {MINUTES} (
    blueprint LowCardinality(String), signature LowCardinality(String), step LowCardinality(String),
    minute DateTime('UTC'), spans UInt64, errors UInt64, slow Array(UInt64)
) ENGINE = MergeTree PARTITION BY toDate(minute) ORDER BY (blueprint, signature, minute, step)"""
        ],
    )
)


@dataclass(frozen=True)
class Counting:
    """What is counted for one blueprint: its steps and each step's latency thresholds (seconds, sorted).

    `slack` is how long before its minute a span may have started and still be counted in it: the raw span
    query's own slack (alerts.evaluate.Watched.slack), so both read the same spans. It bounds how much of
    `otel_traces` counting one new minute reads."""

    blueprint: Any
    thresholds: Mapping[str, tuple[float, ...]]
    columns: SpanColumns = TRACE_COLUMNS
    slack: timedelta = timedelta(hours=2)

    @property
    def signature(self) -> str:
        index = step_index_expression(self.blueprint)  # the same signature whichever columns answer
        text = repr((index.sql, sorted(index.params.items()), sorted(self.thresholds.items())))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def split(
    interval: Interval, now: datetime, counted_to: datetime | None = None
) -> tuple[tuple[datetime, datetime] | None, Interval | None]:
    """An interval as (whole minutes read from the minute table, the raw part after them).

    `counted_to` is where the minute table's counts end (`MinuteCounts.fill`); by default every settled minute.
    """
    edge = _floor(now - SETTLE)
    if counted_to is not None:
        edge = min(edge, counted_to)
    start = _ceil(now - timedelta(seconds=interval.older_s))
    end = now - timedelta(seconds=interval.newer_s)
    if end <= edge:
        return ((start, _floor(end)) if _floor(end) > start else None), None
    minutes = (start, edge) if edge > start else None
    return minutes, Interval((now - edge).total_seconds(), interval.newer_s)


class MinuteCounts:
    """Fills and reads the minute table; remembers per signature up to where it has counted."""

    def __init__(self) -> None:
        self._counted: dict[str, datetime] = {}
        self._expired_up_to: date | None = None
        self._lock = threading.Lock()

    def fill(self, client: Any, counting: Counting, now: datetime) -> datetime:
        """Count the settled minutes not counted yet once there are `BATCH` of them (at most KEEP back).

        Returns where the counts end: the raw span query must answer from there on (`split(…, counted_to)`).
        """
        signature = counting.signature
        edge = _floor(now - SETTLE)
        with self._lock:
            start = self._counted.get(signature)
            if start is None:
                rows = client.query(
                    f"SELECT max(minute), count() FROM {MINUTES} WHERE signature = {{s:String}}",
                    parameters={"s": signature},
                ).result_rows
                start = _aware(rows[0][0]) + MINUTE if rows and rows[0][1] else edge - KEEP
            self._counted[signature] = start  # ask the table only once; ahead of `now` when a later instant ran
            if start + BATCH > edge:
                return min(start, edge)
            client.command(*_fill_sql(counting, signature, max(start, edge - KEEP), edge))
            self._counted[signature] = edge
            self._expire(client, edge - KEEP)
            return edge

    def _expire(self, client: Any, before: datetime) -> None:
        """Drop whole days older than `before` (cheap: a partition at a time)."""
        day = before.date()
        if self._expired_up_to is not None and self._expired_up_to >= day:
            return
        old = client.query(
            "SELECT DISTINCT partition FROM system.parts WHERE database = currentDatabase() AND "
            f"table = '{MINUTES}' AND active AND partition < {{day:String}}",
            parameters={"day": day.isoformat()},
        ).result_rows
        for (partition,) in old:
            client.command(f"ALTER TABLE {MINUTES} DROP PARTITION {{p:String}}", parameters={"p": partition})
        self._expired_up_to = day

    def windows(
        self, client: Any, counting: Counting, ranges: Sequence[tuple[datetime, datetime]]
    ) -> dict[tuple[str, tuple[datetime, datetime]], StepWindow]:
        """Per step, the spans, errors and slow spans over each [start, end) of whole minutes."""
        if not ranges:
            return {}
        steps = [s.id for s in counting.blueprint.steps]
        params: dict[str, Any] = {
            "bp": str(counting.blueprint.id),
            "sig": counting.signature,
            "oldest": min(r[0] for r in ranges),
        }
        columns = ["step"]
        for n, (start, end) in enumerate(ranges):
            params[f"a{n}"], params[f"b{n}"] = start, end
            cond = f"minute >= {{a{n}:DateTime('UTC')}} AND minute < {{b{n}:DateTime('UTC')}}"
            columns += [f"sumIf(spans, {cond})", f"sumIf(errors, {cond})", f"sumForEachIf(slow, {cond})"]
        rows = client.query(
            f"SELECT {', '.join(columns)} FROM {MINUTES} WHERE blueprint = {{bp:String}} AND signature = "
            f"{{sig:String}} AND minute >= {{oldest:DateTime('UTC')}} GROUP BY step",
            parameters=params,
        ).result_rows
        found: dict[tuple[str, tuple[datetime, datetime]], StepWindow] = {}
        for row in rows:
            step = str(row[0])
            if step not in steps:
                continue
            thresholds = counting.thresholds.get(step, ())
            for n, span in enumerate(ranges):
                count, errors, slow = row[1 + 3 * n : 4 + 3 * n]
                found[(step, span)] = StepWindow(
                    int(count), int(errors), {t: int(c) for t, c in zip(thresholds, slow, strict=False)}
                )
        return found


def _fill_sql(counting: Counting, signature: str, start: datetime, end: datetime) -> tuple[str, dict[str, Any]]:
    index = step_index(counting.blueprint, counting.columns, prefix="m")
    steps = [s.id for s in counting.blueprint.steps]
    params: dict[str, Any] = {
        **index.params,
        "bp": str(counting.blueprint.id),
        "sig": signature,
        "ids": steps,
        "thr": [[round(t * NS) for t in counting.thresholds.get(s, ())] for s in steps],
        "start_ns": _ns(start),
        "end_ns": _ns(end),
        "scan_from": start - counting.slack,
        "scan_to": end,
    }
    service_filter = row_filter(counting.blueprint, params, counting.columns)
    sql = f"""
INSERT INTO {MINUTES} (blueprint, signature, step, minute, spans, errors, slow)
SELECT {{bp:String}}, {{sig:String}}, arrayElement({{ids:Array(String)}}, step_idx),
       toDateTime(intDiv(end_ns, 60000000000) * 60, 'UTC') AS minute,
       count(), countIf(failed),
       sumForEach(arrayMap(t -> toUInt64(dur > t), arrayElement({{thr:Array(Array(Int64))}}, step_idx)))
FROM (
    SELECT {index.sql} AS step_idx, toUnixTimestamp64Nano(Timestamp) + toInt64(Duration) AS end_ns,
           toInt64(Duration) AS dur, StatusCode = 'Error' AS failed
    FROM {TRACES_TABLE}
    WHERE Timestamp >= {{scan_from:DateTime64(9)}} AND Timestamp < {{scan_to:DateTime64(9)}} {service_filter}
)
WHERE step_idx > 0 AND end_ns >= {{start_ns:Int64}} AND end_ns < {{end_ns:Int64}}
GROUP BY step_idx, minute
"""
    return sql, params


def _floor(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _ceil(moment: datetime) -> datetime:
    floor = _floor(moment)
    return floor if floor == moment else floor + MINUTE


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
