"""Who may do what: roles for people, scopes for API tokens, and the identity a request acts as.

Roles are ordered — viewer < operator < editor < admin — and each stands for a set of scopes, so one
vocabulary (the scopes) serves both people and tokens:

- ``read``: see journeys, blueprints, alerts (every role);
- ``operate``: acknowledge, assign, resolve and annotate alerts, create and expire silences (operator and up);
- ``edit``: change blueprints and rules (editor and up);
- ``admin``: everything, including what no rule names yet (admin);
- ``ingest``: send spans to ``POST /v1/traces`` (tokens given it, and admin).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Scope(StrEnum):
    """A permission an API token carries, and the unit the access policy asks for."""

    INGEST = "ingest"
    READ = "read"
    OPERATE = "operate"
    EDIT = "edit"
    ADMIN = "admin"


class Role(StrEnum):
    """A person's role, from least to most trusted."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    EDITOR = "editor"
    ADMIN = "admin"

    @property
    def scopes(self) -> frozenset[Scope]:
        """The scopes this role holds."""
        return ROLE_SCOPES[self]


ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.VIEWER: frozenset({Scope.READ}),
    Role.OPERATOR: frozenset({Scope.READ, Scope.OPERATE}),
    Role.EDITOR: frozenset({Scope.READ, Scope.OPERATE, Scope.EDIT}),
    Role.ADMIN: frozenset(Scope),
}

Via = Literal["session", "token", "local", "anonymous"]


@dataclass(frozen=True)
class Identity:
    """Who a request acts as: a signed-in person, an API token, the local user, or nobody."""

    name: str
    scopes: frozenset[Scope]
    via: Via
    role: Role | None = None

    def holds(self, scope: Scope) -> bool:
        """True when this identity may do what `scope` covers (admin covers every scope)."""
        return scope in self.scopes or Scope.ADMIN in self.scopes

    @property
    def signed_in(self) -> bool:
        return self.via != "anonymous"


ANONYMOUS = Identity(name="", scopes=frozenset(), via="anonymous")
LOCAL = Identity(name="local", scopes=frozenset(Scope), via="local", role=Role.ADMIN)
