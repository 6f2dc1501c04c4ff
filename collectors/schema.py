"""The ClickHouse schema: `otel_traces` exactly as the OpenTelemetry Collector's ClickHouse exporter
writes it, plus Touchpoint's own tables, created by versioned, idempotent migrations.

Never change the meaning of an `otel_traces` column: a stock collector must be able to write into the same
table and read what we wrote. Durations there are nanoseconds (`Duration UInt64`); timestamps are
`DateTime64(9)` in UTC.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from clickhouse_connect.driver.client import Client

log = logging.getLogger(__name__)

TRACES_TABLE = "otel_traces"
# A cluster name as remote_servers spells it, or a macro the servers expand (`{cluster}`).
CLUSTER_NAME_PATTERN = r"[A-Za-z0-9_.\-]+|\{[A-Za-z_]+\}"
MIGRATIONS_TABLE = "touchpoint_schema_migrations"
# Settings for inserts of spans: otel_traces (and the rollups behind it) are partitioned by day, and an imported
# event log or a backfill may span years in one insert.
SPAN_INSERT_SETTINGS = {"max_partitions_per_insert_block": 0}

# The columns of otel_traces in the exporter's order, with their ClickHouse types.
TRACES_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Timestamp", "DateTime64(9)"),
    ("TraceId", "String"),
    ("SpanId", "String"),
    ("ParentSpanId", "String"),
    ("TraceState", "String"),
    ("SpanName", "LowCardinality(String)"),
    ("SpanKind", "LowCardinality(String)"),
    ("ServiceName", "LowCardinality(String)"),
    ("ResourceAttributes", "Map(LowCardinality(String), String)"),
    ("ScopeName", "String"),
    ("ScopeVersion", "String"),
    ("SpanAttributes", "Map(LowCardinality(String), String)"),
    ("Duration", "UInt64"),
    ("StatusCode", "LowCardinality(String)"),
    ("StatusMessage", "String"),
    ("Events.Timestamp", "Array(DateTime64(9))"),
    ("Events.Name", "Array(LowCardinality(String))"),
    ("Events.Attributes", "Array(Map(LowCardinality(String), String))"),
    ("Links.TraceId", "Array(String)"),
    ("Links.SpanId", "Array(String)"),
    ("Links.TraceState", "Array(String)"),
    ("Links.Attributes", "Array(Map(LowCardinality(String), String))"),
)


def traces_ddl(table: str = TRACES_TABLE, ttl_days: int = 0, engine: str = "MergeTree()", on_cluster: str = "") -> str:
    """CREATE TABLE for otel_traces, column for column the collector exporter's DDL.

    Its partitioning, sort key, trace-id bloom filter and duration index are the exporter's too. The
    exporter's four bloom filters over the attribute maps' keys and values are left out: rebuilt on every
    merge, they cost about 15% of the engine's CPU per stored span (bench/ingest.py's insert figures), and
    Touchpoint's queries read the convention columns and the rollup rather than search the maps. A table the
    collector created keeps them; nothing reads differently either way.

    `on_cluster` names a cluster to create the table on every node of (`ON CLUSTER 'name'`); left empty,
    the statement is exactly the single-node one. collectors.cluster builds the sharded layout on this.
    """
    if on_cluster and not re.fullmatch(CLUSTER_NAME_PATTERN, on_cluster):
        raise ValueError(
            f"cluster name {on_cluster!r} must be letters, digits, '_', '.', '-' or a macro such as '{{cluster}}'"
        )
    ttl = f"TTL toDateTime(Timestamp) + toIntervalDay({int(ttl_days)})" if ttl_days > 0 else ""
    cluster = f" ON CLUSTER '{on_cluster}'" if on_cluster else ""
    return f"""
CREATE TABLE IF NOT EXISTS {table}{cluster} (
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
) ENGINE = {engine}
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))
{ttl}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1
"""


@dataclass(frozen=True)
class SchemaOptions:
    """What the DDL depends on."""

    ttl_days: int = 0  # 0 keeps spans forever
    cluster_name: str = ""  # non-empty: replicated, sharded tables ON CLUSTER (see collectors.cluster)
    database: str = ""  # the database the Distributed tables read from; migrate() fills in the client's
    rollup_feed: bool = False  # the writers feed the rollup, no view on otel_traces (the embedded engine)


@dataclass(frozen=True)
class Migration:
    """One numbered schema step; its statements must be idempotent (IF NOT EXISTS)."""

    version: int
    description: str
    statements: Callable[[SchemaOptions], Sequence[str]] = field(repr=False)
    # Run after the statements, for steps that depend on what the database holds (e.g. a view's current keys).
    after: Callable[[Client, SchemaOptions], None] | None = field(default=None, repr=False)


def _migrations_table() -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (
    version UInt32,
    description String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = MergeTree ORDER BY version
"""


