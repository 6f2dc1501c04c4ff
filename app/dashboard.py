"""The Dash app mounted at / on the server's Flask app."""

from __future__ import annotations

from pathlib import Path

import dash
import flask

from app.context import AppContext

PAGES_DIR = Path(__file__).parent / "pages"


def create_dash(server: flask.Flask, ctx: AppContext) -> dash.Dash:
    """Build the multi-page Dash app on `server`; pages read `ctx` through app.pages.context()."""
    server.extensions["touchpoint"] = ctx
    app = dash.Dash(
        __name__,
        server=server,
        use_pages=True,
        pages_folder=str(PAGES_DIR),
        title="Touchpoint",
        suppress_callback_exceptions=True,
        update_title=None,
    )
    app.layout = dash.html.Div([dash.page_container])
    return app
