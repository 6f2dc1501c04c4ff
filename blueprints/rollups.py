"""Per-minute rollups of `otel_traces` for long windows: DDL, the migration that creates them, and the
list of span attributes they keep.

`touchpoint_span_rollup` holds, per minute, service, span name and *selected* span attributes, the count,
the error count, the summed duration and a histogram of durations (nanoseconds, bfloat16 bins). A
materialized view fills it as spans are inserted (on the embedded engine, as the writer feeds committed spans
to `touchpoint_span_feed` once a second: collectors.rollup_feed, migration 104), so any blueprint's step
selectors can be evaluated on it:
service and span name are kept as they are, and of the attributes only those named in
`touchpoint_rollup_keys` (the conventions plus every key a blueprint selects on; keeping all attributes
would keep every id and defeat the rollup).

`touchpoint_span_rollup_hourly` holds the same rows per hour, filled by a view on the minute rollup (so it
keeps exactly the minute rollup's keys, late spans included): a day-long window merges about a sixtieth of
the duration histograms it would merge from minutes alone.

Adding a key rewrites the view (`ALTER TABLE … MODIFY QUERY`) and records since when the key is kept; a
window that starts earlier than that is answered from raw spans. Journey-level figures (waits, transitions,
conformance) need each journey's spans in order, which a per-minute rollup cannot keep: the live state
computes them from raw spans over a bounded horizon (see :mod:`blueprints.state`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client

from blueprints.selectors import SpanColumns
from blueprints.time_grid import ceil_minute
from collectors.rollup_feed import FEED_TABLE, feed_table_ddl, has_feed
from collectors.schema import TRACES_TABLE, Migration, SchemaOptions, register_migration

ROLLUP_TABLE = "touchpoint_span_rollup"
ROLLUP_VIEW = "touchpoint_span_rollup_mv"
HOURLY_TABLE = "touchpoint_span_rollup_hourly"
HOURLY_VIEW = "touchpoint_span_rollup_hourly_mv"
KEYS_TABLE = "touchpoint_rollup_keys"
ROLLUP_COLUMNS = SpanColumns(service="ServiceName", span="SpanName", attributes="Attributes", trace_id="ServiceName")
ROLLUP_QUANTILES = (0.5, 0.9, 0.95, 0.99)
MIGRATION_VERSION = 100
HOURLY_MIGRATION_VERSION = 102
FEED_MIGRATION_VERSION = 104
# Kept from the start: the attribute conventions of docs/blueprint-format.md that name steps and lanes.
DEFAULT_KEYS = ("actor.type", "blueprint.lane", "blueprint.step", "touchpoint.channel", "touchpoint.id")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_KEY = re.compile(r"^[A-Za-z0-9_.:/\-]{1,128}$")
_LEVELS = ", ".join(map(str, ROLLUP_QUANTILES))


class RollupKeyRefused(ValueError):
    """An attribute key the rollup will not keep (it must be written into the view's definition)."""


@dataclass(frozen=True)
class RollupCoverage:
    """Which attribute keys the rollup keeps, and from which instant each is complete."""

    since: dict[str, datetime]

    def covers(self, keys: Iterable[str], start: datetime) -> bool:
        """True when every key is kept for the whole of a window starting at `start`."""
        return all(key in self.since and self.since[key] <= start for key in keys)


def rollup_table_ddl() -> str:
    """CREATE TABLE for the per-minute rollup."""
    return _aggregating_table_ddl(ROLLUP_TABLE, time_column="Minute", partition="toDate(Minute)")


def hourly_table_ddl() -> str:
    """CREATE TABLE for the per-hour rollup (the minute rollup's columns, `Hour` for `Minute`)."""
    return _aggregating_table_ddl(HOURLY_TABLE, time_column="Hour", partition="toYYYYMM(Hour)")


def _aggregating_table_ddl(table: str, time_column: str, partition: str) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {table} (
    {time_column} DateTime CODEC(Delta, ZSTD(1)),
    ServiceName LowCardinality(String),
    SpanName LowCardinality(String),
    Attributes Map(LowCardinality(String), String),
    Spans SimpleAggregateFunction(sum, UInt64),
    Errors SimpleAggregateFunction(sum, UInt64),
    DurationSum SimpleAggregateFunction(sum, UInt64),
    DurationDigest AggregateFunction(quantilesBFloat16({_LEVELS}), UInt64)
) ENGINE = AggregatingMergeTree
PARTITION BY {partition}
ORDER BY ({time_column}, ServiceName, SpanName, Attributes)
"""


def hourly_select(where: str = "") -> str:
    """The SELECT that folds minute-rollup rows (those matching `where`, SQL, when given) into hours."""
    return f"""
SELECT
    toStartOfHour(Minute) AS Hour,
    ServiceName,
    SpanName,
    Attributes,
    sum(Spans) AS Spans,
    sum(Errors) AS Errors,
    sum(DurationSum) AS DurationSum,
    quantilesBFloat16MergeState({_LEVELS})(DurationDigest) AS DurationDigest
FROM {ROLLUP_TABLE}
{f"WHERE {where}" if where else ""}
GROUP BY Hour, ServiceName, SpanName, Attributes
"""


def keys_table_ddl() -> str:
    """CREATE TABLE for the list of kept attribute keys."""
    return f"""
CREATE TABLE IF NOT EXISTS {KEYS_TABLE} (
    Key String,
    Since DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree ORDER BY Key
"""


def rollup_select(keys: Sequence[str], source: str = TRACES_TABLE, where: str = "") -> str:
    """The SELECT that turns spans inserted into `source` (otel_traces, or the writers' feed) into rollup rows,
    keeping the attributes named in `keys` (of the spans matching `where`, SQL, when given)."""
    literal = ", ".join(_quote_key(k) for k in sorted(set(keys)))
    return f"""
SELECT
    toStartOfMinute(Timestamp) AS Minute,
    ServiceName,
    SpanName,
    mapFilter((k, v) -> has([{literal}], k), SpanAttributes) AS Attributes,
    count() AS Spans,
    countIf(StatusCode = 'Error') AS Errors,
    sum(Duration) AS DurationSum,
    quantilesBFloat16State({_LEVELS})(Duration) AS DurationDigest
FROM {source}
{f"WHERE {where}" if where else ""}
GROUP BY Minute, ServiceName, SpanName, Attributes
"""


def migration_statements(options: SchemaOptions) -> list[str]:
    """Create the rollup, fill it once from the spans already stored, then start the view.

    The backfill runs before the view exists and only into an empty rollup, so re-running the migration after
    a failure neither loses nor doubles rows (the migration runs before the server accepts spans).
    On a cluster (sharded `otel_traces`) no rollup is created: states are answered from raw spans.
    """
    if options.cluster_name:
        return []
    keys = ", ".join(_quote_key(k) for k in DEFAULT_KEYS)
    return [
        rollup_table_ddl(),
        keys_table_ddl(),
        f"INSERT INTO {KEYS_TABLE} (Key, Since) SELECT arrayJoin([{keys}]), toDateTime64(0, 3, 'UTC') "
        f"WHERE (SELECT count() FROM {KEYS_TABLE}) = 0",
        f"INSERT INTO {ROLLUP_TABLE} {rollup_select(DEFAULT_KEYS)} HAVING (SELECT count() FROM {ROLLUP_TABLE}) = 0",
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {ROLLUP_VIEW} TO {ROLLUP_TABLE} AS {rollup_select(DEFAULT_KEYS)}",
    ]


def hourly_migration_statements(options: SchemaOptions) -> list[str]:
    """Create the hourly rollup, fill it once from the minute rollup, then start its view (as above)."""
    if options.cluster_name:
        return []
    return [
        hourly_table_ddl(),
        f"INSERT INTO {HOURLY_TABLE} {hourly_select()} HAVING (SELECT count() FROM {HOURLY_TABLE}) = 0",
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {HOURLY_VIEW} TO {HOURLY_TABLE} AS {hourly_select()}",
    ]


def feed_migration_statements(options: SchemaOptions) -> list[str]:
    """Create the writers' feed table, where the writers feed the rollup (the embedded engine only)."""
    if options.cluster_name or not options.rollup_feed:
        return []
    return [feed_table_ddl()]


def move_view_to_feed(client: Client, _options: SchemaOptions) -> None:
    """Re-create the minute rollup's view on the feed table (where the statements created one), keeping the
    attribute keys it keeps now.

    Runs at start-up, before spans are accepted: nothing is inserted while the view is away.
    """
    if not has_feed(client):
        return
    keys = sorted(read_coverage(client).since) or list(DEFAULT_KEYS)
    client.command(f"DROP VIEW IF EXISTS {ROLLUP_VIEW} SYNC")
    client.command(f"CREATE MATERIALIZED VIEW {ROLLUP_VIEW} TO {ROLLUP_TABLE} AS {rollup_select(keys, FEED_TABLE)}")


def read_coverage(client: Client) -> RollupCoverage:
    """The kept keys and since when each is complete (rounded up to the next whole minute)."""
    rows = client.query(f"SELECT Key, max(Since) FROM {KEYS_TABLE} GROUP BY Key").result_rows
    return RollupCoverage({str(key): ceil_minute(_aware(since)) for key, since in rows})


def ensure_rollup_keys(client: Client, keys: Iterable[str], now: datetime) -> set[str]:
    """Make the rollup keep `keys` from now on; returns the keys that were added (empty if none).

    Raises RollupKeyRefused for a key that is not plain text (letters, digits, `._:/-`, at most 128).
    """
    wanted = set(keys)
    for key in wanted:
        _quote_key(key)
    current = set(read_coverage(client).since)
    missing = wanted - current
    if not missing:
        return set()
    source = FEED_TABLE if has_feed(client) else TRACES_TABLE
    client.command(f"ALTER TABLE {ROLLUP_VIEW} MODIFY QUERY {rollup_select(sorted(current | missing), source)}")
    client.insert(KEYS_TABLE, [[key, now] for key in sorted(missing)], column_names=["Key", "Since"])
    return missing


def _quote_key(key: str) -> str:
    if not _KEY.match(key):
        raise RollupKeyRefused(
            f"attribute key {key!r} cannot be kept in the rollup: use letters, digits and ._:/- (at most 128)"
        )
    return f"'{key}'"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


register_migration(Migration(MIGRATION_VERSION, "per-minute span rollup for long windows", migration_statements))
register_migration(
    Migration(HOURLY_MIGRATION_VERSION, "per-hour span rollup for day-long windows", hourly_migration_statements)
)
register_migration(
    Migration(
        FEED_MIGRATION_VERSION,
        "the embedded engine's writers feed the rollup (no view on otel_traces)",
        feed_migration_statements,
        after=move_view_to_feed,
    )
)
