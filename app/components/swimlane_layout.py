"""Where each step of a blueprint sits on the swimlane: stages across, lanes down. Pure geometry in data
units (one column = 1.0 wide, one used lane = 1.0 tall; y grows downwards), plus the pixel size that keeps
tiles legible."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

from app.components.design import MapDesign
from app.components.theme import LANES

COLUMN_PX = 176  # at least this wide per column; wider when the page has room
LANE_PX = 80
SQUEEZED_COLUMN_PX = 150  # a figure that fits FITS_PX at this width per column stretches to its container
FITS_PX = 990
EMPTY_LANE = 0.34  # an unused lane is drawn thin, so the lines between lanes keep their meaning
MARGIN = {"l": 112, "r": 14, "t": 34, "b": 18}
TILE_PAD_X = 0.12
TILE_PAD_Y = 0.07


@dataclass(frozen=True)
class Box:
    """A rectangle in data units."""

    x0: float
    x1: float
    y0: float
    y1: float

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


@dataclass(frozen=True)
class SwimlaneLayout:
    """Tiles by step id, lane bands, stage column ranges and the figure's size in pixels."""

    tiles: dict[str, Box]
    lanes: dict[str, tuple[float, float]]  # lane -> (top, bottom)
    stages: tuple[tuple[str, str, float, float], ...]  # (id, name, x0, x1)
    columns: int
    height: float
    width_px: int
    height_px: int
    stretches: bool = True  # narrow enough to fill its container rather than take a fixed width
    _routes: dict[tuple[str, str, float], Route] = field(default_factory=dict, compare=False, repr=False)

    def route(self, source: str, target: str, min_bend: float = 0.0) -> Route | None:
        """The curve from one step's tile to another's (None when either has no tile), computed once per
        layout: a refresh of the same blueprint reuses every route."""
        key = (source, target, min_bend)
        found = self._routes.get(key)
        if found is None:
            a, b = self.tiles.get(source), self.tiles.get(target)
            if a is None or b is None:
                return None
            found = self._routes[key] = route_edge(a, b, list(self.tiles.values()), min_bend)
        return found


@lru_cache(maxsize=64)
def swimlane_layout(design: MapDesign) -> SwimlaneLayout:
    """Place every step: its stage's columns, its lane's band; steps sharing a lane and stage side by side."""
    lanes: dict[str, tuple[float, float]] = {}
    top = 0.0
    used = set(design.lanes_used)
    for lane in LANES:
        height = 1.0 if lane in used else EMPTY_LANE
        lanes[lane] = (top, top + height)
        top += height
    tiles: dict[str, Box] = {}
    stages = []
    column = 0
    for stage_id, stage_name in design.stages:
        cells: dict[str, list[str]] = {lane: [] for lane in LANES}
        for step in design.steps:
            if step.stage == stage_id:
                cells[step.lane].append(step.id)
        width = max([1, *(len(ids) for ids in cells.values())])
        for lane, ids in cells.items():
            lane_top, lane_bottom = lanes[lane]
            offset = (width - len(ids)) / 2  # centre a shorter cell under its stage
            for position, step_id in enumerate(ids):
                x = column + offset + position
                tiles[step_id] = Box(
                    x + TILE_PAD_X, x + 1 - TILE_PAD_X, lane_top + TILE_PAD_Y, lane_bottom - TILE_PAD_Y
                )
        stages.append((stage_id, stage_name, float(column), float(column + width)))
        column += width
    columns = max(column, 1)
    return SwimlaneLayout(
        tiles=tiles,
        lanes=lanes,
        stages=tuple(stages),
        columns=columns,
        height=top,
        width_px=MARGIN["l"] + MARGIN["r"] + columns * COLUMN_PX,
        stretches=MARGIN["l"] + MARGIN["r"] + columns * SQUEEZED_COLUMN_PX <= FITS_PX,
        height_px=MARGIN["t"] + MARGIN["b"] + math.ceil(top * LANE_PX),
    )


@dataclass(frozen=True)
class Route:
    """An edge drawn as a quadratic curve from `start` through control point `bend` to `end` (data
    units); `label` is the curve's midpoint and `tail` a point just before `end` on its tangent (for the
    arrowhead)."""

    start: tuple[float, float]
    bend: tuple[float, float]
    end: tuple[float, float]
    label: tuple[float, float]
    tail: tuple[float, float]

    @property
    def svg_path(self) -> str:
        (x0, y0), (cx, cy), (x1, y1) = self.start, self.bend, self.end
        return f"M {x0:.4f},{y0:.4f} Q {cx:.4f},{cy:.4f} {x1:.4f},{y1:.4f}"


_BENDS = (0.0, 0.3, -0.3, 0.55, -0.55, 0.85, -0.85)


