"""Opening ClickHouse through clickhouse-connect: the embedded engine (chdb) or a server over HTTP(S).

A DSN chooses the engine:

- ``chdb://./.touchpoint/data`` or ``chdb:///abs/path``: the embedded engine, data kept in that directory.
  Only one process may open a data directory; :class:`EngineLock` turns the engine's opaque refusal into a
  clear message before we even try. Options: ``?database=name``, and ``?uncompressed_cache_mb=N`` (default
  256, 0 for none): how much decompressed column data the engine keeps for queries that ask for it (the live
  state's reads of raw spans), so that a dashboard asking again for the same window does not decompress the
  same blocks again.
- ``http://user:pass@host:8123/db`` or ``https://…``: a ClickHouse server.
"""

from __future__ import annotations

import fcntl
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from collectors.errors import DatabaseLocked, InvalidDsn

DEFAULT_DSN = "chdb://./.touchpoint/data"
DEFAULT_UNCOMPRESSED_CACHE_MB = 256
_CHDB_OPTIONS = ("database", "uncompressed_cache_mb")


@dataclass(frozen=True)
class Dsn:
    """A parsed database address."""

    kind: Literal["chdb", "http"]
    url: str  # what clickhouse-connect gets: chdb:///abs/path or the http(s) URL as given
    path: Path | None  # the data directory, for chdb
    database: str  # the database named in the DSN ("default" when none)
    uncompressed_cache_mb: int = DEFAULT_UNCOMPRESSED_CACHE_MB  # the embedded engine's, when this DSN starts it

    @property
    def embedded(self) -> bool:
        return self.kind == "chdb"

    def redacted(self) -> str:
        """The DSN without its password, for logs and messages."""
        if self.kind == "chdb":
            return self.url
        parts = urlsplit(self.url)
        if parts.password:
            netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
            return parts._replace(netloc=netloc).geturl()
        return self.url


def parse_dsn(dsn: str) -> Dsn:
    """Parse a TOUCHPOINT_DB value; relative chdb paths are resolved against the current directory."""
    if dsn.startswith("chdb://"):
        raw, _, query = dsn[len("chdb://") :].partition("?")
        if not raw:
            raise InvalidDsn(f"TOUCHPOINT_DB {dsn!r} names no directory: expected chdb://./dir or chdb:///abs/dir")
        options = dict(part.partition("=")[::2] for part in query.split("&") if part)
        unknown = set(options) - set(_CHDB_OPTIONS)
        if unknown:
            raise InvalidDsn(
                f"TOUCHPOINT_DB {dsn!r}: unknown option {sorted(unknown)[0]!r} "
                f"(known: {', '.join(f'{name}=' for name in _CHDB_OPTIONS)})"
            )
        path = Path(raw).expanduser().resolve()
        database = options.get("database") or "default"
        quote_identifier(database)
        cache = options.get("uncompressed_cache_mb", str(DEFAULT_UNCOMPRESSED_CACHE_MB))
        if not (cache.isascii() and cache.isdigit()):
            raise InvalidDsn(
                f"TOUCHPOINT_DB {dsn!r}: uncompressed_cache_mb={cache!r} must be a whole number of megabytes "
                "(0 for none)"
            )
        return Dsn(
            kind="chdb", url=f"chdb://{path}", path=path, database=database, uncompressed_cache_mb=int(cache)
        )
    parts = urlsplit(dsn)
    if parts.scheme in ("http", "https") and parts.hostname:
        database = parts.path.strip("/") or "default"
        return Dsn(kind="http", url=dsn, path=None, database=database)
    raise InvalidDsn(
        f"TOUCHPOINT_DB {dsn!r} is not understood: expected chdb://./path (embedded engine) "
        "or http(s)://user:password@host:8123/database (a ClickHouse server)"
    )


_HELD: dict[Path, int] = {}  # data directories this process has locked, with a count of holders
_HELD_LOCK = threading.Lock()
_FDS: dict[Path, int] = {}


