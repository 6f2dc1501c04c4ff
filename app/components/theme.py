"""The dashboard's visual vocabulary: how health, lanes and actors look. Health is always shown by a glyph
and a word as well as a colour, so it reads in grey-scale and for colour-blind people."""

from __future__ import annotations

from dataclasses import dataclass

from blueprints.state_model import Health


@dataclass(frozen=True)
class HealthStyle:
    """How one health value is drawn: word, glyph, strong colour (text, borders) and light tint (fills)."""

    label: str
    glyph: str
    colour: str
    tint: str
    dash: str  # border style of a tile: solid, or dashed for "no data"


HEALTH_STYLES: dict[Health, HealthStyle] = {
    Health.OK: HealthStyle("OK", "✓", "#1a7f37", "#e9f6ec", "solid"),
    Health.WARN: HealthStyle("WARN", "▲", "#9a5b00", "#fff4d6", "solid"),
    Health.CRITICAL: HealthStyle("CRITICAL", "✖", "#c62828", "#fde8e8", "solid"),
    Health.NO_DATA: HealthStyle("NO DATA", "○", "#6e7781", "#f3f4f6", "dash"),
}
HEALTH_ORDER = (Health.CRITICAL, Health.WARN, Health.OK, Health.NO_DATA)  # worst first, for sorting

LANES = ("evidence", "customer", "frontstage", "backstage", "support")
LANE_TITLES = {
    "evidence": "Evidence",
    "customer": "Customer",
    "frontstage": "Frontstage",
    "backstage": "Backstage",
    "support": "Support",
}
# The line drawn under each lane, as the service-blueprint method names them.
LINES_BELOW = {
    "customer": "line of interaction",
    "frontstage": "line of visibility",
    "backstage": "line of internal interaction",
}

ACTORS = ("person", "process", "system")
# People, processes and systems must differ in more than colour: each has a bar pattern too.
ACTOR_STYLES = {
    "person": {"colour": "#3b5bdb", "pattern": "", "label": "Person"},
    "process": {"colour": "#a05a00", "pattern": "/", "label": "Process"},
    "system": {"colour": "#5f6b7a", "pattern": ".", "label": "System"},
}

INK = "#1f2328"
MUTED = "#57606a"
GRID = "#d0d7de"
ACCENT = "#0b5cad"
BOTTLENECK = "#6f42c1"
IMPACT = "#c62828"
FONT = "Inter, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"


def health_style(health: Health | str) -> HealthStyle:
    """The style of a health value (given as the enum or its string)."""
    return HEALTH_STYLES[Health(health)]


def health_text(health: Health | str) -> str:
    """Glyph and word, e.g. '✖ CRITICAL'."""
    style = health_style(health)
    return f"{style.glyph} {style.label}"


def health_rank(health: Health | str) -> int:
    """0 for the worst health (critical), rising to no data."""
    return HEALTH_ORDER.index(Health(health))
