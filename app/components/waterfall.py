"""One journey end to end as a waterfall across lanes: a row per span, grouped in lane bands, people,
processes and systems told apart by bar pattern and marker shape (not colour alone), failures marked, and
the waits between consecutive steps drawn as labelled gaps."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape
from typing import Any

from app.components import units
from app.components.design import MapDesign
from app.components.theme import ACTOR_STYLES, FONT, GRID, IMPACT, INK, LANE_TITLES, LANES, MUTED

ROW_PX = 24
OTHER_LANE = "unmapped"
MARKERS = {"person": "circle", "process": "diamond", "system": "square"}


def lane_of(design: MapDesign, span: Any) -> str:
    """The lane a span is drawn in: its step's lane, else 'unmapped'."""
    step = design.step(span.step) if span.step else None
    return step.lane if step else OTHER_LANE


def actor_of(design: MapDesign, span: Any) -> str:
    """person, process or system: the span's actor.type when it says one of them, else its step's actor."""
    if span.actor_type in ACTOR_STYLES:
        return str(span.actor_type)
    step = design.step(span.step) if span.step else None
    return step.actor if step and step.actor in ACTOR_STYLES else "system"


def waits(spans: Sequence[Any], min_s: float = 1.0) -> list[tuple[Any, Any, float]]:
    """(before, after, seconds) for each gap of at least `min_s` between consecutive step spans."""
    stepped = sorted((s for s in spans if s.step), key=lambda s: s.start)
    gaps = []
    for before, after in zip(stepped, stepped[1:], strict=False):
        gap = after.start.timestamp() - before.end_s
        if gap >= min_s:
            gaps.append((before, after, gap))
    return gaps


def build_waterfall(design: MapDesign, spans: Sequence[Any]) -> dict[str, Any]:
    """The waterfall figure of one journey's spans (oldest first)."""
    order = {lane: i for i, lane in enumerate((*LANES, OTHER_LANE))}
    rows = sorted(spans, key=lambda s: (order[lane_of(design, s)], s.start))
    row_of = {id(s): i for i, s in enumerate(rows)}
    data: list[dict[str, Any]] = []
    for actor, style in ACTOR_STYLES.items():
        mine = [s for s in rows if actor_of(design, s) == actor]
        if not mine:
            continue
        data.append(
            {
                "type": "bar", "orientation": "h", "name": style["label"], "legendgroup": actor,
                "y": [row_of[id(s)] for s in mine],
                "base": [s.start.isoformat() for s in mine],
                "x": [max(s.duration_s * 1000.0, 0.5) for s in mine],
                "marker": {"color": style["colour"], "line": {"color": style["colour"], "width": 0.5},
                           "pattern": {"shape": style["pattern"], "fgcolor": "white", "size": 5}},
                "hovertext": [_hover(design, s, actor) for s in mine], "hoverinfo": "text", "width": 0.62,
            }
        )  # fmt: skip
        data.append(
            {
                "type": "scatter", "mode": "markers", "showlegend": False, "legendgroup": actor,
                "x": [s.start.isoformat() for s in mine], "y": [row_of[id(s)] for s in mine],
                "marker": {"symbol": MARKERS[actor], "size": 9, "color": style["colour"],
                           "line": {"color": "white", "width": 1}},
                "hovertext": [_hover(design, s, actor) for s in mine], "hoverinfo": "text",
            }
        )  # fmt: skip
    failed = [s for s in rows if s.failed]
    if failed:
        data.append(
            {
                "type": "bar", "orientation": "h", "name": "✖ Failed", "y": [row_of[id(s)] for s in failed],
                "base": [s.start.isoformat() for s in failed],
                "x": [max(s.duration_s * 1000.0, 0.5) for s in failed],
                "marker": {"color": "rgba(0,0,0,0)", "line": {"color": IMPACT, "width": 2.5}}, "width": 0.8,
                "hoverinfo": "skip",
            }
        )  # fmt: skip
    shapes, annotations = _lane_bands(design, rows)
    for before, after, gap in waits(rows):
        y0, y1 = row_of[id(before)], row_of[id(after)]
        x0 = datetime.fromtimestamp(before.end_s, before.start.tzinfo)
        shapes.append(
            {"type": "line", "xref": "x", "yref": "y", "x0": x0.isoformat(), "x1": after.start.isoformat(),
             "y0": y0, "y1": y1, "line": {"color": MUTED, "width": 1.2, "dash": "dot"}}
        )  # fmt: skip
        middle = x0 + (after.start - x0) / 2
        annotations.append(
            {"xref": "x", "yref": "y", "x": middle.isoformat(), "y": (y0 + y1) / 2, "showarrow": False,
             "text": f"wait {units.duration(gap)}", "font": {"size": 10, "color": INK},
             "bgcolor": "rgba(255,255,255,0.9)", "bordercolor": GRID, "borderpad": 2}
        )  # fmt: skip
    labels = [_row_label(design, s) for s in rows]
    first = min((s.start for s in rows), default=None)
    last = max((datetime.fromtimestamp(s.end_s, s.start.tzinfo) for s in rows), default=None)
    pad = (last - first) * 0.03 if first and last and last > first else timedelta(seconds=1)
    span_range = [(first - pad).isoformat(), (last + pad).isoformat()] if first and last else None
    return {
        "data": data,
        "layout": {
            "height": max(220, 70 + ROW_PX * len(rows)), "barmode": "overlay",
            "margin": {"l": 210, "r": 16, "t": 30, "b": 36},
            "xaxis": {"type": "date", "gridcolor": GRID, "range": span_range,
                      "title": {"text": "time (UTC)", "font": {"size": 11}}},
            "yaxis": {"tickvals": list(range(len(rows))), "ticktext": labels, "autorange": "reversed",
                      "fixedrange": True, "tickfont": {"size": 11}},
            "shapes": shapes, "annotations": annotations, "showlegend": True,
            "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom", "font": {"size": 11}},
            "paper_bgcolor": "white", "plot_bgcolor": "white",
            "font": {"family": FONT, "size": 11, "color": INK},
            "hovermode": "closest",
        },
    }  # fmt: skip


