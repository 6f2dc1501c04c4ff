"""Small Dash pieces every page uses: the health badge (glyph, word and colour), pills, key figures."""

from __future__ import annotations

from dash import html

from app.components.theme import health_style
from blueprints.state_model import Health


def health_badge(health: Health | str, suffix: str = "") -> html.Span:
    """'✖ CRITICAL' in red with a red border; never colour alone. `suffix` follows the word (a score)."""
    value = Health(health)
    style = health_style(value)
    text = f"{style.glyph} {style.label}" + (f" {suffix}" if suffix else "")
    return html.Span(text, className=f"tp-badge {value.value}", title=f"health: {style.label.lower()}")


def pill(text: str, kind: str = "") -> html.Span:
    """A rounded label; `kind` (firing, acknowledged, resolved, page, ticket) sets its colour."""
    return html.Span(text, className=f"tp-pill {kind}".strip())


def kpi(value: str, key: str, title: str | None = None) -> html.Div:
    """A key figure: the value large, what it is small beneath it."""
    return html.Div(
        [html.Span(value, className="v"), html.Span(key, className="k")], className="tp-kpi", title=title
    )
