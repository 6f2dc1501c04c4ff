"""The live blueprint as a plotly figure: lanes down, stages across, the lines of interaction, visibility and
internal interaction, one tile per step coloured AND labelled by health with its throughput, error rate, p95
and wait; edges with volume and waiting time; the bottleneck and impact paths marked. Pure: a figure dict."""

from __future__ import annotations

import math
from collections.abc import Mapping
from html import escape
from typing import Any

from app.components import units
from app.components.design import MapDesign
from app.components.swimlane_layout import (
    MARGIN,
    Box,
    SwimlaneLayout,
    clip_to_boxes,
    swimlane_layout,
)
from app.components.theme import (
    ACCENT,
    BOTTLENECK,
    FONT,
    GRID,
    IMPACT,
    INK,
    LANE_TITLES,
    LANES,
    LINES_BELOW,
    MUTED,
    health_style,
)
from blueprints.state_model import BlueprintState, Bottleneck, Health, ObjectiveStatus, StepState

NAME_CHARS = 22
CLICK_TRACE = "steps"
EDGE_INK = "#57606a"
OFF_DESIGN = "#d9822b"
DESIGNED_ONLY = "#c3c9d0"
MINOR_EDGE_SHARE = 0.05  # transitions carrying less than this share of the busiest one are left out

Items = list[dict[str, Any]]


