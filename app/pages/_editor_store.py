"""Where the editor reads and saves blueprint YAML, with conflict detection (ETags) and version history.

The blueprint store (ctx.parts["blueprints"], blueprints/store.py) serves when the server runs one: its
ETags, its validation and its version history in ClickHouse. Without it the blueprint directory itself
does: `<id>.yaml` is the source of truth, each save first keeps the previous text under `.history/<id>/`,
and a save whose ETag no longer matches the file is refused with what changed.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_VERSION = re.compile(r"^(\d{8}T\d{6}\d{6}Z)-([0-9a-f]{12})-([a-z0-9_.-]{0,40})\.yaml$")


class SaveRefused(RuntimeError):
    """The store would not take the text (it does not validate); the message lists every problem."""


class SaveConflict(RuntimeError):
    """The blueprint changed since the editor loaded it; the message says when and gives the current ETag."""

    def __init__(self, message: str, current: Revision) -> None:
        super().__init__(message)
        self.current = current


@dataclass(frozen=True)
class Revision:
    """A blueprint's YAML text and the ETag naming exactly that text."""

    blueprint_id: str
    text: str
    etag: str


@dataclass(frozen=True)
class Version:
    """One kept earlier text of a blueprint."""

    id: str
    saved_at: datetime
    etag: str
    author: str


class EditorStore(Protocol):
    def ids(self) -> list[str]: ...
    def read_text(self, blueprint_id: str) -> Revision: ...
    def save_text(
        self, blueprint_id: str, text: str, expected_etag: str | None, author: str, now: datetime
    ) -> Revision: ...
    def history(self, blueprint_id: str) -> list[Version]: ...
    def version_text(self, blueprint_id: str, version_id: str) -> str: ...


def etag_of(text: str) -> str:
    """The ETag of a text: a quoted hash of its bytes."""
    return '"' + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16] + '"'


def editor_store(ctx: Any) -> EditorStore:
    """The store the editor saves through: the blueprint store when it offers the editor's interface, else
    the blueprint directory (one per server, made on first use)."""
    store = ctx.parts.get("blueprints")
    if store is not None and all(
        hasattr(store, n) for n in ("read_text", "save_text", "history", "version_text")
    ):
        return store  # type: ignore[no-any-return]
    found = ctx.parts.get("dashboard.editor_store")
    if found is None:
        found = ctx.parts["dashboard.editor_store"] = DirectoryVersions(Path(ctx.settings.blueprints))
    return found  # type: ignore[no-any-return]


class DirectoryVersions:
    """Blueprint files in a directory, saved with ETag checks and earlier texts kept under `.history/`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()

    def ids(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("*.yaml") if _ID.match(p.stem))

    def read_text(self, blueprint_id: str) -> Revision:
        """The file's text now; raises LookupError when there is no such blueprint."""
        path = self._path(blueprint_id)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise LookupError(f"no blueprint {blueprint_id!r} in {self.directory}") from None
        return Revision(blueprint_id, text, etag_of(text))

    def save_text(
        self, blueprint_id: str, text: str, expected_etag: str | None, author: str, now: datetime
    ) -> Revision:
        """Write `text` if the file still has `expected_etag` (None: the file must not exist yet).

        Raises SaveConflict when someone saved in between; the previous text is kept as a version.
        """
        path = self._path(blueprint_id)
        with self._locked():
            current = path.read_text(encoding="utf-8") if path.exists() else None
            current_etag = etag_of(current) if current is not None else None
            if current_etag != expected_etag:
                revision = Revision(blueprint_id, current or "", current_etag or "")
                if current is None:
                    raise SaveConflict(
                        f"blueprint {blueprint_id!r} was deleted since you opened it", revision
                    )
                if expected_etag is None:
                    raise SaveConflict(f"a blueprint {blueprint_id!r} already exists", revision)
                changed = datetime.fromtimestamp(path.stat().st_mtime, UTC)
                raise SaveConflict(
                    f"blueprint {blueprint_id!r} was saved by someone else at {changed:%H:%M:%S} UTC since "
                    f"you opened it (now {current_etag}, you had {expected_etag}): reload it, or look at "
                    "the difference in the history before saving again",
                    revision,
                )
            if current is not None and current != text:
                self._keep(blueprint_id, current, author, now)
            temporary = path.with_suffix(".yaml.saving")
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, path)
        return Revision(blueprint_id, text, etag_of(text))

    def history(self, blueprint_id: str) -> list[Version]:
        """Kept earlier texts, newest first."""
        folder = self._history(blueprint_id)
        versions = []
        for path in folder.glob("*.yaml") if folder.is_dir() else []:
            match = _VERSION.match(path.name)
            if match:
                saved = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
                versions.append(Version(path.name, saved, f'"{match.group(2)}"', match.group(3)))
        return sorted(versions, key=lambda v: v.saved_at, reverse=True)

    def version_text(self, blueprint_id: str, version_id: str) -> str:
        """The text of one kept version; raises LookupError for an unknown one."""
        if not _VERSION.match(version_id):
            raise LookupError(f"{version_id!r} is not a version of {blueprint_id!r}")
        path = self._history(blueprint_id) / version_id
        if not path.exists():
            raise LookupError(f"no version {version_id!r} of blueprint {blueprint_id!r}")
        return path.read_text(encoding="utf-8")

    def _keep(self, blueprint_id: str, text: str, author: str, now: datetime) -> None:
        folder = self._history(blueprint_id)
        folder.mkdir(parents=True, exist_ok=True)
        who = re.sub(r"[^a-z0-9_.-]+", "-", author.lower())[:40]
        name = f"{now.astimezone(UTC):%Y%m%dT%H%M%S%f}Z-{etag_of(text)[1:13]}-{who}.yaml"
        (folder / name).write_text(text, encoding="utf-8")

    def _path(self, blueprint_id: str) -> Path:
        if not _ID.match(blueprint_id):
            raise LookupError(f"blueprint id {blueprint_id!r} must match [a-z0-9][a-z0-9-]{{0,62}}")
        return self.directory / f"{blueprint_id}.yaml"

    def _history(self, blueprint_id: str) -> Path:
        return self.directory / ".history" / blueprint_id

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One saver at a time, across threads and across worker processes sharing the directory."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.directory / ".editor.lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
