"""GET /api/v1/blueprints/{id}/state and GET /api/v1/discover: the live state of a blueprint, and a draft
blueprint from the spans seen, as JSON.

Windows: `?window=15m` (the last 15 minutes, the default; s, m, h, d) or `?from=…&to=…` (ISO 8601 with an
offset). Durations in the answer are seconds, as everywhere in the API.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import flask

from app.context import AppContext
from blueprints.discover import DiscoverOptions, DiscoveryUnavailable, discover
from blueprints.errors import BlueprintNotFound, InvalidBlueprint
from blueprints.rollups import ensure_rollup_keys
from blueprints.selectors import selector_attribute_keys
from blueprints.state import StateOptions, StateUnavailable, compute_state
from blueprints.walk_store import Walker, WalkStore
from collectors.schema import migrate

log = logging.getLogger(__name__)

DEFAULT_WINDOW = "15m"
MAX_WINDOW = timedelta(days=31)
_WINDOW = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class BadWindow(ValueError):
    """A window the caller asked for that cannot be understood; the message says what is expected."""


def install(ctx: AppContext) -> Callable[[], None] | None:
    """Add the state and discover routes to the API (call from app/wiring.py at start-up), and start walking
    journeys ahead of the live state (blueprints.walk_store) on the embedded engine.

    Also applies the live state's own migrations (the span rollup, the convention columns) should the
    server have migrated before this module registered them; migrating again is a no-op otherwise.
    """
    applied = migrate(ctx.client(), ctx.settings.schema_options())
    if applied:
        log.info("live-state migrations applied at start-up", extra={"versions": applied})
    ctx.parts.setdefault("api_registrars", []).append(register)
    return _start_walker(ctx)


def _start_walker(ctx: AppContext) -> Callable[[], None] | None:
    # One process owns an embedded engine, so its store is the only one; serving processes sharing a
    # ClickHouse server would each clear the others' (they walk live).
    settings = ctx.settings
    blueprints = ctx.parts.get("blueprints")
    if settings.walk_ahead_s <= 0 or not ctx.dsn.embedded or blueprints is None:
        return None
    store = WalkStore(settle_s=settings.walk_ahead_settle_s)
    ctx.writer.on_commit(store.note_committed)
    walker = Walker(store, ctx.client, blueprints.blueprints, settings.walk_ahead_s)
    walker.start()
    ctx.parts["walks"] = store
    return walker.stop


def register(bp: flask.Blueprint, ctx: AppContext) -> None:
    """Register GET /blueprints/<id>/state and GET /discover on the /api/v1 blueprint."""
    kept = _KeptKeys()

    @bp.get("/blueprints/<blueprint_id>/state")
    def blueprint_state(blueprint_id: str) -> flask.Response:
        now = datetime.now(UTC)
        try:
            blueprint = _find_blueprint(ctx, blueprint_id)
        except InvalidBlueprint as invalid:
            return _problem(422, f"blueprint '{blueprint_id}' is not valid, so it has no live state: {invalid}")
        if blueprint is None:
            return _problem(
                404, f"no blueprint '{blueprint_id}': GET /api/v1/blueprints lists the known ones"
            )
        try:
            start, end = parse_window(flask.request.args, now)
        except BadWindow as bad:
            return _problem(400, str(bad))
        client = ctx.client()
        kept.ensure(client, blueprint, now)
        try:
            state = compute_state(
                client,
                blueprint,
                start,
                end,
                now,
                state_options(ctx.settings),
                side_client=ctx.client,
                walks=ctx.parts.get("walks"),
            )
        except StateUnavailable as unavailable:
            log.warning(
                "blueprint state unavailable", extra={"blueprint": blueprint_id, "error": str(unavailable)}
            )
            return _problem(503, str(unavailable))
        return flask.Response(state.model_dump_json(by_alias=True), mimetype="application/json")

    @bp.get("/discover")
    def discover_blueprint() -> flask.Response:
        now = datetime.now(UTC)
        try:
            start, end = parse_window(flask.request.args, now, default="1h")
            options = DiscoverOptions(blueprint_id=flask.request.args.get("id", DiscoverOptions.blueprint_id))
        except (BadWindow, ValueError) as bad:
            return _problem(400, str(bad))
        try:
            draft = discover(ctx.client(), start, end, options)
        except DiscoveryUnavailable as unavailable:
            return _problem(503, str(unavailable))
        return flask.jsonify(
            {
                "window": {"start": start.isoformat(), "end": end.isoformat()},
                "spans": draft.spans,
                "journeys": draft.journeys,
                "steps": len(draft.document["steps"]),
                "yaml": draft.yaml,
            }
        )


def parse_window(args: Any, now: datetime, default: str = DEFAULT_WINDOW) -> tuple[datetime, datetime]:
    """[start, end) from `from`/`to` (ISO 8601 with an offset) or `window` (the last 15m, 2h, …)."""
    given_from, given_to = args.get("from"), args.get("to")
    if given_from is not None or given_to is not None:
        if given_from is None or given_to is None:
            raise BadWindow(
                "give both 'from' and 'to' (ISO 8601, e.g. 2025-03-01T09:00:00Z), or 'window' alone"
            )
        if args.get("window") is not None:
            raise BadWindow("give either 'window' or 'from' and 'to', not both")
        start, end = _instant("from", given_from), _instant("to", given_to)
        if end <= start:
            raise BadWindow(f"'to' {given_to} must be after 'from' {given_from}")
    else:
        text = args.get("window") or default
        match = _WINDOW.match(text.strip())
        if not match or float(match.group(1)) <= 0:
            raise BadWindow(f"window '{text}' is not a duration such as 90s, 15m, 2h or 1d")
        end = now
        start = now - timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    if end - start > MAX_WINDOW:
        raise BadWindow(
            f"a window may span at most {MAX_WINDOW.days} days, "
            f"got {(end - start).total_seconds() / 86400:g} days"
        )
    return start, end


def state_options(settings: Any) -> StateOptions:
    """StateOptions from the settings' state_* fields where they exist, defaults otherwise."""
    defaults = StateOptions()
    return StateOptions(
        rollup_after_s=float(getattr(settings, "state_rollup_after_s", defaults.rollup_after_s)),
        journey_horizon_s=float(getattr(settings, "state_journey_horizon_s", defaults.journey_horizon_s)),
    )


