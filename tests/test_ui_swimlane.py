"""The live blueprint's swimlane figure: where tiles sit, what each tile and edge says, and that nothing
from the data can turn into markup."""

from __future__ import annotations

from typing import Any

import pytest
from ui_states import DOCUMENT, design, edge, state, step_state, touchpoint

from app.components.design import map_design
from app.components.swimlane import CLICK_TRACE, build_blueprint_figure
from app.components.swimlane_layout import EMPTY_LANE, Box, route_edge, swimlane_layout
from blueprints.state_model import Bottleneck, Health, ImpactPath


def texts(figure: dict[str, Any]) -> list[str]:
    return [a["text"] for a in figure["layout"]["annotations"] if a.get("text")]


def tile_text(figure: dict[str, Any], name: str) -> str:
    return next(t for t in texts(figure) if t.startswith(f"<b>{name}"))


def test_stages_run_across_and_lanes_down() -> None:
    layout = swimlane_layout(design())

    assert layout.tiles["search"].cx < layout.tiles["checkout"].cx  # browse before buy
    assert layout.tiles["search"].cy < layout.tiles["checkout"].cy < layout.tiles["payment"].cy
    assert [s[0] for s in layout.stages] == ["browse", "buy"]


def test_steps_sharing_a_lane_and_stage_sit_side_by_side() -> None:
    layout = swimlane_layout(design())

    search, product = layout.tiles["search"], layout.tiles["product"]
    assert search.cy == product.cy and search.x1 < product.x0
    assert layout.stages[0][2:] == (0.0, 2.0)  # the browse stage is two columns wide


def test_an_unused_lane_stays_thin_so_the_lines_keep_their_place() -> None:
    layout = swimlane_layout(design())

    top, bottom = layout.lanes["backstage"]
    assert bottom - top == pytest.approx(EMPTY_LANE)
    assert layout.lanes["evidence"][1] - layout.lanes["evidence"][0] == pytest.approx(EMPTY_LANE)


def test_the_three_lines_are_drawn_and_named() -> None:
    figure = build_blueprint_figure(design(), state())

    captions = " ".join(texts(figure)).replace("<br>", " ")
    for line in ("line of interaction", "line of visibility", "line of internal interaction"):
        assert line in captions


def test_a_tile_shows_health_as_a_word_and_a_glyph_with_its_figures() -> None:
    live = state(
        steps=[
            step_state(
                "search",
                Health.CRITICAL,
                throughput_per_min=14.4,
                error_rate=0.071,
                p95_s=2.4,
                wait_mean_s=40.5,
            )
        ]
    )

    text = tile_text(build_blueprint_figure(design(), live), "Search products")

    assert "✖ CRITICAL" in text
    assert "14.4/min" in text and "err 7.1%" in text and "p95 2.4 s" in text and "wait 40.5 s" in text


def test_a_step_without_spans_says_so_and_is_outlined_dashed() -> None:
    live = state(steps=[step_state("search")])
    figure = build_blueprint_figure(design(), live)

    assert "○ NO DATA" in tile_text(figure, "Place the order")
    tiles = [s for s in figure["layout"]["shapes"] if s["type"] == "rect" and s["xref"] == "x"]
    assert sum(1 for t in tiles if t["line"]["dash"] == "dash") == 3


def test_edges_carry_their_volume_and_mean_wait() -> None:
    figure = build_blueprint_figure(design(), state(edges=[edge("search", "product", 757, 11.9)]))

    assert "757 · 11.9 s" in texts(figure)


def test_a_transition_outside_the_design_is_labelled_off_design() -> None:
    figure = build_blueprint_figure(
        design(), state(edges=[edge("search", "payment", 3, 120.0, expected=False)])
    )

    assert "off design · 3 · 2.0 min" in texts(figure)


def test_the_top_bottleneck_step_is_tagged() -> None:
    top = Bottleneck(
        kind="step", step_id="checkout", total_wait_s=900.0, wait_mean_s=40.0, count=20, evidence="…"
    )

    figure = build_blueprint_figure(design(), state(bottleneck=[top]))

    assert "<b>◆ BOTTLENECK</b>" in texts(figure)


def test_an_impact_path_crosses_the_line_of_visibility() -> None:
    path = ImpactPath(cause_step="payment", affected_steps=["checkout"], touchpoints=["web"])
    live = state(touchpoints=[touchpoint("web", Health.CRITICAL, 60.0, [path])])

    figure = build_blueprint_figure(design(), live)

    assert "<b>⚡ impact</b>" in texts(figure)
    dotted = [
        s
        for s in figure["layout"]["shapes"]
        if s["type"] == "line" and s["line"]["dash"] == "dot" and s["xref"] == "x" and s["yref"] == "y"
    ]
    assert len(dotted) == 1


def test_tiles_are_clickable_by_step_id() -> None:
    figure = build_blueprint_figure(design(), state())

    trace = figure["data"][0]
    assert trace["name"] == CLICK_TRACE
    assert trace["customdata"] == ["search", "product", "checkout", "payment"]


def test_the_selected_step_is_outlined() -> None:
    figure = build_blueprint_figure(design(), state(), selected="checkout")

    widths = [
        s["line"]["width"] for s in figure["layout"]["shapes"] if s["type"] == "rect" and s["xref"] == "x"
    ]
    assert widths.count(3.5) == 1


def test_names_from_the_blueprint_are_escaped() -> None:
    hostile = {**DOCUMENT, "steps": [{**DOCUMENT["steps"][0], "name": '<img src=x onerror="alert(1)">'}]}

    figure = build_blueprint_figure(map_design(hostile), None)

    everything = " ".join(texts(figure)) + " ".join(figure["data"][0]["hovertext"])
    assert "<img" not in everything and "&lt;img" in everything


def test_a_curve_bends_around_a_tile_in_its_way() -> None:
    left, middle, right = Box(0.1, 0.9, 0.1, 0.9), Box(1.1, 1.9, 0.1, 0.9), Box(2.1, 2.9, 0.1, 0.9)

    straight = route_edge(left, middle, [left, middle, right])
    around = route_edge(left, right, [left, middle, right])

    assert straight.bend[1] == straight.start[1]  # nothing in the way: a straight line
    assert abs(around.label[1] - 0.5) > 0.4  # the midpoint leaves the row of tiles


def test_a_two_way_pair_is_drawn_as_two_separate_curves() -> None:
    a, b = Box(0.1, 0.9, 0.1, 0.9), Box(1.1, 1.9, 0.1, 0.9)

    there, back = route_edge(a, b, [a, b], min_bend=0.3), route_edge(b, a, [a, b], min_bend=0.3)

    assert (there.label[1] - 0.5) * (back.label[1] - 0.5) < 0  # one above the row, one below
