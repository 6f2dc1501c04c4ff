"""Dash pages, one module per page. Pages reach the running server's parts through :func:`context`."""

from __future__ import annotations

import flask

from app.context import AppContext


def context() -> AppContext:
    """The running server's context (settings, ClickHouse clients, blueprint store, alert engine).

    Valid inside a request (layouts and callbacks run in one).
    """
    return flask.current_app.extensions["touchpoint"]