def _instant(name: str, text: str) -> datetime:
    try:
        value = datetime.fromisoformat(
            text.strip().replace(" ", "+")
        )  # a '+' arrives as ' ' when not escaped
    except ValueError:
        raise BadWindow(
            f"'{name}' {text!r} is not an ISO 8601 instant such as 2025-03-01T09:00:00Z"
        ) from None
    if value.tzinfo is None:
        raise BadWindow(f"'{name}' {text} has no timezone: add Z or an offset such as +02:00")
    return value.astimezone(UTC)


def _find_blueprint(ctx: AppContext, blueprint_id: str) -> Any:
    """The valid model from the server's blueprint store; None when there is no such blueprint.

    Raises InvalidBlueprint (the file's located problems) when the file exists but is not valid."""
    store = ctx.parts.get("blueprints")
    if store is None:
        return None
    try:
        return store.blueprint(blueprint_id)
    except BlueprintNotFound:
        return None


def _problem(status: int, message: str) -> flask.Response:
    return flask.make_response(flask.jsonify({"error": message}), status)


class _KeptKeys:
    """Asks the rollup to keep the attributes each blueprint selects on, once per key per process."""

    def __init__(self) -> None:
        self._done: set[str] = set()
        self._lock = threading.Lock()

    def ensure(self, client: Any, blueprint: Any, now: datetime) -> None:
        keys = selector_attribute_keys([blueprint])
        with self._lock:
            missing = keys - self._done
            if not missing:
                return
            try:
                ensure_rollup_keys(client, missing, now)
            except Exception as exc:  # noqa: BLE001 - without the rollup, long windows are answered from raw spans
                log.warning(
                    "span rollup cannot keep attributes", extra={"keys": sorted(missing), "error": str(exc)}
                )
                return
            self._done |= missing
