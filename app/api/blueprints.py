"""The blueprint API under /api/v1, and the start hook opening the blueprint store inside `touchpoint serve`.

    GET    /blueprints                            ids, names, owners, validity and problems of every file
    POST   /blueprints                            create one from YAML (or a JSON model); its id names it
    GET    /blueprints/<id>                       the model, the YAML text, the problems; ETag header
    PUT    /blueprints/<id>                       replace it: YAML (application/yaml) or a JSON model;
                                                  If-Match: <etag> required (If-None-Match: * creates)
    DELETE /blueprints/<id>                       If-Match required; the history stays
    GET    /blueprints/<id>/versions              the history, newest first
    GET    /blueprints/<id>/versions/<n>          one version: content and diff from the one before
    POST   /blueprints/<id>/versions/<n>/restore  make version n current again (If-Match optional)

Errors answer ``{"error": "<what and what to do>", "details": [<problem>, …]}``: 400 unreadable body,
404 unknown blueprint or version, 409 changed since read (with the current ETag), 415 unknown body type,
422 invalid blueprint (nothing written; each detail names line, column, field, value and expectation),
428 missing If-Match, 503 version history unavailable. Who acts is the signed-in person or API token, else
the ``X-Touchpoint-User`` header, else "api"; a save's message comes from ``X-Touchpoint-Message``.
"""

from __future__ import annotations

import json
from typing import Any

import flask

from blueprints.errors import (
    BlueprintError,
    BlueprintNotFound,
    Conflict,
    InvalidBlueprint,
    Problem,
    VersionNotFound,
    VersionStoreError,
)
from blueprints.loader import parse_blueprint, validate_document
from blueprints.model import Blueprint
from blueprints.store import BlueprintStore, StoredBlueprint
from blueprints.versions import Version, VersionLog, VersionSummary, ensure_schema

PART = "blueprints"
YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})
JSON_TYPE = "application/json"
_STATUS = {
    BlueprintNotFound: 404,
    VersionNotFound: 404,
    Conflict: 409,
    InvalidBlueprint: 422,
    VersionStoreError: 503,
}


def install(ctx: Any) -> None:
    """Start hook: open the blueprint store on ``settings.blueprints`` with its history in ClickHouse, put it
    in ``ctx.parts["blueprints"]`` and add these routes to the API."""
    ensure_schema(ctx.client())
    store = BlueprintStore(ctx.settings.blueprints, VersionLog(ctx.pool.client))
    ctx.parts[PART] = store
    ctx.parts.setdefault("api_registrars", []).append(lambda bp, _ctx: register(bp, store))


def register(bp: flask.Blueprint, store: BlueprintStore) -> None:
    """Add the blueprint routes to ``bp`` (mounted at /api/v1)."""

    @bp.errorhandler(BlueprintError)
    def blueprint_error(exc: BlueprintError) -> flask.Response:
        return _error_response(exc)

    @bp.get("/blueprints")
    def list_blueprints() -> flask.Response:
        return flask.jsonify({"blueprints": [_summary(entry) for entry in store.list()]})

    @bp.post("/blueprints")
    def create_blueprint() -> flask.Response:
        content = _body("request body")
        blueprint_id = _id_of(content)
        entry = store.save(
            blueprint_id, content, author=_actor(), message=_message("created"), if_absent=True
        )
        reply = _entry_response(entry, 201)
        reply.headers["Location"] = f"{bp.url_prefix or ''}/blueprints/{entry.id}"
        return reply

    @bp.get("/blueprints/<blueprint_id>")
    def get_blueprint(blueprint_id: str) -> flask.Response:
        entry = store.get(blueprint_id)
        if entry.etag in _etags(flask.request.headers.get("If-None-Match")):
            reply = flask.make_response("", 304)
            reply.headers["ETag"] = _quoted(entry.etag)
            return reply
        return _entry_response(entry, 200)

    @bp.put("/blueprints/<blueprint_id>")
    def put_blueprint(blueprint_id: str) -> flask.Response:
        creating = "*" in _etags(flask.request.headers.get("If-None-Match"))
        if_match = _if_match(store, blueprint_id, required=not creating)
        content = _body(f"{blueprint_id}.yaml", blueprint_id)
        existed = _exists(store, blueprint_id)
        entry = store.save(
            blueprint_id,
            content,
            author=_actor(),
            message=_message(""),
            if_match=if_match,
            if_absent=creating,
        )
        return _entry_response(entry, 200 if existed else 201)

    @bp.delete("/blueprints/<blueprint_id>")
    def delete_blueprint(blueprint_id: str) -> flask.Response:
        if_match = _if_match(store, blueprint_id, required=True)
        store.delete(blueprint_id, author=_actor(), message=_message(""), if_match=if_match)
        return flask.make_response("", 204)

    @bp.get("/blueprints/<blueprint_id>/versions")
    def list_versions(blueprint_id: str) -> flask.Response:
        versions = store.history(blueprint_id)
        if not versions and not _exists(store, blueprint_id):
            raise BlueprintNotFound(blueprint_id)
        return flask.jsonify({"id": blueprint_id, "versions": [_version_summary(v) for v in versions]})

    @bp.get("/blueprints/<blueprint_id>/versions/<number>")
    def get_version(blueprint_id: str, number: str) -> flask.Response:
        version = store.version(blueprint_id, _version_number(blueprint_id, number))
        return flask.jsonify(_version_document(version))

    @bp.post("/blueprints/<blueprint_id>/versions/<number>/restore")
    def restore_version(blueprint_id: str, number: str) -> flask.Response:
        n = _version_number(blueprint_id, number)
        if_match = _if_match(store, blueprint_id, required=False)
        entry = store.restore(blueprint_id, n, author=_actor(), message=_message(""), if_match=if_match)
        return _entry_response(entry, 200)