def _traces_statements(options: SchemaOptions) -> list[str]:
    if not options.cluster_name:
        return [traces_ddl(ttl_days=options.ttl_days)]
    from collectors.cluster import ClusterLayout, traces_statements  # cluster.py builds on this module

    layout = ClusterLayout(cluster=options.cluster_name, database=options.database)
    return traces_statements(layout, options.ttl_days)


# Merge more parts at once than ClickHouse's default (5): receivers insert a few thousand spans at a time, and
# with the default every span was rewritten three or four times by merges, which took about 40% of the
# engine's CPU while ingesting (bench/ingest.py). A wider base roughly halves that at the price of more
# parts alive between merges (read by queries, still far below parts_to_delay_insert).
TRACES_MERGE_SELECTOR_BASE = 20


def _traces_setting(options: SchemaOptions, setting: str, value: int) -> list[str]:
    """ALTER otel_traces to one table setting on a single node; shards keep ClickHouse's defaults (their
    operators tune them)."""
    if options.cluster_name:
        return []
    return [f"ALTER TABLE {TRACES_TABLE} MODIFY SETTING {setting} = {value}"]


def _merge_setting_statements(options: SchemaOptions) -> list[str]:
    return _traces_setting(options, "merge_selector_base", TRACES_MERGE_SELECTOR_BASE)


# Merge column by column (ClickHouse's vertical algorithm) whatever the parts' size: by default only merges of
# 131,072 rows or more do, and receivers' parts are a few thousand rows. Merged column by column, the many
# small merges of a steady ingest took about a fifth less of the engine's CPU per stored span (bench/ingest.py,
# server-schema inserts: 7.4 against 9.7 µs over four interleaved runs) and the server ~6% less per span.
VERTICAL_MERGE_MIN_ROWS = 1


def _vertical_merge_statements(options: SchemaOptions) -> list[str]:
    return _traces_setting(options, "vertical_merge_algorithm_min_rows_to_activate", VERTICAL_MERGE_MIN_ROWS)


MIGRATIONS: list[Migration] = [
    Migration(1, "otel_traces as the collector's ClickHouse exporter writes it", _traces_statements),
    Migration(2, "otel_traces merges more parts at once (less rewriting while ingesting)", _merge_setting_statements),
    Migration(3, "otel_traces merges column by column (less CPU per stored span)", _vertical_merge_statements),
]


def register_migration(migration: Migration) -> None:
    """Add a migration from another package (rollups, blueprint versions, alert state); versions must be unique."""
    if any(m.version == migration.version for m in MIGRATIONS):
        raise ValueError(f"schema migration {migration.version} is defined twice")
    MIGRATIONS.append(migration)
    MIGRATIONS.sort(key=lambda m: m.version)


def has_tables(client: Client, names: Sequence[str]) -> bool:
    """True when this client's database holds every table in `names` (tables a migration creates only with some
    options, such as those of the embedded engine)."""
    rows = client.query(
        "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name IN {t:Array(String)}",
        parameters={"t": list(names)},
    ).result_rows
    return int(rows[0][0]) == len(set(names))


def applied_versions(client: Client) -> set[int]:
    """The migration versions already applied to this database."""
    client.command(_migrations_table())
    return {int(r[0]) for r in client.query(f"SELECT version FROM {MIGRATIONS_TABLE}").result_rows}


def migrate(client: Client, options: SchemaOptions | None = None) -> list[int]:
    """Apply every migration not yet applied, in order; returns the versions applied now."""
    options = options or SchemaOptions()
    if options.cluster_name and not options.database:
        options = replace(options, database=client.database or "default")
    done = applied_versions(client)
    applied: list[int] = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        for statement in migration.statements(options):
            client.command(statement)
        if migration.after is not None:
            migration.after(client, options)
        client.insert(
            MIGRATIONS_TABLE, [[migration.version, migration.description]], column_names=["version", "description"]
        )
        log.info("schema migration applied", extra={"version": migration.version, "description": migration.description})
        applied.append(migration.version)
    return applied
