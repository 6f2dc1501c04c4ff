"""The blueprint directory as a store: list, read, save with optimistic concurrency, delete, restore.

The directory stays the source of truth (``<id>.yaml`` files, kept in git). The store notices files changed
behind its back (a ``git pull``) on the next access, by comparing modification time, size and inode, and
records each such change in the version history with author ``external``. Invalid files never hide the
valid ones: they are listed with their problems.

Writes are atomic (temporary file in the same directory, fsync, ``os.replace``, fsync of the directory).
A model-level save edits the existing YAML in place, so its comments and key order survive.
"""

from __future__ import annotations

import builtins
import hashlib
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from blueprints.errors import (
    BlueprintNotFound,
    Conflict,
    InvalidBlueprint,
    Problem,
    VersionStoreError,
)
from blueprints.loader import parse_blueprint
from blueprints.model import Blueprint
from blueprints.versions import Version, VersionLog, VersionSummary
from blueprints.yaml_edit import dump_blueprint, edit_text

log = logging.getLogger(__name__)

EXTERNAL_AUTHOR = "external"
SUFFIX = ".yaml"
_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def etag_of(text: str) -> str:
    """The ETag of a blueprint's content: a hash of its bytes (the same text always gives the same ETag)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class StoredBlueprint:
    """One file of the directory as last read: its text and ETag, and the model or the problems found."""

    id: str
    path: Path
    text: str
    etag: str
    blueprint: Blueprint | None
    problems: tuple[Problem, ...] = ()

    @property
    def valid(self) -> bool:
        return self.blueprint is not None

    def require(self) -> Blueprint:
        """The model; raises InvalidBlueprint when the file is not valid."""
        if self.blueprint is None:
            raise InvalidBlueprint(self.path.name, self.problems)
        return self.blueprint


@dataclass(frozen=True)
class _Stamp:
    mtime_ns: int
    size: int
    inode: int


class BlueprintStore:
    """Thread-safe access to the blueprints in one directory, with their history in ``versions`` (optional).

    ``clock`` gives the current time (timezone-aware) for version records; tests pass a fixed one.
    """

    def __init__(
        self,
        directory: Path,
        versions: VersionLog | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._versions = versions
        self._clock = clock
        self._lock = threading.RLock()
        self._entries: dict[str, StoredBlueprint] = {}
        self._stamps: dict[str, _Stamp] = {}
        self._known_versions: dict[str, tuple[str, bool]] | None = None

    # -- reading ------------------------------------------------------------------------------------------

    def list(self) -> builtins.list[StoredBlueprint]:
        """Every ``*.yaml`` file of the directory, valid or not, by id."""
        with self._lock:
            self._refresh()
            return [self._entries[k] for k in sorted(self._entries)]

    def get(self, blueprint_id: str) -> StoredBlueprint:
        """One blueprint file as it is now; raises BlueprintNotFound."""
        with self._lock:
            self._refresh()
            entry = self._entries.get(blueprint_id)
        if entry is None:
            raise BlueprintNotFound(blueprint_id)
        return entry

    def blueprint(self, blueprint_id: str) -> Blueprint:
        """The valid model of one blueprint; raises BlueprintNotFound or InvalidBlueprint."""
        return self.get(blueprint_id).require()

    def blueprints(self) -> builtins.list[Blueprint]:
        """The valid blueprints, by id (invalid files are left out; :meth:`list` shows them)."""
        return [e.blueprint for e in self.list() if e.blueprint is not None]

    # -- writing ------------------------------------------------------------------------------------------

    def save(
        self,
        blueprint_id: str,
        content: str | Blueprint,
        *,
        author: str,
        message: str = "",
        if_match: str | None = None,
        if_absent: bool = False,
    ) -> StoredBlueprint:
        """Validate and write a blueprint, as YAML text or as a model; returns what is stored now.

        ``if_match``: the ETag the caller last read (``*``: any existing version); a different current ETag
        raises :class:`Conflict` and nothing is written. ``if_absent``: the blueprint must not exist yet.
        Invalid content raises :class:`InvalidBlueprint` and nothing is written. Saving the text already
        stored changes nothing and records no version.
        """
        source = f"{blueprint_id}{SUFFIX}"
        self._check_id(blueprint_id, source)
        with self._lock:
            self._refresh()
            current = self._entries.get(blueprint_id)
            self._check_precondition(blueprint_id, current, if_match, if_absent)
            text = self._text_for(blueprint_id, content, current, source)
            if current is not None and current.valid and current.text == text:
                return current
            blueprint = parse_blueprint(text, source, expected_id=blueprint_id)
            etag = etag_of(text)
            self._record(blueprint_id, text, etag, author=author, message=message)
            path = self.directory / source
            _write_atomically(path, text)
            entry = StoredBlueprint(blueprint_id, path, text, etag, blueprint)
            self._remember(entry)
            log.info("blueprint saved", extra={"blueprint": blueprint_id, "author": author, "etag": etag})
            return entry

    def delete(
        self, blueprint_id: str, *, author: str, message: str = "", if_match: str | None = None
    ) -> None:
        """Remove a blueprint's file (its history stays, so it can be restored); raises BlueprintNotFound."""
        with self._lock:
            self._refresh()
            current = self._entries.get(blueprint_id)
            if current is None:
                raise BlueprintNotFound(blueprint_id)
            self._check_precondition(blueprint_id, current, if_match, if_absent=False)
            self._record(blueprint_id, "", "", author=author, message=message or "deleted", deleted=True)
            current.path.unlink(missing_ok=True)
            _fsync_directory(self.directory)
            self._entries.pop(blueprint_id, None)
            self._stamps.pop(blueprint_id, None)
            log.info("blueprint deleted", extra={"blueprint": blueprint_id, "author": author})

    def restore(
        self, blueprint_id: str, number: int, *, author: str, message: str = "", if_match: str | None = None
    ) -> StoredBlueprint:
        """Make version ``number`` the current content again (recorded as a new version)."""
        version = self.version(blueprint_id, number)
        if version.deleted:
            problem = Problem(
                f"{blueprint_id}{SUFFIX}",
                (),
                f"version {number} records a deletion: there is no content to restore",
            )
            raise InvalidBlueprint(problem.source, [problem])
        return self.save(
            blueprint_id,
            version.content,
            author=author,
            message=message or f"restore version {number}",
            if_match=if_match,
        )

    # -- history ------------------------------------------------------------------------------------------

    def history(self, blueprint_id: str) -> builtins.list[VersionSummary]:
        """The blueprint's versions, newest first (including those of a deleted blueprint)."""
        with self._lock:
            self._refresh()
        return self._require_versions().history(blueprint_id)

    def version(self, blueprint_id: str, number: int) -> Version:
        """One version in full; raises VersionNotFound."""
        return self._require_versions().get(blueprint_id, number)

    # -- internals ----------------------------------------------------------------------------------------

    def _require_versions(self) -> VersionLog:
        if self._versions is None:
            raise VersionStoreError(
                "this blueprint store keeps no version history (no ClickHouse client given)"
            )
        return self._versions

    @staticmethod
    def _check_id(blueprint_id: str, source: str) -> None:
        if not _ID.fullmatch(blueprint_id):
            message = (
                "is not a valid blueprint id: expected lowercase letters, digits and '-', "
                "starting with a letter or digit, at most 63 characters"
            )
            raise InvalidBlueprint(
                source, [Problem(source, ("id",), message, value=blueprint_id, has_value=True)]
            )

    @staticmethod
    def _check_precondition(
        blueprint_id: str, current: StoredBlueprint | None, if_match: str | None, if_absent: bool
    ) -> None:
        current_etag = current.etag if current is not None else None
        if if_absent and current is not None:
            raise Conflict(f"blueprint {blueprint_id!r} already exists", current_etag)
        if if_match is None:
            return
        if current is None:
            raise Conflict(f"blueprint {blueprint_id!r} does not exist (it may have been deleted)", None)
        if if_match != "*" and if_match != current.etag:
            raise Conflict(
                f"blueprint {blueprint_id!r} changed since it was read: its ETag is now {current.etag}, "
                f"not {if_match}; read it again and reapply your change",
                current_etag,
            )

    @staticmethod
    def _text_for(
        blueprint_id: str, content: str | Blueprint, current: StoredBlueprint | None, source: str
    ) -> str:
        if isinstance(content, str):
            return content
        if content.id != blueprint_id:
            message = f"does not match the blueprint being saved: expected {blueprint_id!r}"
            raise InvalidBlueprint(
                source, [Problem(source, ("id",), message, value=content.id, has_value=True)]
            )
        if current is None:
            return dump_blueprint(content)
        text = edit_text(current.text, current.blueprint, content, source)
        try:
            if parse_blueprint(text, source, expected_id=blueprint_id) == content:
                return text
        except InvalidBlueprint:
            pass
        log.warning(
            "in-place edit did not reproduce the model; rewriting the file", extra={"blueprint": blueprint_id}
        )
        return dump_blueprint(content)

    def _record(
        self, blueprint_id: str, text: str, etag: str, *, author: str, message: str, deleted: bool = False
    ) -> None:
        if self._versions is None:
            return
        self._versions.record(
            blueprint_id, text, author=author, message=message, etag=etag, now=self._clock(), deleted=deleted
        )
        if self._known_versions is not None:
            self._known_versions[blueprint_id] = (etag, deleted)

    def _remember(self, entry: StoredBlueprint) -> None:
        stat = entry.path.stat()
        self._stamps[entry.id] = _Stamp(stat.st_mtime_ns, stat.st_size, stat.st_ino)
        self._entries[entry.id] = entry

    def _refresh(self) -> None:
        """Re-read files whose stamp changed; record external changes. Caller holds the lock."""
        stamps: dict[str, tuple[Path, _Stamp]] = {}
        with os.scandir(self.directory) as listing:
            for item in listing:
                if item.name.endswith(SUFFIX) and not item.name.startswith(".") and item.is_file():
                    stat = item.stat()
                    stamps[item.name[: -len(SUFFIX)]] = (
                        Path(item.path),
                        _Stamp(stat.st_mtime_ns, stat.st_size, stat.st_ino),
                    )
        for gone in set(self._entries) - set(stamps):
            self._entries.pop(gone)
            self._stamps.pop(gone, None)
            self._note_external(gone, "", "", deleted=True)
        for blueprint_id, (path, stamp) in stamps.items():
            if self._stamps.get(blueprint_id) == stamp:
                continue
            entry = _read_entry(blueprint_id, path)
            if entry is None:  # vanished between listing and reading
                continue
            previous = self._entries.get(blueprint_id)
            self._entries[blueprint_id] = entry
            self._stamps[blueprint_id] = stamp
            if previous is None or previous.etag != entry.etag:
                self._note_external(blueprint_id, entry.text, entry.etag, deleted=False)

    def _note_external(self, blueprint_id: str, text: str, etag: str, *, deleted: bool) -> None:
        """Record a change made outside the store, unless the history already ends with that content."""
        if self._versions is None:
            return
        try:
            if self._known_versions is None:
                self._known_versions = self._versions.latest_etags()
            known = self._known_versions.get(blueprint_id)
            if known == (etag, deleted) or (deleted and known is None):
                return
            message = "deleted outside Touchpoint" if deleted else "changed outside Touchpoint"
            self._record(blueprint_id, text, etag, author=EXTERNAL_AUTHOR, message=message, deleted=deleted)
        except VersionStoreError as exc:
            # Reading must keep working when the history cannot be written; the next change retries.
            self._known_versions = None
            log.warning(
                "external blueprint change not recorded", extra={"blueprint": blueprint_id, "error": str(exc)}
            )


def _read_entry(blueprint_id: str, path: Path) -> StoredBlueprint | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problem = Problem(path.name, (), f"cannot be read: {exc}")
        return StoredBlueprint(blueprint_id, path, "", etag_of(""), None, (problem,))
    try:
        blueprint = parse_blueprint(text, path.name, expected_id=blueprint_id)
    except InvalidBlueprint as exc:
        return StoredBlueprint(blueprint_id, path, text, etag_of(text), None, exc.problems)
    return StoredBlueprint(blueprint_id, path, text, etag_of(text), blueprint)


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old file or the new one, never a part."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
