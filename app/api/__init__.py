"""The JSON API under /api/v1: one Flask blueprint, routes added by one module per concept."""

from __future__ import annotations

import flask

from app.api import health
from app.context import AppContext


def build_api(ctx: AppContext) -> flask.Blueprint:
    """The /api/v1 blueprint with every concept's routes registered."""
    bp = flask.Blueprint("api", __name__, url_prefix="/api/v1")
    health.register(bp, ctx)
    for register in ctx.parts.get("api_registrars", []):
        register(bp, ctx)
    return bp
