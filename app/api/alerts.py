"""The alert API under /api/v1, and the start hook that runs the alert engine inside `touchpoint serve`.

    GET    /alerts?state=firing,acknowledged&blueprint=…&step=…&limit=…   (default: open alerts; state=all)
    GET    /alerts/<id>                        the alert, its episode and its audit trail
    POST   /alerts/<id>/ack|resolve|assign|note
                                               JSON {"by": …, "assignee": … | "text": …}
    GET    /alerts/rules                       rules in force (files and generated) and where each comes from
    GET    /alerts/episodes                    open episodes
    GET    /alerts/deliveries?episode=…        the delivery log, newest first
    GET    /alerts/status                      how the last evaluation cycle went
    GET    /silences                           silences not yet expired
    POST   /silences                           JSON {"matchers": ["step=checkout"], "duration": "2h"
                                               | "ends_at": …, "starts_at": …, "created_by": …, "comment": …}
    DELETE /silences/<id>                      expire a silence now

Errors answer {"error": "<what was wrong and what is expected>"} with 400, 404 or 409. Who acts is the
signed-in person or API token; in local mode, the "by" / "created_by" the body gives.
Wiring: app/wiring.py calls `start(ctx)` at start-up; it installs these routes and returns the stop function.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import flask

from alerts.book import AlertBook
from alerts.durations import parse_duration
from alerts.engine import AlertEngine
from alerts.errors import InvalidAction, InvalidSilence, UnknownAlert, UnknownSilence
from alerts.model import OPEN_STATES, AlertState
from alerts.rule_source import RuleSource, directory_blueprints
from alerts.store import AlertStore
from app.auth import current_identity
from app.context import AppContext
from collectors.schema import migrate

log = logging.getLogger(__name__)

PART = "alerts"


def start(ctx: AppContext) -> Callable[[], None]:
    """Create the alert book and engine, install the routes, and start evaluating when the settings say so.

    Returns the stop function (the engine's thread and notification workers end with it).
    """
    # the alert tables, when the server's first migration ran before alerts/ was imported
    migrate(ctx.client(), ctx.settings.schema_options())
    store = AlertStore(ctx.client)
    shared = not ctx.dsn.embedded  # a ClickHouse server may have other touchpoint processes on it
    book = AlertBook(store, shared_store=shared)
    book.load(datetime.now(UTC))
    source = RuleSource(ctx.settings.rules, directory_blueprints(ctx.settings.blueprints))
    election = ctx.parts.get("leader")
    engine = AlertEngine(
        book,
        source,
        ctx.client,
        interval_s=ctx.settings.evaluate_every_s,
        leading=(lambda: election.leadership() is not None) if election is not None else None,
        shared_store=shared,
    )
    ctx.parts[PART] = engine
    install(ctx)
    if ctx.settings.evaluate_alerts:
        engine.start()
    return engine.stop


def install(ctx: AppContext) -> None:
    """Add the alert and silence routes to the API."""
    ctx.parts.setdefault("api_registrars", []).append(register)


def register(bp: flask.Blueprint, ctx: AppContext) -> None:
    """Register the routes listed in this module's docstring on the /api/v1 blueprint."""

    def engine() -> AlertEngine:
        return ctx.parts[PART]  # type: ignore[no-any-return]

    def book() -> AlertBook:
        return engine().book

    @bp.get("/alerts")
    def list_alerts() -> flask.Response:
        args = flask.request.args
        wanted = [s for s in args.get("state", "").split(",") if s]
        unknown = [s for s in wanted if s != "all" and s not in set(AlertState)]
        if unknown:
            return _problem(400, f"state {unknown[0]!r} is not one of {', '.join(AlertState)}, all")
        states = [] if "all" in wanted else (wanted or sorted(str(s) for s in OPEN_STATES))
        try:
            limit = min(5000, max(1, int(args.get("limit", "500"))))
        except ValueError:
            return _problem(400, f"limit {args.get('limit')!r} is not a whole number")
        found = book().store.alerts(states, args.get("blueprint"), args.get("step"), limit)
        return flask.jsonify({"alerts": [a.model_dump(mode="json") for a in found]})

    @bp.get("/alerts/rules")
    def list_rules() -> flask.Response:
        context = engine().source.current()
        failures = engine().status.failures
        rules = [
            {
                **rule.model_dump(mode="json", by_alias=True),
                "origin": str(context.rules.origins.get(rule.id, "")),
                "problem": failures.get(rule.id),
            }
            for rule in context.rules.rules
        ]
        destinations = [
            {"id": d.id, "kind": d.kind, "match": d.match, "ready": d.id in context.notifiers}
            for d in context.rules.destinations
        ]
        return flask.jsonify(
            {"rules": rules, "destinations": destinations, "problems": list(context.problems)}
        )

    @bp.get("/alerts/episodes")
    def list_episodes() -> flask.Response:
        return flask.jsonify({"episodes": [e.model_dump(mode="json") for e in book().open_episodes()]})

    @bp.get("/alerts/deliveries")
    def list_deliveries() -> flask.Response:
        attempts = book().store.deliveries(flask.request.args.get("episode"))
        return flask.jsonify({"deliveries": [{**asdict(a), "at": a.at.isoformat()} for a in attempts]})

    @bp.get("/alerts/status")
    def status() -> flask.Response:
        current = engine().status
        body = {
            **asdict(current),
            "at": current.at.isoformat() if current.at else None,
            "interval_s": engine().interval_s,
            "evaluating": ctx.settings.evaluate_alerts,
            # several processes on one ClickHouse server: only the lease holder evaluates
            "leading": _leading(ctx),
        }
        return flask.jsonify(body)

    @bp.get("/alerts/<alert_id>")
    def one_alert(alert_id: str) -> flask.Response:
        alert = book().store.alert(alert_id)
        if alert is None:
            return _problem(404, f"no alert has the id {alert_id!r}")
        episode = book().store.episode(alert.episode_id) if alert.episode_id else None
        return flask.jsonify(
            {
                "alert": alert.model_dump(mode="json"),
                "episode": episode.model_dump(mode="json") if episode else None,
                "audit": [e.model_dump(mode="json") for e in book().store.audit(alert_id)],
            }
        )

    @bp.post("/alerts/<alert_id>/<action>")
    def act(alert_id: str, action: str) -> flask.Response:
        body = _json_body()
        by = _actor(body.get("by"))
        text = str(body.get("assignee") if action == "assign" else body.get("text", ""))
        if action == "assign" and body.get("assignee") is None:
            return _problem(400, 'assign needs a JSON body with "assignee" (an empty string clears it)')
        try:
            alert = book().act(alert_id, action, by, datetime.now(UTC), text)
        except UnknownAlert as exc:
            return _problem(404, str(exc))
        except InvalidAction as exc:
            return _problem(409 if action in ("ack", "resolve") else 400, str(exc))
        return flask.jsonify({"alert": alert.model_dump(mode="json")})

    @bp.get("/silences")
    def list_silences() -> flask.Response:
        found = book().silences(datetime.now(UTC))
        return flask.jsonify({"silences": [s.model_dump(mode="json") for s in found]})

    @bp.post("/silences")
    def add_silence() -> flask.Response:
        body = _json_body()
        now = datetime.now(UTC)
        try:
            starts_at = _instant(body.get("starts_at"), "starts_at") or now
            ends_at = _instant(body.get("ends_at"), "ends_at")
            if ends_at is None:
                if not body.get("duration"):
                    raise InvalidSilence('a silence needs "duration" (e.g. "2h") or "ends_at"')
                ends_at = starts_at + parse_duration(body["duration"])
            matchers = body.get("matchers")
            if not isinstance(matchers, list):
                raise InvalidSilence('"matchers" must be a list such as ["step=checkout", "severity=page"]')
            silence = book().silence(
                matchers,
                starts_at,
                ends_at,
                _actor(body.get("created_by")),
                str(body.get("comment") or ""),
                now,
            )
        except (InvalidSilence, ValueError) as exc:
            return _problem(400, str(exc))
        return flask.make_response(flask.jsonify({"silence": silence.model_dump(mode="json")}), 201)

    @bp.delete("/silences/<silence_id>")
    def expire_silence(silence_id: str) -> flask.Response:
        by = _actor(None)
        try:
            silence = book().expire_silence(silence_id, by, datetime.now(UTC))
        except UnknownSilence as exc:
            return _problem(404, str(exc))
        return flask.jsonify({"silence": silence.model_dump(mode="json")})


def _actor(claimed: Any) -> str:
    """Who acts: the signed-in person or API token when there is one (what the body claims is ignored then),
    else the name the body or the X-Touchpoint-User header gives, else "api"."""
    identity = current_identity()
    if identity.via in ("session", "token") and identity.name:
        return identity.name
    return str(claimed or flask.request.headers.get("X-Touchpoint-User") or "api")


def _json_body() -> dict[str, Any]:
    body = flask.request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _instant(value: Any, name: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise InvalidSilence(
            f"{name} {value!r} is not an ISO 8601 time such as 2024-05-01T12:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise InvalidSilence(f"{name} {value!r} needs a time zone, e.g. 2024-05-01T12:00:00Z")
    return moment.astimezone(UTC)


def _leading(ctx: AppContext) -> bool:
    election = ctx.parts.get("leader")
    return bool(ctx.settings.evaluate_alerts) and (election is None or election.leadership() is not None)


def _problem(status: int, message: str) -> flask.Response:
    return flask.make_response(flask.jsonify({"error": message}), status)
