"""The cluster layout: ON CLUSTER DDL, Replicated engines, a Distributed otel_traces sharded by journey.

No cluster runs here, so the statements are parsed by the real embedded engine (`formatQuery`) and the
sharding expression is evaluated on a real otel_traces table.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from app.settings import Settings
from collectors.cluster import (
    SHARDING_KEY,
    ClusterLayout,
    ClusterLayoutError,
    replicated_engine,
    traces_distributed_ddl,
    traces_local_ddl,
    traces_statements,
)
from collectors.schema import (
    MIGRATIONS,
    TRACES_MERGE_SELECTOR_BASE,
    TRACES_TABLE,
    VERTICAL_MERGE_MIN_ROWS,
    SchemaOptions,
    traces_ddl,
)

LAYOUT = ClusterLayout(cluster="touchpoint", database="tp")


def _parsed(ch, statement: str) -> str:  # noqa: ANN001
    """The statement as the engine's own parser formats it (raises on a syntax error)."""
    return ch.query("SELECT formatQuery({sql:String})", parameters={"sql": statement}).result_rows[0][0]


def test_embedded_ddl_is_a_plain_merge_tree_on_one_node() -> None:
    ddl = traces_ddl(ttl_days=30)
    assert "ENGINE = MergeTree()" in ddl
    assert not re.search(r"ON CLUSTER|Replicated|Distributed", ddl)
    assert "TTL toDateTime(Timestamp) + toIntervalDay(30)" in ddl


def test_otel_traces_keeps_the_exporters_trace_id_and_duration_indexes(ch) -> None:  # noqa: ANN001
    indexes = dict(
        ch.query(
            "SELECT name, type_full FROM system.data_skipping_indices "
            "WHERE database = currentDatabase() AND table = {t:String}",
            parameters={"t": TRACES_TABLE},
        ).result_rows
    )
    assert indexes == {"idx_trace_id": "bloom_filter(0.001)", "idx_duration": "minmax"}


def test_without_a_cluster_the_first_migration_is_the_single_node_table() -> None:
    assert MIGRATIONS[0].statements(SchemaOptions(ttl_days=7)) == [traces_ddl(ttl_days=7)]


def test_otel_traces_merges_more_parts_at_once_column_by_column_on_one_node_only(ch) -> None:  # noqa: ANN001
    created = ch.query(
        "SELECT create_table_query FROM system.tables WHERE database = currentDatabase() AND name = {t:String}",
        parameters={"t": TRACES_TABLE},
    ).result_rows[0][0]
    assert f"merge_selector_base = {TRACES_MERGE_SELECTOR_BASE}" in created
    assert f"vertical_merge_algorithm_min_rows_to_activate = {VERTICAL_MERGE_MIN_ROWS}" in created
    for version in (2, 3):
        tuning = next(m for m in MIGRATIONS if m.version == version)
        assert tuning.statements(SchemaOptions(cluster_name="touchpoint", database="tp")) == []


def test_with_a_cluster_the_first_migration_is_the_cluster_layout() -> None:
    options = SchemaOptions(ttl_days=7, cluster_name="touchpoint", database="tp")
    assert MIGRATIONS[0].statements(options) == traces_statements(LAYOUT, ttl_days=7)


def test_every_cluster_statement_runs_on_the_whole_cluster() -> None:
    for statement in traces_statements(LAYOUT):
        assert "ON CLUSTER 'touchpoint'" in statement


def test_local_table_is_replicated_per_shard_with_the_exporter_columns() -> None:
    ddl = traces_local_ddl(LAYOUT, ttl_days=30)
    assert "CREATE TABLE IF NOT EXISTS tp.otel_traces_local ON CLUSTER 'touchpoint' (" in ddl
    assert (
        "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/tp/otel_traces_local', '{replica}')" in ddl
    )
    assert "TTL toDateTime(Timestamp) + toIntervalDay(30)" in ddl
    # Apart from name, cluster and engine, the columns, indexes, partitioning and order are the exporter's.
    single = traces_ddl(table="tp.otel_traces_local", ttl_days=30)
    assert (
        ddl.replace(" ON CLUSTER 'touchpoint'", "").replace(
            "ReplicatedMergeTree('/clickhouse/tables/{shard}/tp/otel_traces_local', '{replica}')",
            "MergeTree()",
        )
        == single
    )