def route_edge(a: Box, b: Box, obstacles: list[Box], min_bend: float = 0.0) -> Route:
    """The gentlest curve from tile `a` to tile `b` that passes through no other tile.

    Bends are tried from straight outwards on both sides (in pixel-proportional units); `min_bend` keeps a
    two-way pair apart (each direction bends to its own left). With no clear curve, the one crossing the
    fewest tiles wins.
    """
    scale_y = LANE_PX / COLUMN_PX
    dx, dy = b.cx - a.cx, (b.cy - a.cy) * scale_y
    length = math.hypot(dx, dy) or 1.0
    nx, ny = -dy / length, dx / length  # unit normal, pixel-proportional
    others = [o for o in obstacles if o is not a and o is not b]
    reach = Box(min(a.x0, b.x0) - 1.5, max(a.x1, b.x1) + 1.5, min(a.y0, b.y0) - 1.5, max(a.y1, b.y1) + 1.5)
    others = [
        o for o in others if o.x1 >= reach.x0 and o.x0 <= reach.x1 and o.y1 >= reach.y0 and o.y0 <= reach.y1
    ]
    best: tuple[int, Route] | None = None
    bends = [x for x in _BENDS if x >= min_bend] if min_bend else list(_BENDS)
    for bend in bends or [_BENDS[-2]]:
        offset = bend * max(0.6, min(length, 2.5)) if bend else 0.0
        mx, my = (a.cx + b.cx) / 2 + nx * offset, ((a.cy + b.cy) / 2 * scale_y + ny * offset) / scale_y
        route = _curve(a, b, (mx, my))
        points = _samples(route)
        hits = sum(1 for o in others if _crosses(points, o))
        if best is None or hits < best[0]:
            best = (hits, route)
        if hits == 0:
            break
    assert best is not None
    return best[1]


def _curve(a: Box, b: Box, middle: tuple[float, float]) -> Route:
    # A quadratic through `middle` at t=0.5 has its control point at 2*middle - (start+end)/2.
    control = (2 * middle[0] - (a.cx + b.cx) / 2, 2 * middle[1] - (a.cy + b.cy) / 2)
    start = _exit(a, control)
    end = _exit(b, control)
    bend = (2 * middle[0] - (start[0] + end[0]) / 2, 2 * middle[1] - (start[1] + end[1]) / 2)
    tx, ty = end[0] - bend[0], end[1] - bend[1]
    norm = math.hypot(tx, ty * LANE_PX / COLUMN_PX) or 1.0
    tail = (end[0] - tx / norm * 0.05, end[1] - ty / norm * 0.05)
    label = (0.25 * start[0] + 0.5 * bend[0] + 0.25 * end[0], 0.25 * start[1] + 0.5 * bend[1] + 0.25 * end[1])
    return Route(start, bend, end, label, tail)


def _exit(box: Box, toward: tuple[float, float]) -> tuple[float, float]:
    """Where the segment from the box's centre toward a point leaves the box."""
    probe = Box(toward[0] - 1e-9, toward[0] + 1e-9, toward[1] - 1e-9, toward[1] + 1e-9)
    x0, y0, _, _ = clip_to_boxes(box, probe, gap=0.02)
    return x0, y0


def _samples(route: Route, count: int = 24) -> list[tuple[float, float]]:
    (x0, y0), (cx, cy), (x1, y1) = route.start, route.bend, route.end
    points = []
    for i in range(1, count):
        t = i / count
        points.append(
            (
                (1 - t) ** 2 * x0 + 2 * (1 - t) * t * cx + t**2 * x1,
                (1 - t) ** 2 * y0 + 2 * (1 - t) * t * cy + t**2 * y1,
            )
        )
    return points


def _crosses(points: list[tuple[float, float]], box: Box) -> bool:
    x0, x1, y0, y1 = box.x0 - 0.02, box.x1 + 0.02, box.y0 - 0.02, box.y1 + 0.02
    return any(x0 <= x <= x1 and y0 <= y <= y1 for x, y in points)


def clip_to_boxes(a: Box, b: Box, gap: float = 0.015) -> tuple[float, float, float, float]:
    """The segment between the centres of `a` and `b`, cut where it leaves `a` and enters `b`.

    Returns (x_from, y_from, x_to, y_to). Lane bands are shorter than columns are wide in pixels, so the
    cut is computed in pixel-proportional units.
    """
    scale_y = LANE_PX / COLUMN_PX
    dx, dy = b.cx - a.cx, (b.cy - a.cy) * scale_y
    if dx == 0 and dy == 0:
        return a.cx, a.cy, b.cx, b.cy

    def exit_fraction(box: Box) -> float:
        half_w, half_h = (box.x1 - box.x0) / 2 + gap, ((box.y1 - box.y0) / 2 + gap) * scale_y
        fx = half_w / abs(dx) if dx else math.inf
        fy = half_h / abs(dy) if dy else math.inf
        return min(fx, fy)

    start, end = exit_fraction(a), 1 - exit_fraction(b)
    if start >= end:  # overlapping boxes: draw centre to centre
        return a.cx, a.cy, b.cx, b.cy
    return (
        a.cx + dx * start,
        a.cy + dy * start / scale_y,
        a.cx + dx * end,
        a.cy + dy * end / scale_y,
    )