class EngineLock:
    """An exclusive lock on an embedded data directory, held for the life of the owning process.

    Re-entrant within one process (several servers in one test process share the engine), exclusive across
    processes, as the embedded engine itself is.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._held = False

    def acquire(self) -> None:
        """Take the lock or raise DatabaseLocked naming the process that holds it."""
        with _HELD_LOCK:
            if self.path in _HELD:
                _HELD[self.path] += 1
                self._held = True
                return
            self._acquire_file()
            _HELD[self.path] = 1
            self._held = True

    def release(self) -> None:
        with _HELD_LOCK:
            if not self._held:
                return
            self._held = False
            _HELD[self.path] -= 1
            if _HELD[self.path] == 0:
                del _HELD[self.path]
                self._release_file()

    def _acquire_file(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        lock_file = self.path / "touchpoint.lock"
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DatabaseLocked(
                f"the embedded database {self.path} is in use by another process (pid {holder}). "
                "Only one process may open it: stop that one, or point TOUCHPOINT_DB elsewhere. "
                "Commands such as demo and import talk to the running server over HTTP instead."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        _FDS[self.path] = fd

    def _release_file(self) -> None:
        fd = _FDS.pop(self.path, None)
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def connect(dsn: Dsn | str, database: str | None = None) -> Client:
    """Open one clickhouse-connect client. Each client serialises its calls: use one per thread."""
    parsed = parse_dsn(dsn) if isinstance(dsn, str) else dsn
    db = database or parsed.database
    if parsed.embedded:
        assert parsed.path is not None
        parsed.path.mkdir(parents=True, exist_ok=True)
        _keep_engine_resident(parsed)
        client = clickhouse_connect.get_client(dsn=parsed.url)
        if db != "default":
            client.command(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(db)}")
            client.close()
            client = clickhouse_connect.get_client(dsn=parsed.url, database=db)
        return client
    return clickhouse_connect.get_client(dsn=parsed.url, database=db)


# The embedded engine starts when its first client opens and stops when its last one closes; a restart inside
# the same process leaves the stopped engine's threads and their open /proc files behind (a dozen or more
# each time). One connection per data directory, kept for the life of the process, keeps the engine running.
# It is opened first, through chdb itself: the engine takes its start-up options (the cache's size) from the
# connection that starts it, and clickhouse-connect passes none on.
_RESIDENT: dict[Path, Any] = {}
_RESIDENT_LOCK = threading.Lock()


def _keep_engine_resident(dsn: Dsn) -> None:
    assert dsn.path is not None
    with _RESIDENT_LOCK:
        if dsn.path not in _RESIDENT:
            import chdb  # the embedded engine's library is large: loaded only where a DSN names it

            cache_bytes = dsn.uncompressed_cache_mb * 2**20
            _RESIDENT[dsn.path] = chdb.connect(f"file:{dsn.path}?uncompressed_cache_size={cache_bytes}")


def quote_identifier(name: str) -> str:
    """Quote a validated identifier (database, table, column) for DDL."""
    if not name or not all(c.isalnum() or c == "_" for c in name):
        raise InvalidDsn(f"identifier {name!r} must be letters, digits and underscores")
    return f"`{name}`"


class ClientPool:
    """Hands each thread its own client on one database, opened on first use."""

    def __init__(self, dsn: Dsn | str, database: str | None = None) -> None:
        self.dsn = parse_dsn(dsn) if isinstance(dsn, str) else dsn
        self.database = database or self.dsn.database
        self._local = threading.local()
        self._all: list[Client] = []
        self._lock = threading.Lock()

    def client(self) -> Client:
        """The calling thread's client."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = connect(self.dsn, self.database)
            self._local.client = client
            with self._lock:
                self._all.append(client)
        return client

    def close(self) -> None:
        with self._lock:
            for client in self._all:
                try:
                    client.close()
                except Exception:  # noqa: BLE001 - closing is best effort at shutdown
                    pass
            self._all.clear()
        self._local = threading.local()