def test_otel_traces_becomes_a_distributed_table_sharded_by_journey() -> None:
    ddl = traces_distributed_ddl(LAYOUT)
    assert ddl.startswith(
        "CREATE TABLE IF NOT EXISTS tp.otel_traces ON CLUSTER 'touchpoint'\nAS tp.otel_traces_local\n"
    )
    assert ddl.endswith(f"ENGINE = Distributed('touchpoint', 'tp', 'otel_traces_local', {SHARDING_KEY})")
    assert SHARDING_KEY == (
        "cityHash64(if(SpanAttributes['journey.id'] != '', SpanAttributes['journey.id'], TraceId))"
    )


def test_cluster_statements_parse_in_the_embedded_engine(ch) -> None:  # noqa: ANN001
    database, local, distributed = (_parsed(ch, s) for s in traces_statements(LAYOUT, ttl_days=30))
    assert database == "CREATE DATABASE IF NOT EXISTS tp ON CLUSTER touchpoint"
    assert (
        "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/tp/otel_traces_local', '{replica}')"
        in local
    )
    assert "TTL toDateTime(Timestamp) + toIntervalDay(30)" in local
    assert "ENGINE = Distributed('touchpoint', 'tp', 'otel_traces_local', cityHash64(if(" in distributed


def test_a_cluster_macro_is_kept_for_the_servers_to_expand(ch) -> None:  # noqa: ANN001
    statements = traces_statements(ClusterLayout(cluster="{cluster}", database="tp"))
    assert all("ON CLUSTER '{cluster}'" in s for s in statements)
    assert "Distributed('{cluster}', 'tp', 'otel_traces_local'" in statements[2]
    for statement in statements:
        _parsed(ch, statement)


def test_the_local_table_ddl_creates_a_working_table_in_the_embedded_engine(ch) -> None:  # noqa: ANN001
    # The embedded engine has no Keeper and no cluster; with those two clauses taken away, what is left of
    # the cluster's local DDL must create a real table that takes the exporter's rows.
    ddl = traces_local_ddl(LAYOUT).replace(" ON CLUSTER 'touchpoint'", "").replace("tp.", "")
    ddl = re.sub(r"ReplicatedMergeTree\('[^']*', '\{replica\}'\)", "MergeTree()", ddl)
    ch.command(ddl)
    ch.insert(
        "otel_traces_local",
        [[datetime(2025, 1, 1, tzinfo=UTC), "t1", "s1", "svc", "step"]],
        column_names=["Timestamp", "TraceId", "SpanId", "ServiceName", "SpanName"],
    )
    assert ch.query("SELECT count() FROM otel_traces_local").result_rows == [(1,)]


def _insert_spans(ch, spans: list[tuple[str, str]]) -> None:  # noqa: ANN001
    """Spans as (TraceId, journey id or '') into this module's otel_traces."""
    now = datetime(2025, 6, 1, 12, tzinfo=UTC)
    rows = [
        [now, trace, f"span-{i}", "svc", "step", {"journey.id": journey} if journey else {}]
        for i, (trace, journey) in enumerate(spans)
    ]
    ch.insert(
        TRACES_TABLE,
        rows,
        column_names=["Timestamp", "TraceId", "SpanId", "ServiceName", "SpanName", "SpanAttributes"],
    )


def _shards(ch, where: str, shards: int) -> dict[str, set[int]]:  # noqa: ANN001
    rows = ch.query(f"SELECT SpanId, {SHARDING_KEY} % {shards} FROM {TRACES_TABLE} WHERE {where}").result_rows
    found: dict[str, set[int]] = {}
    for span, shard in rows:
        found.setdefault(span, set()).add(int(shard))
    return found


def test_one_journey_across_several_traces_lands_on_one_shard(ch) -> None:  # noqa: ANN001
    ch.command(f"TRUNCATE TABLE {TRACES_TABLE}")
    _insert_spans(ch, [(f"trace-{i}", "j-42") for i in range(12)])
    shards = {int(r[0]) for r in ch.query(f"SELECT {SHARDING_KEY} % 8 FROM {TRACES_TABLE}").result_rows}
    assert len(shards) == 1


