"""Refolding the rollup where it lost spans: minutes for which it counted fewer spans than `otel_traces` holds.

Where the writers feed the rollup (the embedded engine, see collectors.rollup_feed), spans acknowledged in
the second before the process died are stored in `otel_traces` but were never folded. At start-up, before
spans are accepted, :func:`repair_rollup` finds the days whose parts hold more spans than the rollup counted
(from part metadata, without reading spans), then the minutes of those days that do, and folds those again:
their minute rows are deleted and rebuilt from raw spans, and the hours holding them from the minute rollup.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from clickhouse_connect.driver.client import Client

from blueprints.rollups import HOURLY_TABLE, ROLLUP_TABLE, hourly_select, read_coverage, rollup_select
from collectors.schema import TRACES_TABLE

log = logging.getLogger(__name__)

_MUTATION = {"mutations_sync": 2, "lightweight_deletes_sync": 2}


def short_days(client: Client) -> list[date]:
    """Days (otel_traces' partitions) holding more spans than the rollup counted for them.

    Read from the parts' row counts, so it costs nothing per span. Days where the rollup counted more (spans
    dropped by a TTL, which the rollup outlives) are not short.
    """
    raw = (
        "SELECT toDate(partition) AS k, sum(rows) AS raw FROM system.parts "
        "WHERE database = currentDatabase() AND table = {table:String} AND active GROUP BY k"
    )
    rolled = f"SELECT toDate(Minute) AS k, sum(Spans) AS rolled FROM {ROLLUP_TABLE} GROUP BY k"
    return _short(client, raw, rolled, {"table": TRACES_TABLE})


def unfolded_minutes(client: Client, days: list[date]) -> list[datetime]:
    """Minutes of `days` holding more spans in otel_traces than the rollup counted."""
    if not days:
        return []
    raw = (
        f"SELECT toStartOfMinute(Timestamp) AS k, count() AS raw FROM {TRACES_TABLE} "
        "WHERE has({days:Array(Date)}, toDate(Timestamp)) GROUP BY k"
    )
    rolled = (
        f"SELECT Minute AS k, sum(Spans) AS rolled FROM {ROLLUP_TABLE} "
        "WHERE has({days:Array(Date)}, toDate(Minute)) GROUP BY k"
    )
    return _short(client, raw, rolled, {"days": days})


def _short(client: Client, raw: str, rolled: str, parameters: dict[str, object]) -> list:
    """The keys `k` for which `raw` (columns k, raw) counts more than `rolled` (columns k, rolled) does."""
    rows = client.query(
        f"SELECT k FROM ({raw}) AS r LEFT JOIN ({rolled}) AS u USING k WHERE raw > rolled ORDER BY k",
        parameters=parameters,
        settings={"join_use_nulls": 0},
    ).result_rows
    return [row[0] for row in rows]


def repair_rollup(client: Client) -> list[datetime]:
    """Fold again every minute for which the rollup counted fewer spans than otel_traces holds; returns them."""
    minutes = unfolded_minutes(client, short_days(client))
    if not minutes:
        return []
    keys = sorted(read_coverage(client).since)
    params = {"minutes": minutes}
    listed = "{minutes:Array(DateTime('UTC'))}"
    hours = f"arrayMap(m -> toStartOfHour(m), {listed})"
    in_minutes = (
        f"Timestamp >= arrayMin({listed}) AND Timestamp < arrayMax({listed}) + 60 "
        f"AND has({listed}, toStartOfMinute(toDateTime(Timestamp, 'UTC')))"
    )
    client.command(f"DELETE FROM {ROLLUP_TABLE} WHERE has({listed}, Minute)", parameters=params, settings=_MUTATION)
    client.command(f"DELETE FROM {HOURLY_TABLE} WHERE has({hours}, Hour)", parameters=params, settings=_MUTATION)
    # The minutes again from raw spans; the hourly view adds them to their (now empty) hours ...
    refold = rollup_select(keys, TRACES_TABLE, where=in_minutes)
    client.command(f"INSERT INTO {ROLLUP_TABLE} {refold}", parameters=params)
    # ... and the other minutes of those hours come from the minute rollup, which kept them.
    others = f"has({hours}, toStartOfHour(Minute)) AND NOT has({listed}, Minute)"
    client.command(f"INSERT INTO {HOURLY_TABLE} {hourly_select(where=others)}", parameters=params)
    log.warning(
        "span rollup refolded where it missed spans",
        extra={"minutes": len(minutes), "first": minutes[0].isoformat(), "last": minutes[-1].isoformat()},
    )
    return minutes
