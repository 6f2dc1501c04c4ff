"""Every saved version of every blueprint, in ClickHouse: author, time, message, content and diff.

Versions are numbered 1, 2, … per blueprint. A deletion is a version too (``deleted``, empty content), so a
deleted blueprint can be restored. The diff is a unified diff against the previous version's content.
"""

from __future__ import annotations

import difflib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from blueprints.errors import VersionNotFound, VersionStoreError
from collectors.schema import Migration, register_migration

log = logging.getLogger(__name__)

VERSIONS_TABLE = "touchpoint_blueprint_versions"

VERSIONS_DDL = f"""
CREATE TABLE IF NOT EXISTS {VERSIONS_TABLE} (
    blueprint_id String,
    version UInt32,
    saved_at DateTime64(3, 'UTC'),
    author String,
    message String,
    etag String,
    deleted UInt8,
    content String CODEC(ZSTD(3)),
    diff String CODEC(ZSTD(3))
) ENGINE = MergeTree
ORDER BY (blueprint_id, version)
"""

_COLUMNS = ("blueprint_id", "version", "saved_at", "author", "message", "etag", "deleted", "content", "diff")
_SUMMARY = "blueprint_id, version, saved_at, author, message, etag, deleted"


MIGRATION_VERSION = 150


def ensure_schema(client: Any) -> None:
    """Create the versions table if it does not exist (idempotent; called at start-up)."""
    client.command(VERSIONS_DDL)


# Also a numbered schema migration, so `collectors.schema.migrate` creates the table with the rest.
register_migration(Migration(MIGRATION_VERSION, "blueprint version history", lambda _options: [VERSIONS_DDL]))


@dataclass(frozen=True)
class VersionSummary:
    """One version without its content: what the history list shows."""

    blueprint_id: str
    number: int
    saved_at: datetime  # UTC
    author: str
    message: str
    etag: str
    deleted: bool


@dataclass(frozen=True)
class Version(VersionSummary):
    """One version in full: the file's content then, and the unified diff from the version before."""

    content: str
    diff: str


def unified_diff(blueprint_id: str, before: str, after: str, before_number: int, after_number: int) -> str:
    """The unified diff between two contents of ``<id>.yaml``, labelled with their version numbers."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"{blueprint_id}.yaml@{before_number}" if before_number else "/dev/null",
        tofile=f"{blueprint_id}.yaml@{after_number}",
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


class VersionLog:
    """Reads and appends blueprint versions in ``touchpoint_blueprint_versions``.

    ``client`` is a clickhouse-connect client, or a callable giving the calling thread its own client (such
    as ``ClientPool.client``); a single shared client is used under a lock. Appends are serialised within
    this process so version numbers never repeat; ClickHouse failures raise :class:`VersionStoreError`.
    """

    def __init__(self, client: Any | Callable[[], Any], table: str = VERSIONS_TABLE) -> None:
        if not table.replace("_", "").isalnum():
            raise ValueError(f"table name {table!r} must be letters, digits and underscores")
        self._table = table
        self._append_lock = threading.Lock()
        if callable(client) and not hasattr(client, "query"):
            self._client = client
            self._client_lock: threading.Lock | None = None
        else:
            self._client = lambda: client
            self._client_lock = threading.Lock()

    def record(
        self,
        blueprint_id: str,
        content: str,
        *,
        author: str,
        message: str,
        etag: str,
        now: datetime,
        deleted: bool = False,
    ) -> Version:
        """Append the next version of a blueprint (``content`` empty and ``deleted`` for a deletion)."""
        with self._append_lock:
            previous = self.latest(blueprint_id)
            number = previous.number + 1 if previous else 1
            before = previous.content if previous else ""
            version = Version(
                blueprint_id=blueprint_id,
                number=number,
                saved_at=now.astimezone(UTC),
                author=author,
                message=message,
                etag=etag,
                deleted=deleted,
                content=content,
                diff=unified_diff(blueprint_id, before, content, previous.number if previous else 0, number),
            )
            row = [
                blueprint_id,
                number,
                version.saved_at,
                author,
                message,
                etag,
                int(deleted),
                content,
                version.diff,
            ]
            self._run("insert", lambda c: c.insert(self._table, [row], column_names=list(_COLUMNS)))
        log.info(
            "blueprint version recorded",
            extra={"blueprint": blueprint_id, "version": number, "author": author},
        )
        return version

    def history(self, blueprint_id: str) -> list[VersionSummary]:
        """Every version of a blueprint without content, newest first (empty if it has none)."""
        sql = f"SELECT {_SUMMARY} FROM {self._table} WHERE blueprint_id = {{id:String}} ORDER BY version DESC"
        rows = self._run("query", lambda c: c.query(sql, parameters={"id": blueprint_id}).result_rows)
        return [_summary(row) for row in rows]

    def get(self, blueprint_id: str, number: int) -> Version:
        """One version in full; raises VersionNotFound."""
        sql = (
            f"SELECT {', '.join(_COLUMNS)} FROM {self._table} "
            "WHERE blueprint_id = {id:String} AND version = {n:UInt32} LIMIT 1"
        )
        if number < 1:
            raise VersionNotFound(blueprint_id, number)
        rows = self._run(
            "query", lambda c: c.query(sql, parameters={"id": blueprint_id, "n": number}).result_rows
        )
        if not rows:
            raise VersionNotFound(blueprint_id, number)
        return _version(rows[0])

    def latest(self, blueprint_id: str) -> Version | None:
        """The newest version of a blueprint, or None."""
        sql = (
            f"SELECT {', '.join(_COLUMNS)} FROM {self._table} WHERE blueprint_id = {{id:String}} "
            "ORDER BY version DESC LIMIT 1"
        )
        rows = self._run("query", lambda c: c.query(sql, parameters={"id": blueprint_id}).result_rows)
        return _version(rows[0]) if rows else None

    def latest_etags(self) -> dict[str, tuple[str, bool]]:
        """For every blueprint with versions: its newest version's ETag and whether that was a deletion."""
        sql = (
            f"SELECT blueprint_id, argMax(etag, version), argMax(deleted, version) FROM {self._table} "
            "GROUP BY blueprint_id"
        )
        rows = self._run("query", lambda c: c.query(sql).result_rows)
        return {str(r[0]): (str(r[1]), bool(r[2])) for r in rows}

    def _run(self, what: str, call: Callable[[Any], Any]) -> Any:
        try:
            if self._client_lock is None:
                return call(self._client())
            with self._client_lock:
                return call(self._client())
        except VersionNotFound:
            raise
        except Exception as exc:  # noqa: BLE001 - translated at our edge into one exception type
            raise VersionStoreError(f"blueprint versions {what} on {self._table} failed: {exc}") from exc


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _summary(row: Any) -> VersionSummary:
    return VersionSummary(
        str(row[0]), int(row[1]), _utc(row[2]), str(row[3]), str(row[4]), str(row[5]), bool(row[6])
    )


def _version(row: Any) -> Version:
    return Version(
        str(row[0]),
        int(row[1]),
        _utc(row[2]),
        str(row[3]),
        str(row[4]),
        str(row[5]),
        bool(row[6]),
        content=str(row[7]),
        diff=str(row[8]),
    )
