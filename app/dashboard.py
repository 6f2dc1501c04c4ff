"""The Dash app mounted at / on the server's Flask app: the shell (navigation, sign-in mode, first-run
banner) around one module per page in app/pages/."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import dash
import flask
from dash import Input, Output, dcc, html

from app.context import AppContext

log = logging.getLogger(__name__)
PAGES_DIR = Path(__file__).parent / "pages"
ASSETS_DIR = Path(__file__).parent / "assets"
# plotly.js as the graphs get it: the basic partial bundle, which draws every trace type our charts use.
PLOTLY_BUNDLE = Path(__file__).parent / "vendor" / "plotly-basic.min.js"
PLOTLY_TRACES = frozenset({"scatter", "bar", "pie"})
PLOTLY_CACHE_S = 3600  # the address carries no version: a browser checks back for an upgraded bundle hourly
NAV = (
    ("Overview", "/"),
    ("Blueprint", "/blueprint"),
    ("Alerts", "/alerts"),
    ("Journey", "/journey"),
    ("Editor", "/editor"),
)
NAV_ID = "shell-nav"


def create_dash(server: flask.Flask, ctx: AppContext) -> dash.Dash:
    """Build the multi-page Dash app on `server`; pages read `ctx` through app.pages.context()."""
    server.extensions["touchpoint"] = ctx
    app = dash.Dash(
        __name__,
        server=server,
        use_pages=True,
        pages_folder=str(PAGES_DIR),
        assets_folder=str(ASSETS_DIR),
        title="Touchpoint",
        suppress_callback_exceptions=True,
        update_title=None,
        serve_locally=True,
    )
    app.layout = shell
    serve_plotly_bundle(app, server)
    warm_up(ctx)
    links = json.dumps([href for _, href in NAV])
    app.clientside_callback(
        "function(pathname) { return window.dash_clientside.shell_links(pathname, " + links + "); }",
        [Output(f"{NAV_ID}-{index}", "className") for index in range(len(NAV))],
        Input("_pages_location", "pathname"),
    )
    return app


def serve_plotly_bundle(app: dash.Dash, server: flask.Flask) -> None:
    """Answer the graphs' request for plotly.js with the basic partial bundle (PLOTLY_TRACES).

    Dash's graphs load plotly.js from one fixed address when the first graph of a page mounts; the full
    bundle is 4.8 MB, which a fresh browser takes seconds to parse and run on a small machine, and every page
    load runs again. The basic bundle is 1.2 MB. This route is more specific than Dash's component-suite
    route, so it answers that address.
    """
    address = f"{app.config.routes_pathname_prefix}_dash-component-suites/plotly/package_data/plotly.min.js"

    def plotly_js() -> flask.Response:
        return flask.send_file(
            PLOTLY_BUNDLE, mimetype="text/javascript", conditional=True, etag=True, max_age=PLOTLY_CACHE_S
        )

    server.add_url_rule(address, "touchpoint_plotly_js", plotly_js)


def shell() -> html.Div:
    """The page frame, built per request: navigation, who is signed in (or the local-mode banner), and a
    line pointing to the first steps while no span has arrived."""
    from app.auth import auth_mode, current_identity
    from app.pages import context
    from app.pages._sources import has_spans

    ctx = context()
    mode = auth_mode(ctx)
    identity = current_identity()
    right: list[dash.development.base_component.Component] = []
    if mode.banner:
        right.append(html.Span(mode.banner, className="tp-mode", id="shell-mode"))
    elif identity.signed_in:
        right.append(html.Span(f"{identity.name} · {identity.role or 'token'}", className="tp-who"))
        right.append(html.A("Sign out", href="/logout", className="tp-link"))
    nav = html.Nav(
        [
            dcc.Link(["Touch", html.Span("point")], href="/", className="tp-brand"),
            *(
                dcc.Link(name, href=href, id=f"{NAV_ID}-{index}", className="tp-link")
                for index, (name, href) in enumerate(NAV)
            ),
            html.Span(className="tp-spacer"),
            *right,
        ],
        className="tp-nav",
    )
    banner = None
    if not has_spans(ctx):
        banner = html.Div(
            [
                html.B("No spans yet. "),
                "Run ",
                html.Code("touchpoint demo"),
                " or point an OpenTelemetry SDK at ",
                html.Code(f"{flask.request.host_url.rstrip('/')}/v1/traces"),
                " — ",
                dcc.Link("how to start", href="/"),
                ".",
            ],
            className="tp-banner",
            id="shell-first-run",
        )
    return html.Div([nav, html.Main([banner, dash.page_container], className="tp-page")])


def warm_up(ctx: AppContext) -> None:
    """Start computing every blueprint's state over the default range, so the first person to open the
    overview or a live blueprint after a start does not wait for it (background threads; returns at once)."""
    from datetime import UTC, datetime

    from app.pages._sources import blueprints, has_spans, live_states
    from app.pages._view import DEFAULT_RANGE, RANGES

    try:
        found = blueprints(ctx) if has_spans(ctx) else {}
    except Exception:  # noqa: BLE001 - no warm-up is no worse than a cold first view
        log.warning("dashboard warm-up skipped: the blueprints could not be read", exc_info=True)
        return
    now = datetime.now(UTC)
    for blueprint in found.values():
        live_states(ctx).prefetch(blueprint, RANGES[DEFAULT_RANGE], None, now)
