"""GET /api/v1/health: is the server up, can it reach ClickHouse, how is ingest going."""

from __future__ import annotations

import time
from dataclasses import asdict

import flask

from app.context import AppContext
from collectors.schema import TRACES_TABLE


def health_report(ctx: AppContext) -> tuple[dict[str, object], int]:
    """The health document and its HTTP status (503 when ClickHouse does not answer)."""
    report: dict[str, object] = {
        "status": "ok",
        "uptime_s": round(time.time() - ctx.started_at, 1),
        "database": {"dsn": ctx.dsn.redacted(), "engine": "embedded" if ctx.dsn.embedded else "server"},
        "ingest": {**asdict(ctx.receiver.stats), **{"writer": asdict(ctx.writer.stats)}},
    }
    feed = ctx.writer.feed_stats
    if feed is not None:
        report["ingest"]["rollup_feed"] = asdict(feed)  # type: ignore[index]
    landing = ctx.writer.landing_stats
    if landing is not None:
        report["ingest"]["landing"] = asdict(landing)  # type: ignore[index]
    if ctx.mappers is not None:
        report["ingest"]["mapping"] = asdict(ctx.mappers.stats)  # type: ignore[index]
    walks = ctx.parts.get("walks")
    if walks is not None:
        report["walk_ahead"] = asdict(walks.stats)
    try:
        rows = ctx.client().query(f"SELECT count() FROM {TRACES_TABLE}").result_rows
        report["database"]["spans"] = int(rows[0][0])  # type: ignore[index]
    except Exception as exc:  # noqa: BLE001 - reported, not raised: health must always answer
        report["status"] = "degraded"
        report["database"]["error"] = str(exc)  # type: ignore[index]
        return report, 503
    return report, 200


def register(bp: flask.Blueprint, ctx: AppContext) -> None:
    @bp.get("/health")
    def health() -> flask.Response:
        document, status = health_report(ctx)
        return flask.make_response(flask.jsonify(document), status)