def test_spans_without_a_journey_follow_their_trace(ch) -> None:  # noqa: ANN001
    ch.command(f"TRUNCATE TABLE {TRACES_TABLE}")
    _insert_spans(ch, [("trace-a", "")] * 5 + [("trace-a", "j-1")] + [("trace-b", "")] * 5)
    rows = ch.query(
        f"SELECT TraceId, SpanAttributes['journey.id'] AS journey, uniqExact({SHARDING_KEY}) "
        f"FROM {TRACES_TABLE} GROUP BY TraceId, journey ORDER BY TraceId, journey"
    ).result_rows
    assert [(trace, journey, keys) for trace, journey, keys in rows] == [
        ("trace-a", "", 1),
        ("trace-a", "j-1", 1),
        ("trace-b", "", 1),
    ]
    key_of = dict(
        ch.query(
            f"SELECT concat(TraceId, '/', SpanAttributes['journey.id']), any({SHARDING_KEY}) "
            f"FROM {TRACES_TABLE} GROUP BY TraceId, SpanAttributes['journey.id']"
        ).result_rows
    )
    assert key_of["trace-a/"] != key_of["trace-b/"]


def test_journeys_spread_evenly_over_shards(ch) -> None:  # noqa: ANN001
    ch.command(f"TRUNCATE TABLE {TRACES_TABLE}")
    _insert_spans(ch, [(f"trace-{i}", f"j-{i}") for i in range(4000)])
    counts = dict(
        ch.query(
            f"SELECT {SHARDING_KEY} % 4 AS shard, count() FROM {TRACES_TABLE} GROUP BY shard"
        ).result_rows
    )
    assert sorted(counts) == [0, 1, 2, 3]
    assert all(900 <= n <= 1100 for n in counts.values()), counts


def test_replicating_an_engine_keeps_its_own_parameters() -> None:
    assert replicated_engine("MergeTree()", LAYOUT, "t") == (
        "ReplicatedMergeTree('/clickhouse/tables/{shard}/tp/t', '{replica}')"
    )
    assert replicated_engine("MergeTree", LAYOUT, "t") == replicated_engine("MergeTree()", LAYOUT, "t")
    assert replicated_engine("ReplacingMergeTree(version)", LAYOUT, "t") == (
        "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/tp/t', '{replica}', version)"
    )
    assert replicated_engine("SummingMergeTree((spans, errors))", LAYOUT, "t") == (
        "ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/tp/t', '{replica}', (spans, errors))"
    )


def test_a_table_replicated_on_every_node_names_replicas_uniquely_across_shards() -> None:
    assert replicated_engine("MergeTree()", LAYOUT, "leases", sharded=False) == (
        "ReplicatedMergeTree('/clickhouse/tables/all/tp/leases', '{shard}-{replica}')"
    )


@pytest.mark.parametrize("engine", ["Log", "ReplicatedMergeTree('/p', 'r')", "Memory()"])
def test_only_unreplicated_merge_tree_engines_can_be_replicated(engine: str) -> None:
    with pytest.raises(
        ClusterLayoutError, match=re.escape(f"engine {engine!r} is not a MergeTree-family engine")
    ):
        replicated_engine(engine, LAYOUT, "t")


@pytest.mark.parametrize("name", ["", "x'; DROP TABLE otel_traces; --", "a b", "{cluster"])
def test_a_cluster_name_that_could_break_the_ddl_is_refused(name: str) -> None:
    with pytest.raises(ClusterLayoutError, match="must be letters, digits, '_', '.', '-' or a macro"):
        ClusterLayout(cluster=name)
    if name:
        with pytest.raises(ValueError, match="must be letters, digits"):
            traces_ddl(on_cluster=name)


def test_the_cluster_name_setting_refuses_what_the_ddl_would_refuse() -> None:
    assert Settings(cluster_name="prod-eu.1").cluster_name == "prod-eu.1"
    assert Settings(cluster_name="{cluster}").cluster_name == "{cluster}"
    with pytest.raises(ValidationError, match="cluster_name"):
        Settings(cluster_name="x'; DROP")


def test_a_database_name_that_could_break_the_ddl_is_refused() -> None:
    with pytest.raises(
        ClusterLayoutError, match=r"database 'tp; DROP' must be letters, digits and underscores"
    ):
        ClusterLayout(cluster="c", database="tp; DROP")