def build_blueprint_figure(
    design: MapDesign,
    state: BlueprintState | None = None,
    selected: str | None = None,
    notes: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The swimlane figure of `design`, with `state`'s figures on tiles and edges when given.

    `selected` outlines one step; `notes` replaces a tile's figures with a line of text (the editor's
    match counts). Every text from the blueprint or the data is escaped: plotly reads tags in text.
    """
    layout = swimlane_layout(design)
    steps = {s.step_id: s for s in state.steps} if state else {}
    shapes: Items = []
    annotations: Items = []
    _lanes(layout, shapes, annotations)
    _stages(layout, shapes, annotations)
    top = state.bottleneck[0] if state and state.bottleneck else None
    if state is not None:
        _edges(design, layout, state, top, shapes, annotations)
        _impacts(layout, state, shapes, annotations)
    else:
        designed = {(f.from_step, f.to_step) for f in design.flows}
        for flow in design.flows:
            two_way = (flow.to_step, flow.from_step) in designed
            _arrow(layout, flow.from_step, flow.to_step, "#8c959f", 1.4, None, shapes, annotations, two_way)
    for step in design.steps:
        box = layout.tiles[step.id]
        live = steps.get(step.id)
        is_bottleneck = top is not None and top.kind == "step" and top.step_id == step.id
        shapes.append(_tile(box, live, step.id == selected, is_bottleneck))
        note = (notes or {}).get(step.id)
        annotations.append(_tile_text(step.name, box, live, note, state is not None))
        if is_bottleneck:
            annotations.append(_tag(box, "◆ BOTTLENECK", BOTTLENECK))
    trace = {
        "type": "scatter",
        "name": CLICK_TRACE,
        "mode": "markers",
        "x": [layout.tiles[s.id].cx for s in design.steps],
        "y": [layout.tiles[s.id].cy for s in design.steps],
        "customdata": [s.id for s in design.steps],
        "hovertext": [_hover(design, s.id, steps.get(s.id)) for s in design.steps],
        "hoverinfo": "text",
        "marker": {"symbol": "square", "size": 72, "opacity": 0.0},
        "hoverlabel": {
            "bgcolor": "white",
            "bordercolor": GRID,
            "font": {"family": FONT, "size": 12, "color": INK},
        },
    }
    return {
        "data": [trace],
        "layout": {
            **({} if layout.stretches else {"width": layout.width_px}),
            "height": layout.height_px,
            "margin": MARGIN,
            "autosize": True,
            "xaxis": {"range": [0, layout.columns], "visible": False, "fixedrange": True},
            "yaxis": {"range": [layout.height, 0], "visible": False, "fixedrange": True},
            "shapes": shapes,
            "annotations": annotations,
            "showlegend": False,
            "dragmode": False,
            "hovermode": "closest",
            "plot_bgcolor": "white",
            "paper_bgcolor": "white",
            "font": {"family": FONT, "size": 11, "color": INK},
        },
    }


def objective_text(objective: ObjectiveStatus) -> str:
    """One objective as a sentence: 'availability 99.65% (target 99.50%) ✓ met · budget left 31%'."""
    if objective.kind == "availability":
        actual, target = units.percent(objective.actual, 2), units.percent(objective.target, 2)
    else:
        actual, target = units.duration(objective.actual), units.duration(objective.target)
    verdict = "✓ met" if objective.met else "✖ missed" if objective.met is False else "? unknown"
    text = f"{objective.kind} {actual} (target {target}) {verdict}"
    if objective.budget_remaining is not None:
        text += f" · budget left {units.percent(objective.budget_remaining, 0)}"
    return text


def _text(x: float, y: float, text: str, size: float = 11, colour: str = INK, **extra: Any) -> dict[str, Any]:
    return {"xref": "x", "yref": "y", "x": x, "y": y, "showarrow": False, "text": text,
            "font": {"size": size, "color": colour}, **extra}  # fmt: skip


def _line(
    x0: float, y0: float, x1: float, y1: float, colour: str, width: float, dash: str, **extra: Any
) -> dict[str, Any]:
    return {"type": "line", "xref": "x", "yref": "y", "x0": x0, "y0": y0, "x1": x1, "y1": y1,
            "line": {"color": colour, "width": width, "dash": dash}, **extra}  # fmt: skip


def _lanes(layout: SwimlaneLayout, shapes: Items, annotations: Items) -> None:
    for index, lane in enumerate(LANES):
        top, bottom = layout.lanes[lane]
        band = {"type": "rect", "xref": "paper", "yref": "y", "x0": 0, "x1": 1, "y0": top, "y1": bottom}
        shapes.append(
            {
                **band,
                "fillcolor": "#f6f8fa" if index % 2 else "#ffffff",
                "line": {"width": 0},
                "layer": "below",
            }
        )
        empty = bottom - top < 1.0
        title = f"<b>{LANE_TITLES[lane]}</b>" + (
            "<br><span style='font-size:9px'>no steps</span>" if empty else ""
        )
        label = _text(0, (top + bottom) / 2, title, 11, MUTED if empty else INK, xanchor="right", xshift=-8)
        annotations.append({**label, "xref": "paper", "align": "right"})
        line = LINES_BELOW.get(lane)
        if line:
            rule = _line(-0.09, bottom, 1, bottom, "#8c959f", 1.2, "dash", layer="below")
            shapes.append({**rule, "xref": "paper"})
            words = (
                line.replace("line of ", "line of<br>")
                if len(line) < 22
                else line.replace(" interaction", "<br>interaction")
            )
            caption = _text(
                0, bottom, f"<i>{words}</i>", 8.5, MUTED, xanchor="right", xshift=-6, align="right"
            )
            annotations.append({**caption, "xref": "paper"})


def _stages(layout: SwimlaneLayout, shapes: Items, annotations: Items) -> None:
    for index, (_, name, x0, x1) in enumerate(layout.stages):
        header = _text(
            (x0 + x1) / 2, 1, f"<b>{escape(name).upper()}</b>", 11, MUTED, yanchor="bottom", yshift=6
        )
        annotations.append({**header, "yref": "paper"})
        if index:
            shapes.append({**_line(x0, 0, x0, 1.06, GRID, 1, "dot", layer="below"), "yref": "paper"})


def _tile(box: Box, live: StepState | None, selected: bool, bottleneck: bool) -> dict[str, Any]:
    style = health_style(live.health if live else Health.NO_DATA)
    border = ACCENT if selected else BOTTLENECK if bottleneck else style.colour
    return {
        "type": "rect", "xref": "x", "yref": "y", "x0": box.x0, "x1": box.x1, "y0": box.y0, "y1": box.y1,
        "fillcolor": style.tint, "layer": "below",
        "line": {"color": border, "width": 3.5 if selected or bottleneck else 1.6, "dash": style.dash},
    }  # fmt: skip


def _tile_text(
    name: str, box: Box, live: StepState | None, note: str | None, measured: bool
) -> dict[str, Any]:
    style = health_style(live.health if live else Health.NO_DATA)
    title = escape(name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…")
    label = f"<span style='color:{style.colour}'><b>{style.glyph} {style.label}</b></span>"
    if note is not None:
        lines = [f"<b>{title}</b>", escape(note)]
    elif live is None or live.count == 0:
        lines = [f"<b>{title}</b>", label if measured else "", "no spans in window" if measured else ""]
    else:
        in_flight = f" · {live.in_flight} in flight" if live.in_flight else ""
        lines = [
            f"<b>{title}</b>",
            f"{label} · {units.rate(live.throughput_per_min)}",
            f"err {units.percent(live.error_rate)} · p95 {units.duration(live.p95_s)}",
            f"wait {units.duration(live.wait_mean_s)}{in_flight}",
        ]
    text = _text(
        box.x0 + 0.04, box.cy, "<br>".join(lines), 10.5, xanchor="left", yanchor="middle", align="left"
    )
    return text


def _tag(box: Box, text: str, colour: str) -> dict[str, Any]:
    tag = _text(box.x0, box.y0, f"<b>{text}</b>", 9, "white", xanchor="left", yanchor="middle")
    return {**tag, "bgcolor": colour, "borderpad": 2}


def _edges(
    design: MapDesign,
    layout: SwimlaneLayout,
    state: BlueprintState,
    top: Bottleneck | None,
    shapes: Items,
    annotations: Items,
) -> None:
    observed = {(e.from_step, e.to_step) for e in state.edges}
    for flow in design.flows:  # designed but not travelled in the window: a faint hint of the path
        if (flow.from_step, flow.to_step) not in observed:
            _arrow(layout, flow.from_step, flow.to_step, DESIGNED_ONLY, 1.0, None, shapes, annotations)
    biggest = max((e.count for e in state.edges), default=1) or 1
    minor = [e for e in state.edges if e.count < MINOR_EDGE_SHARE * biggest and e.from_step != e.to_step]
    if minor:
        plural = "s" if len(minor) != 1 else ""
        share = f"{MINOR_EDGE_SHARE:.0%}"
        note = f"{len(minor)} minor transition{plural} not drawn (each under {share} of the busiest)"
        annotations.append(
            {
                **_text(1, 0, note, 9, MUTED, xanchor="right", yanchor="top", yshift=-2),
                "xref": "paper",
                "yref": "paper",
            }
        )
    late = {s.step_id for s in state.steps for o in s.objectives if o.kind == "wait" and o.met is False}
    for edge in state.edges:
        if edge.count < MINOR_EDGE_SHARE * biggest and edge.from_step != edge.to_step:
            continue
        if edge.from_step == edge.to_step:
            box = layout.tiles.get(edge.from_step)
            if box is not None:
                loop = f"↻ {units.count(edge.count)}"
                annotations.append(
                    _text(box.x1, box.y1, loop, 9, MUTED, xanchor="right", yanchor="top", yshift=-1)
                )
            continue
        is_top = (
            top is not None
            and top.kind == "edge"
            and (top.from_step, top.to_step)
            == (
                edge.from_step,
                edge.to_step,
            )
        )
        label = f"{units.count(edge.count)} · {units.duration(edge.wait_mean_s)}"
        if is_top:
            colour, label = BOTTLENECK, "◆ bottleneck · " + label
        elif not edge.expected:
            colour, label = OFF_DESIGN, "off design · " + label
        elif edge.to_step in late:
            colour = health_style(Health.WARN).colour
        else:
            colour = EDGE_INK
        width = 1.0 + 3.5 * math.sqrt(edge.count / biggest)
        two_way = (edge.to_step, edge.from_step) in observed
        _arrow(layout, edge.from_step, edge.to_step, colour, width, label, shapes, annotations, two_way)


def _arrow(
    layout: SwimlaneLayout,
    source: str,
    target: str,
    colour: str,
    width: float,
    label: str | None,
    shapes: Items,
    annotations: Items,
    two_way: bool = False,
) -> None:
    route = layout.route(source, target, min_bend=0.3 if two_way else 0.0)
    if route is None:
        return
    shapes.append(
        {
            "type": "path",
            "xref": "x",
            "yref": "y",
            "path": route.svg_path,
            "line": {"color": colour, "width": width},
        }
    )
    head = _text(*route.end, "", axref="x", ayref="y", ax=route.tail[0], ay=route.tail[1], showarrow=True)
    annotations.append(
        {
            **head,
            "arrowhead": 2,
            "arrowsize": 1.1,
            "arrowwidth": max(1.2, width * 0.8),
            "arrowcolor": colour,
            "standoff": 0,
        }
    )
    if label:
        ink = INK if colour == EDGE_INK else colour
        text = _text(*route.label, escape(label), 9, ink)
        annotations.append({**text, "bgcolor": "rgba(255,255,255,0.92)", "borderpad": 1})


def _impacts(layout: SwimlaneLayout, state: BlueprintState, shapes: Items, annotations: Items) -> None:
    seen: set[tuple[str, str]] = set()
    for touchpoint in state.touchpoints:
        for path in touchpoint.impacted_by:
            for affected in path.affected_steps:
                a, b = layout.tiles.get(path.cause_step), layout.tiles.get(affected)
                if a is None or b is None or (path.cause_step, affected) in seen:
                    continue
                seen.add((path.cause_step, affected))
                x0, y0, x1, y1 = clip_to_boxes(a, b, gap=0.0)
                shapes.append(_line(x0, y0, x1, y1, IMPACT, 2.2, "dot"))
                mark = _text(
                    (x0 + x1) / 2, (y0 + y1) / 2, "<b>⚡ impact</b>", 9, IMPACT, xanchor="left", xshift=4
                )
                annotations.append({**mark, "bgcolor": "rgba(255,255,255,0.92)"})


def _hover(design: MapDesign, step_id: str, live: StepState | None) -> str:
    step = design.step(step_id)
    owner = f" · owner {step.owner}" if step and step.owner else ""
    lines = [f"<b>{escape(design.step_name(step_id))}</b>"]
    if step is not None:
        lines.append(escape(f"{step.lane} · {step.actor}{owner}"))
    if live is None:
        return "<br>".join([*lines, "no live figures"])
    style = health_style(live.health)
    lines += [
        f"{style.glyph} {style.label}: {escape(live.health_reason)}",
        f"{units.count(live.count)} spans · {units.rate(live.throughput_per_min)}"
        f" · errors {units.percent(live.error_rate)}",
        f"p50 {units.duration(live.p50_s)} · p95 {units.duration(live.p95_s)}"
        f" · p99 {units.duration(live.p99_s)}",
        f"wait mean {units.duration(live.wait_mean_s)} · p95 {units.duration(live.wait_p95_s)}",
        *(escape(objective_text(o)) for o in live.objectives),
        "<i>click for details</i>",
    ]
    return "<br>".join(lines)
