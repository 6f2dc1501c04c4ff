"""Touchpoint's tables on a ClickHouse cluster: ON CLUSTER DDL, Replicated*MergeTree, Distributed tables.

On a cluster `otel_traces` keeps its name and its columns, but becomes a Distributed table over
`otel_traces_local`, a ReplicatedMergeTree on every shard. Everything that reads or writes `otel_traces` —
our writer, the collector's clickhouse exporter, the dashboard and the alert queries — goes through the
Distributed table unchanged. Rows are sharded by the journey key (`SpanAttributes['journey.id']`, falling
back to `TraceId`), hashed, so one journey's spans land on one shard and per-journey work runs shard-locally.

Every function here is pure: it returns SQL text for `collectors.schema.migrate` to run. The single-node DDL
(`schema.traces_ddl()` with no cluster) is not touched by any of this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from collectors.errors import CollectorError
from collectors.instrument import JOURNEY
from collectors.schema import CLUSTER_NAME_PATTERN, TRACES_TABLE, traces_ddl

LOCAL_SUFFIX = "_local"

# Which shard a span lands on: its journey when it carries one, else its trace. cityHash64 spreads keys
# evenly; Distributed takes it modulo the total shard weight.
SHARDING_KEY = f"cityHash64(if(SpanAttributes['{JOURNEY}'] != '', SpanAttributes['{JOURNEY}'], TraceId))"

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENGINE = re.compile(r"^(?P<family>[A-Za-z]*)MergeTree\s*(?:\((?P<args>.*)\))?$", re.DOTALL)
_ZOOKEEPER_PREFIX = re.compile(r"^(/[A-Za-z0-9_.\-{}]+)+$")


class ClusterLayoutError(CollectorError, ValueError):
    """A cluster layout value (cluster name, database, engine, path) cannot be turned into DDL."""


@dataclass(frozen=True)
class ClusterLayout:
    """Where Touchpoint's tables live on a cluster.

    `cluster` is a name from the servers' `remote_servers` (or the `{cluster}` macro); `database` the database
    the Distributed tables read from. Replica paths use the `{shard}` and `{replica}` macros, which every node
    must define in its `<macros>`.
    """

    cluster: str
    database: str = "default"
    zookeeper_prefix: str = "/clickhouse/tables"

    def __post_init__(self) -> None:
        if not self.cluster or not re.fullmatch(CLUSTER_NAME_PATTERN, self.cluster):
            raise ClusterLayoutError(
                f"cluster name {self.cluster!r} must be letters, digits, '_', '.', '-' "
                "or a macro such as '{cluster}'"
            )
        if not _IDENTIFIER.match(self.database):
            raise ClusterLayoutError(f"database {self.database!r} must be letters, digits and underscores")
        if not _ZOOKEEPER_PREFIX.match(self.zookeeper_prefix):
            raise ClusterLayoutError(
                f"zookeeper_prefix {self.zookeeper_prefix!r} must be an absolute Keeper path "
                "such as /clickhouse/tables"
            )

    def on_cluster(self) -> str:
        """The ON CLUSTER clause for this layout's DDL."""
        return f"ON CLUSTER '{self.cluster}'"


def local_table(table: str) -> str:
    """The name of the per-shard table behind the Distributed table `table`."""
    _check_identifier(table, "table")
    return table + LOCAL_SUFFIX


def replica_path(layout: ClusterLayout, table: str, sharded: bool = True) -> str:
    """The Keeper path of a replicated table: one replica set per shard, or one set spanning all nodes."""
    _check_identifier(table, "table")
    shard = "{shard}" if sharded else "all"
    return f"{layout.zookeeper_prefix}/{shard}/{layout.database}/{table}"


def replicated_engine(engine: str, layout: ClusterLayout, table: str, sharded: bool = True) -> str:
    """The Replicated variant of a MergeTree-family engine, keeping its own parameters.

    `MergeTree()` becomes `ReplicatedMergeTree('<path>', '{replica}')`; `ReplacingMergeTree(version)` becomes
    `ReplicatedReplacingMergeTree('<path>', '{replica}', version)`. A table replicated on every node rather
    than per shard (`sharded=False`: small state such as leases) names its replicas `{shard}-{replica}`,
    unique across the cluster even where replica macros repeat from shard to shard.
    """
    match = _ENGINE.match(engine.strip())
    if match is None or match["family"].startswith("Replicated"):
        raise ClusterLayoutError(
            f"engine {engine!r} is not a MergeTree-family engine to replicate: expected e.g. MergeTree() "
            "or ReplacingMergeTree(version)"
        )
    replica = "{replica}" if sharded else "{shard}-{replica}"
    params = [f"'{replica_path(layout, table, sharded)}'", f"'{replica}'"]
    if match["args"] and match["args"].strip():
        params.append(match["args"].strip())
    return f"Replicated{match['family']}MergeTree({', '.join(params)})"


def traces_local_ddl(layout: ClusterLayout, ttl_days: int = 0) -> str:
    """CREATE TABLE for `otel_traces_local` on every node: the exporter's columns, ReplicatedMergeTree."""
    table = local_table(TRACES_TABLE)
    return traces_ddl(
        table=f"{layout.database}.{table}",
        ttl_days=ttl_days,
        engine=replicated_engine("MergeTree()", layout, table),
        on_cluster=layout.cluster,
    )


def distributed_ddl(layout: ClusterLayout, table: str, sharding_key: str = "rand()") -> str:
    """CREATE TABLE for a Distributed `table` over `<table>_local` on every node, with the same columns."""
    local = local_table(table)
    return (
        f"CREATE TABLE IF NOT EXISTS {layout.database}.{table} {layout.on_cluster()}\n"
        f"AS {layout.database}.{local}\n"
        f"ENGINE = Distributed('{layout.cluster}', '{layout.database}', '{local}', {sharding_key})"
    )


def traces_distributed_ddl(layout: ClusterLayout) -> str:
    """CREATE TABLE for `otel_traces` as a Distributed table sharded by journey (trace when there is none)."""
    return distributed_ddl(layout, TRACES_TABLE, SHARDING_KEY)


def traces_statements(layout: ClusterLayout, ttl_days: int = 0) -> list[str]:
    """The statements creating otel_traces on a cluster, in order: database, local, Distributed table."""
    return [
        f"CREATE DATABASE IF NOT EXISTS {layout.database} {layout.on_cluster()}",
        traces_local_ddl(layout, ttl_days),
        traces_distributed_ddl(layout),
    ]


def _check_identifier(name: str, what: str) -> None:
    if not _IDENTIFIER.match(name):
        raise ClusterLayoutError(f"{what} name {name!r} must be letters, digits and underscores")