def _lane_bands(design: MapDesign, rows: Sequence[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    index = 0
    for band, lane in enumerate((*LANES, OTHER_LANE)):
        count = sum(1 for s in rows if lane_of(design, s) == lane)
        if not count:
            continue
        shapes.append(
            {"type": "rect", "xref": "paper", "yref": "y", "x0": 0, "x1": 1, "y0": index - 0.5,
             "y1": index + count - 0.5, "fillcolor": "#f6f8fa" if band % 2 else "#ffffff", "layer": "below",
             "line": {"color": GRID, "width": 1}}
        )  # fmt: skip
        annotations.append(
            {"xref": "paper", "yref": "y", "x": 1, "y": index - 0.5, "xanchor": "right", "yanchor": "top",
             "showarrow": False, "text": f"<b>{LANE_TITLES.get(lane, 'Not in the blueprint').upper()}</b>",
             "font": {"size": 9, "color": MUTED}}
        )  # fmt: skip
        index += count
    return shapes, annotations


def _row_label(design: MapDesign, span: Any) -> str:
    name = design.step_name(span.step) if span.step else f"{span.service} · {span.name}"
    text = name if len(name) <= 30 else name[:29] + "…"
    return escape(("✖ " if span.failed else "") + text)


def _hover(design: MapDesign, span: Any, actor: str) -> str:
    step = design.step_name(span.step) if span.step else "not bound to a step"
    lines = [
        f"<b>{escape(step)}</b>",
        escape(f"{span.service} · {span.name}"),
        escape(f"{ACTOR_STYLES[actor]['label']}" + (f" {span.actor_id}" if span.actor_id else "")),
        f"took {units.duration(span.duration_s)} · started {units.clock(span.start)}",
        ("✖ failed: " + escape(span.message or "error")) if span.failed else "✓ ok",
        f"trace {escape(span.trace_id)}",
    ]
    return "<br>".join(lines)
