"""Overview: placeholder until the dashboard lands."""

import dash
from dash import html

dash.register_page(__name__, path="/", name="Overview")


def layout(**_query: str) -> html.Div:
    return html.Div([html.H1("Touchpoint"), html.P("Service blueprints, live.")])
