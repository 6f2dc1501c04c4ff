"""The users file: people (name, role, password hash) and API tokens (name, scopes, SHA-256 of the token).

TOML::

    [users.alice]
    role = "admin"                      # viewer, operator, editor or admin
    password = "$argon2id$v=19$..."     # python -m app.auth hash-password

    [tokens.otel-collector]
    scopes = ["ingest"]                 # ingest, read, operate, edit, admin
    sha256 = "5e88…"                    # python -m app.auth new-token --name otel-collector --scopes ingest

YAML (``.yaml``/``.yml``) holds the same two mappings. The file is read with safe loaders only (TOML has no
tags; YAML is read with ruamel's safe loader, aliases refused) and checked whole at start: any problem stops
the server with the file, the place and what is expected.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.auth.errors import AuthConfigInvalid
from app.auth.passwords import hash_problem
from app.auth.roles import Role, Scope

log = logging.getLogger(__name__)

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,63}$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
MAX_FILE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class User:
    """A person who signs in with a password."""

    name: str
    role: Role
    password_hash: str = field(repr=False)

    @property
    def fingerprint(self) -> str:
        """Changes when the password or the role changes: sessions carrying an old one are void."""
        return hashlib.sha256(f"{self.role}\0{self.password_hash}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TokenGrant:
    """An API token: its name (for logs and rate limits), its scopes, and the SHA-256 of its secret."""

    name: str
    scopes: frozenset[Scope]
    sha256: str = field(repr=False)


@dataclass(frozen=True)
class Credentials:
    """Everything the users file says, by user name and by token digest."""

    users: dict[str, User]
    tokens: dict[str, TokenGrant]  # keyed by sha256 hex digest
    source: Path | None = None


def load_credentials(path: Path) -> Credentials:
    """Read and check a users file; raises AuthConfigInvalid naming the file, the field and the fix."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise AuthConfigInvalid(f"users file {path}: cannot be read ({exc.strerror or exc})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise AuthConfigInvalid(f"users file {path}: {len(raw)} bytes is more than a users file can need")
    document = _parse(path, raw)
    return credentials_from_document(document, path)


def credentials_from_document(document: Any, path: Path) -> Credentials:
    """Check a parsed users document (plain dicts, lists and strings) and build the credentials."""
    problems: list[str] = []
    if not isinstance(document, dict):
        raise AuthConfigInvalid(f"users file {path}: expected the mappings 'users' and 'tokens' at the top")
    for key in document:
        if key not in ("users", "tokens"):
            problems.append(f"{key!r} is not known here (expected 'users' and 'tokens')")
    users = _users(document.get("users") or {}, problems)
    tokens = _tokens(document.get("tokens") or {}, problems)
    if not users and not tokens and not problems:
        problems.append("names no users and no tokens: nobody could sign in")
    if problems:
        raise AuthConfigInvalid(f"users file {path}: " + "; ".join(problems))
    return Credentials(users=users, tokens=tokens, source=path)


def _users(section: Any, problems: list[str]) -> dict[str, User]:
    if not isinstance(section, dict):
        problems.append("users must be a mapping of user name to {role, password}")
        return {}
    users: dict[str, User] = {}
    for name, entry in section.items():
        where = f"users.{name}"
        if not isinstance(name, str) or not NAME.match(name):
            problems.append(f"{where}: a user name is 1-64 letters, digits, '_', '.', '@' or '-'")
            continue
        if not isinstance(entry, dict):
            problems.append(f"{where} must be a mapping with role and password")
            continue
        unknown = sorted(set(entry) - {"role", "password"})
        if unknown:
            problems.append(f"{where}.{unknown[0]} is not known (expected role and password)")
        role = entry.get("role")
        if role not in set(Role):
            problems.append(f"{where}.role {role!r} is not one of {', '.join(Role)}")
            continue
        encoded = entry.get("password")
        if not isinstance(encoded, str):
            problems.append(f"{where}.password is missing: `python -m app.auth hash-password` prints a hash")
            continue
        problem = hash_problem(encoded)
        if problem:
            problems.append(f"{where}.password {problem}")
            continue
        users[name] = User(name=name, role=Role(role), password_hash=encoded)
    return users