# -- requests ----------------------------------------------------------------------------------------------


class _Refused(BlueprintError):
    """A request refused before the store is asked (400, 415, 428)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _body(source: str, expected_id: str | None = None) -> str | Blueprint:
    """The request body as YAML text, or as a model validated from JSON (problems carry field paths)."""
    request = flask.request
    media = (request.mimetype or "").lower()
    raw = request.get_data(cache=False)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Refused(400, f"the body is not UTF-8 text: {exc}") from None
    if media in YAML_TYPES:
        return text
    if media == JSON_TYPE:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _Refused(400, f"the body is not JSON: {exc}") from None
        return validate_document(document, source, expected_id)
    raise _Refused(
        415,
        f"a blueprint is sent as YAML (Content-Type: application/yaml) or as a JSON model "
        f"(application/json), not {media or 'without a Content-Type'}",
    )


def _id_of(content: str | Blueprint) -> str:
    if isinstance(content, Blueprint):
        return content.id
    return parse_blueprint(content, "request body").id


def _if_match(store: BlueprintStore, blueprint_id: str, required: bool) -> str | None:
    header = flask.request.headers.get("If-Match")
    if header is None:
        if required:
            raise _Refused(
                428,
                "If-Match is required: GET the blueprint and send its ETag back in If-Match "
                "(or send If-None-Match: * to create a new one), so no one's edit is overwritten unseen",
            )
        return None
    etags = _etags(header)
    if "*" in etags:
        return "*"
    if len(etags) > 1:  # any of several ETags will do: pick the current one when it is listed
        try:
            current = store.get(blueprint_id).etag
        except BlueprintNotFound:
            current = None
        return current if current in etags else etags[0]
    return etags[0] if etags else header


def _etags(header: str | None) -> list[str]:
    """The ETags of an If-Match / If-None-Match header, without quotes or weak markers."""
    if not header:
        return []
    return [part.strip().removeprefix("W/").strip('"') for part in header.split(",") if part.strip()]


def _version_number(blueprint_id: str, text: str) -> int:
    if not text.isdigit():
        raise VersionNotFound(blueprint_id, -1) from None
    return int(text)


def _exists(store: BlueprintStore, blueprint_id: str) -> bool:
    try:
        store.get(blueprint_id)
    except BlueprintNotFound:
        return False
    return True


def _actor() -> str:
    """Who acts: the signed-in person or API token, else the X-Touchpoint-User header, else "api"."""
    identity = _identity()
    if identity is not None and getattr(identity, "via", None) in ("session", "token") and identity.name:
        return str(identity.name)
    return flask.request.headers.get("X-Touchpoint-User") or "api"


def _identity() -> Any:
    try:
        from app.auth import current_identity
    except ImportError:  # access control not installed: the header speaks for the caller
        return None
    return current_identity()


def _message(default: str) -> str:
    return flask.request.headers.get("X-Touchpoint-Message") or default


# -- responses ---------------------------------------------------------------------------------------------


def _quoted(etag: str) -> str:
    return f'"{etag}"'


def _problems(problems: tuple[Problem, ...]) -> list[dict[str, Any]]:
    return [p.to_json() for p in problems]


def _summary(entry: StoredBlueprint) -> dict[str, Any]:
    blueprint = entry.blueprint
    return {
        "id": entry.id,
        "name": blueprint.name if blueprint else None,
        "owner": blueprint.owner if blueprint else None,
        "description": blueprint.description if blueprint else None,
        "valid": entry.valid,
        "etag": entry.etag,
        "errors": _problems(entry.problems),
    }


def _entry_response(entry: StoredBlueprint, status: int) -> flask.Response:
    document = {
        "id": entry.id,
        "valid": entry.valid,
        "etag": entry.etag,
        "blueprint": entry.blueprint.to_document() if entry.blueprint else None,
        "yaml": entry.text,
        "errors": _problems(entry.problems),
    }
    reply = flask.make_response(flask.jsonify(document), status)
    reply.headers["ETag"] = _quoted(entry.etag)
    return reply


def _version_summary(version: VersionSummary) -> dict[str, Any]:
    return {
        "number": version.number,
        "saved_at": version.saved_at.isoformat(),
        "author": version.author,
        "message": version.message,
        "etag": version.etag,
        "deleted": version.deleted,
    }


def _version_document(version: Version) -> dict[str, Any]:
    return {
        "id": version.blueprint_id,
        **_version_summary(version),
        "content": version.content,
        "diff": version.diff,
    }


def _error_response(exc: BlueprintError) -> flask.Response:
    status = exc.status if isinstance(exc, _Refused) else _status_of(exc)
    body: dict[str, Any] = {"error": str(exc), "details": []}
    if isinstance(exc, InvalidBlueprint):
        count = len(exc.problems)
        body["error"] = (
            f"{exc.source} is not a valid blueprint ({count} problem{'s' if count != 1 else ''}); "
            "nothing was written"
        )
        body["details"] = _problems(exc.problems)
    elif isinstance(exc, VersionNotFound) and exc.number < 0:
        body["error"] = f"blueprint {exc.blueprint_id!r} has no such version: versions are numbered 1, 2, …"
    elif isinstance(exc, Conflict):
        body["current_etag"] = exc.current_etag
    reply = flask.make_response(flask.jsonify(body), status)
    if isinstance(exc, Conflict) and exc.current_etag:
        reply.headers["ETag"] = _quoted(exc.current_etag)
    return reply


def _status_of(exc: BlueprintError) -> int:
    for kind, status in _STATUS.items():
        if isinstance(exc, kind):
            return status
    return 500
