"""The version history in ClickHouse: numbered versions with author, time, message, content and diff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from blueprints.errors import VersionNotFound, VersionStoreError
from blueprints.versions import VERSIONS_TABLE, VersionLog, ensure_schema, unified_diff

NOW = datetime(2025, 3, 1, 9, 0, 0, 123000, tzinfo=UTC)


@pytest.fixture
def log(ch) -> VersionLog:  # noqa: ANN001 - the conftest's clickhouse-connect client
    ensure_schema(ch)
    ch.command(f"TRUNCATE TABLE {VERSIONS_TABLE}")
    return VersionLog(ch)


def test_ensure_schema_is_idempotent(ch) -> None:  # noqa: ANN001
    ensure_schema(ch)
    ensure_schema(ch)

    assert ch.query(f"EXISTS TABLE {VERSIONS_TABLE}").result_rows == [(1,)]


def test_versions_are_numbered_per_blueprint_from_one(log: VersionLog) -> None:
    first = log.record("a", "id: a\n", author="ann", message="new", etag="e1", now=NOW)
    log.record("b", "id: b\n", author="bob", message="new", etag="e2", now=NOW)
    second = log.record("a", "id: a\nname: A\n", author="ann", message="named", etag="e3", now=NOW)

    assert (first.number, second.number) == (1, 2)
    assert [v.number for v in log.history("b")] == [1]


def test_a_version_keeps_author_time_message_content_and_diff(log: VersionLog) -> None:
    log.record("a", "id: a\nname: A\n", author="ann", message="new", etag="e1", now=NOW)
    log.record(
        "a", "id: a\nname: B\n", author="bob", message="rename", etag="e2", now=NOW + timedelta(hours=1)
    )

    version = log.get("a", 2)

    assert (version.author, version.message, version.etag) == ("bob", "rename", "e2")
    assert version.saved_at == NOW + timedelta(hours=1)
    assert version.content == "id: a\nname: B\n"
    assert version.diff == "--- a.yaml@1\n+++ a.yaml@2\n@@ -1,2 +1,2 @@\n id: a\n-name: A\n+name: B\n"


def test_the_first_version_diffs_against_nothing(log: VersionLog) -> None:
    version = log.record("a", "id: a\n", author="ann", message="", etag="e1", now=NOW)

    assert version.diff.splitlines()[:2] == ["--- /dev/null", "+++ a.yaml@1"]


def test_history_is_newest_first_and_a_deletion_is_a_version(log: VersionLog) -> None:
    log.record("a", "id: a\n", author="ann", message="new", etag="e1", now=NOW)
    log.record("a", "", author="ann", message="gone", etag="", now=NOW, deleted=True)

    history = log.history("a")

    assert [(v.number, v.deleted) for v in history] == [(2, True), (1, False)]
    assert log.latest_etags() == {"a": ("", True)}


def test_an_unknown_version_is_not_found(log: VersionLog) -> None:
    log.record("a", "id: a\n", author="ann", message="", etag="e1", now=NOW)

    with pytest.raises(VersionNotFound, match="blueprint 'a' has no version 7"):
        log.get("a", 7)


def test_values_travel_as_bound_parameters(log: VersionLog) -> None:
    odd = "o'brien\\\"; DROP TABLE x --"
    log.record(odd, "text with ' and \\", author=odd, message=odd, etag="e", now=NOW)

    version = log.get(odd, 1)

    assert (version.blueprint_id, version.author, version.content) == (odd, odd, "text with ' and \\")


def test_a_missing_table_is_reported_as_a_version_store_error(ch) -> None:  # noqa: ANN001
    broken = VersionLog(ch, table="no_such_table")

    with pytest.raises(VersionStoreError, match="blueprint versions query on no_such_table failed"):
        broken.history("a")


def test_unified_diff_marks_a_missing_final_newline() -> None:
    assert unified_diff("a", "x\n", "y", 1, 2).endswith("+y\n\\ No newline at end of file\n")