def _tokens(section: Any, problems: list[str]) -> dict[str, TokenGrant]:
    if not isinstance(section, dict):
        problems.append("tokens must be a mapping of token name to {scopes, sha256}")
        return {}
    tokens: dict[str, TokenGrant] = {}
    for name, entry in section.items():
        where = f"tokens.{name}"
        if not isinstance(name, str) or not NAME.match(name):
            problems.append(f"{where}: a token name is 1-64 letters, digits, '_', '.', '@' or '-'")
            continue
        if not isinstance(entry, dict):
            problems.append(f"{where} must be a mapping with scopes and sha256")
            continue
        unknown = sorted(set(entry) - {"scopes", "sha256"})
        if unknown:
            problems.append(f"{where}.{unknown[0]} is not known (expected scopes and sha256)")
        scopes = entry.get("scopes")
        if not isinstance(scopes, list) or not scopes or any(s not in set(Scope) for s in scopes):
            problems.append(f"{where}.scopes {scopes!r} must be a non-empty list of {', '.join(Scope)}")
            continue
        digest = entry.get("sha256")
        if not isinstance(digest, str) or not SHA256_HEX.match(digest):
            problems.append(
                f"{where}.sha256 must be the 64 lower-case hex digits of the token's SHA-256 "
                "(`python -m app.auth new-token` prints both); never the token itself"
            )
            continue
        if digest in tokens:
            problems.append(f"{where}.sha256 is the same as tokens.{tokens[digest].name}'s")
            continue
        tokens[digest] = TokenGrant(name=name, scopes=frozenset(Scope(s) for s in scopes), sha256=digest)
    return tokens


def _parse(path: Path, raw: bytes) -> Any:
    if path.suffix.lower() in (".yaml", ".yml"):
        return _parse_yaml(path, raw)
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise AuthConfigInvalid(f"users file {path}: is not UTF-8 text ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        located = re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", str(exc))
        if located:
            what, line, column = located.groups()
            raise AuthConfigInvalid(f"users file {path}:{line}:{column}: is not valid TOML: {what}") from None
        raise AuthConfigInvalid(f"users file {path}: is not valid TOML: {exc}") from None


def _parse_yaml(path: Path, raw: bytes) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.events import AliasEvent

    try:
        text = raw.decode("utf-8")
        # Aliases have no use in a users file and are how alias bombs are built: refuse them before building.
        for event in YAML(typ="safe", pure=True).parse(text):
            if isinstance(event, AliasEvent):
                mark = event.start_mark
                raise AuthConfigInvalid(
                    f"users file {path}:{mark.line + 1}:{mark.column + 1}: "
                    "YAML aliases (*name) are not allowed"
                )
        return YAML(typ="safe", pure=True).load(text)
    except UnicodeDecodeError as exc:
        raise AuthConfigInvalid(f"users file {path}: is not UTF-8 text ({exc})") from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        what = exc.problem or exc.context or "cannot be read"
        raise AuthConfigInvalid(f"users file {path}{where}: is not valid YAML: {what}") from None
    except YAMLError as exc:
        raise AuthConfigInvalid(f"users file {path}: is not valid YAML: {exc}") from None


class CredentialsFile:
    """The users file as currently on disk: re-read when it changes, the last good version kept on errors.

    Removing a user or a token, or changing a password or a role, takes effect within `check_every_s`
    seconds without a restart.
    """

    def __init__(self, path: Path, check_every_s: float = 1.0) -> None:
        self.path = path
        self.check_every_s = check_every_s
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._current = load_credentials(path)
        self._checked = time.monotonic()

    def current(self) -> Credentials:
        """The credentials in force."""
        now = time.monotonic()
        if now - self._checked < self.check_every_s:
            return self._current
        with self._lock:
            if now - self._checked < self.check_every_s:
                return self._current
            self._checked = now
            stamp = self._stat()
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._current = load_credentials(self.path)
                    log.info("users file reloaded", extra={"path": str(self.path)})
                except AuthConfigInvalid as exc:
                    log.error("users file not reloaded, keeping the previous one: %s", exc)
        return self._current

    def _stat(self) -> tuple[int, int, int]:
        try:
            st = os.stat(self.path)
        except OSError:
            return (0, 0, 0)
        return (st.st_mtime_ns, st.st_size, st.st_ino)
