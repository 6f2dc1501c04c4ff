"""The one table that says what each request needs: method + path (and, for Dash callbacks, the ids the
callback touches) → a scope, or public.

Rules are tried in order; the first whose methods and path pattern match decides. A request no rule matches
needs ``read`` when it only looks (GET, HEAD, OPTIONS) and ``admin`` otherwise: a state-changing endpoint
added without a line here is closed to all but admins until it is classified, never open.

Path patterns: ``*`` is one path segment, ``**`` any number of them (including none).

Dash runs every callback through ``POST /_dash-update-component``; the callback it runs is the one keyed by
the body's ``output`` string. Its need is the highest among :data:`DASH_IDS` rules matching any component id
the callback writes or reads (outputs, inputs, state); ``read`` when none matches. Page authors: a callback
that changes anything must touch a component whose id matches a line below — name such ids accordingly.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from app.auth.roles import Scope

PUBLIC: Literal["public"] = "public"
Need = Scope | Literal["public"]

SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DASH_UPDATE = "/_dash-update-component"
# How much each scope a person may hold outranks the others, for the "highest need" of a Dash callback.
RANK = {Scope.READ: 1, Scope.OPERATE: 2, Scope.EDIT: 3, Scope.ADMIN: 4}


@dataclass(frozen=True)
class Rule:
    """Requests with one of `methods` on a path matching `pattern` need `need`; `why` is for the reader."""

    methods: frozenset[str]
    pattern: str
    need: Need | Literal["dash"]
    why: str

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return compile_pattern(self.pattern)

    def matches(self, method: str, path: str) -> bool:
        return method in self.methods and self.regex.fullmatch(path) is not None


@dataclass(frozen=True)
class DashRule:
    """Dash callbacks touching a component whose id matches `id_pattern` (fnmatch) need `need`."""

    id_pattern: str
    need: Scope
    why: str


RULES: tuple[Rule, ...] = (
    Rule(frozenset({"GET", "POST"}), "/login", PUBLIC, "the sign-in page and form (form CSRF-checked)"),
    Rule(frozenset({"GET", "POST"}), "/logout", PUBLIC, "sign-out (the form is CSRF-checked)"),
    Rule(frozenset({"GET", "HEAD"}), "/api/v1/health", PUBLIC, "probes and load balancers"),
    Rule(frozenset({"GET"}), "/api/v1/auth/whoami", PUBLIC, "who the caller is, anonymous included"),
    Rule(frozenset({"POST"}), "/v1/traces", Scope.INGEST, "OTLP/HTTP spans"),
    Rule(CHANGING, "/api/v1/blueprints", Scope.EDIT, "create a blueprint"),
    Rule(CHANGING, "/api/v1/blueprints/**", Scope.EDIT, "change, validate, restore or delete a blueprint"),
    Rule(CHANGING, "/api/v1/rules/**", Scope.EDIT, "change alert rules"),
    Rule(CHANGING, "/api/v1/alerts/rules/**", Scope.EDIT, "change alert rules"),
    Rule(frozenset({"POST"}), "/api/v1/alerts/*/*", Scope.OPERATE, "acknowledge, resolve, assign, annotate"),
    Rule(CHANGING, "/api/v1/silences", Scope.OPERATE, "create a silence"),
    Rule(CHANGING, "/api/v1/silences/*", Scope.OPERATE, "expire a silence"),
    Rule(CHANGING, "/api/v1/auth/**", Scope.ADMIN, "users and tokens"),
    Rule(frozenset({"POST"}), DASH_UPDATE, "dash", "a Dash callback: see DASH_IDS"),
    Rule(SAFE, "/**", Scope.READ, "pages, assets and API reads"),
)

DASH_IDS: tuple[DashRule, ...] = (
    DashRule("editor-*", Scope.EDIT, "the blueprint editor: validate, save, restore versions"),
    DashRule("rules-editor-*", Scope.EDIT, "the alert rules editor"),
    DashRule("alerts-action-*", Scope.OPERATE, "alert actions: acknowledge, resolve, assign, note"),
    DashRule("alert-action-*", Scope.OPERATE, "alert actions: acknowledge, resolve, assign, note"),
    DashRule("alerts-ack*", Scope.OPERATE, "acknowledge alerts"),
    DashRule("alerts-resolve*", Scope.OPERATE, "resolve alerts"),
    DashRule("alerts-assign*", Scope.OPERATE, "assign alerts"),
    DashRule("alerts-note*", Scope.OPERATE, "annotate alerts"),
    DashRule("silence-*", Scope.OPERATE, "create or expire silences"),
    DashRule("silences-*", Scope.OPERATE, "create or expire silences"),
    DashRule("alerts-silence*", Scope.OPERATE, "create or expire silences"),
    DashRule("admin-*", Scope.ADMIN, "administration"),
)


@dataclass(frozen=True)
class Decision:
    """What a request needs and which line of the table said so (for logs and refusals)."""

    need: Need
    why: str


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A regex for a path pattern: `*` one segment, `**` any number of segments."""
    parts = []
    for segment in pattern.strip("/").split("/"):
        if segment == "**":
            parts.append("(?:/[^/]+)*")
        elif segment:
            parts.append("/" + "[^/]+".join(re.escape(piece) for piece in segment.split("*")))
    return re.compile("".join(parts) + "/?")


def decide(method: str, path: str, dash_callback: Mapping[str, Any] | None = None) -> Decision:
    """The need of a request; for a Dash update, `dash_callback` is Dash's entry for the callback it runs."""
    method = method.upper()
    for rule in RULES:
        if rule.matches(method, path):
            if rule.need == "dash":
                return dash_decision(dash_callback or {})
            return Decision(rule.need, rule.why)
    if method in SAFE:
        return Decision(Scope.READ, "a read no rule names")
    return Decision(Scope.ADMIN, "a change no rule names: admins only until classified in app/auth/policy.py")


def dash_decision(callback: Mapping[str, Any]) -> Decision:
    """The need of one Dash callback: the highest of the DASH_IDS rules matching an id it touches."""
    best = Decision(Scope.READ, "a Dash callback touching no protected component")
    for component_id in callback_component_ids(callback):
        for rule in DASH_IDS:
            if fnmatch.fnmatchcase(component_id, rule.id_pattern) and RANK[rule.need] > RANK[best.need]:  # type: ignore[index]
                best = Decision(rule.need, f"{rule.why} (component {component_id!r})")
    return best


def callback_component_ids(callback: Mapping[str, Any]) -> list[str]:
    """The ids of the components a Dash callback entry writes and reads; a pattern-matching id gives its
    `type` value and its JSON."""
    ids: list[str] = []
    ids.extend(_output_ids(str(callback.get("output_key", ""))))
    for dependency in list(callback.get("inputs") or []) + list(callback.get("state") or []):
        if isinstance(dependency, Mapping):
            ids.extend(_names(dependency.get("id")))
    return ids


def _output_ids(key: str) -> Iterable[str]:
    if not key:
        return []
    pieces = key[2:-2].split("...") if key.startswith("..") else [key]
    found: list[str] = []
    for piece in pieces:
        component, _, _prop = piece.rpartition(".")
        if component.startswith("{"):
            try:
                found.extend(_names(json.loads(component)))
                continue
            except ValueError:
                pass
        found.append(component)
    return found


def _names(component_id: Any) -> list[str]:
    if isinstance(component_id, Mapping):
        names = [json.dumps(component_id, sort_keys=True)]
        kind = component_id.get("type")
        if isinstance(kind, str):
            names.append(kind)
        return names
    return [str(component_id)] if component_id is not None else []
