"""What a new server shows before any span has arrived: how to play the demo, or point OpenTelemetry at it."""

from __future__ import annotations

from dash import dcc, html


def first_run_panel(server_url: str) -> html.Div:
    """The two ways to get data in, with commands to copy; `server_url` is where this server was reached."""
    url = server_url.rstrip("/")
    demo = f"touchpoint demo --url {url} --backfill 1h --follow"
    sdk = (
        f"export OTEL_EXPORTER_OTLP_ENDPOINT={url}\n"
        "export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf\n"
        "export OTEL_SERVICE_NAME=web-shop\n"
        "opentelemetry-instrument python app.py"
    )
    collector = (
        "exporters:\n"
        "  otlphttp/touchpoint:\n"
        f"    endpoint: {url}\n"
        "    compression: gzip\n"
        "service:\n"
        "  pipelines:\n"
        "    traces:\n"
        "      exporters: [otlphttp/touchpoint]"
    )
    return html.Div(
        [
            html.H2("No spans have arrived yet"),
            html.P(
                "Touchpoint draws each customer journey as a live service blueprint from OpenTelemetry "
                "spans. "
                "Nothing has been received on this server so far. Two ways to start:",
                className="tp-muted",
            ),
            html.Div(
                [
                    html.Div(
                        [
                            html.H3("1. Play the demo"),
                            html.P(
                                "Realistic journeys for three blueprints (support line, online order, store "
                                "visit): an hour of history, then live traffic until Ctrl-C."
                            ),
                            html.Pre(demo, id="first-run-demo"),
                            html.P(
                                [
                                    "Add a fault to watch an alert fire: ",
                                    html.Code("--fault failure:online-order/payment@+5m/10m=0.5"),
                                ],
                                className="tp-small tp-muted",
                            ),
                        ],
                        className="tp-card",
                    ),
                    html.Div(
                        [
                            html.H3("2. Send your own spans"),
                            html.P(
                                [
                                    "Point an OpenTelemetry SDK at this server (spans go to ",
                                    html.Code(f"{url}/v1/traces"),
                                    ", OTLP/HTTP, protobuf or JSON):",
                                ]
                            ),
                            html.Pre(sdk, id="first-run-sdk"),
                            html.P("or an OpenTelemetry Collector:"),
                            html.Pre(collector),
                        ],
                        className="tp-card",
                    ),
                ],
                className="tp-grid cols-2",
            ),
            html.P(
                [
                    "Then map your steps: blueprints live as YAML files in the blueprint directory; ",
                    dcc.Link("the editor", href="/editor"),
                    " can start one from the spans it sees.",
                ],
                className="tp-small tp-muted tp-section",
            ),
        ],
        className="tp-banner",
        id="first-run",
    )
