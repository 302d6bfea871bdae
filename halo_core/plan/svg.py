"""The SVG picture of a plan: a layered top-down layout of boxes and arrows."""

from __future__ import annotations

import html
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from halo_core.plan.explain import COLORS, box_lines
from halo_core.plan.order import forward_edges, toposort

if TYPE_CHECKING:
    from halo_core.plan.dag import Plan, PlanEdge, PlanNode

_CHAR_W, _LINE_H, _PAD, _GAP_X, _GAP_Y, _MARGIN = 7.2, 16, 8, 30, 50, 20


@dataclass
class _Item:
    """A box (a node) or a waypoint of an edge crossing a layer, in the layered layout."""

    layer: int
    node: PlanNode | None = None
    lines: list[str] = field(default_factory=list)
    x: float = 0.0  # left
    y: float = 0.0  # top
    w: float = 16.0
    h: float = 0.0

    @property
    def cx(self) -> float:
        return self.x + self.w / 2


@dataclass
class _Layout:
    items: dict[str, _Item]  # node name -> its box
    routes: list[tuple[PlanEdge, list[_Item]]]  # forward edges, source to target
    loops: list[PlanEdge]  # back edges and self-loops
    width: float
    height: float


def _layout(plan: Plan) -> _Layout:
    """Longest-path layers top-down over the forward edges, a waypoint per layer an edge crosses,
    rows ordered by the mean slot of their neighbours (down, up, down); synthetic nodes in a
    column on the right."""
    graph_nodes = [n for n in plan.nodes if not n.synthetic]
    names = [n.name for n in graph_nodes]
    forward = forward_edges(names, plan.edges)
    layer = dict.fromkeys(names, 0)
    for name in toposort(names, plan.edges):
        for s, t in forward:
            if s == name:
                layer[t] = max(layer[t], layer[name] + 1)
    for n in graph_nodes:  # the end node at the bottom
        if n.kind == "end":
            layer[n.name] = max([layer[m] + 1 for m in names if m != n.name] + [0])
    items = {n.name: _Item(layer.get(n.name, -1), n, box_lines(n)) for n in plan.nodes}
    for it in items.values():
        assert it.node is not None
        it.w = max(80.0, max(len(t) for t in it.lines) * _CHAR_W + 2 * _PAD)
        it.h = len(it.lines) * _LINE_H + 2 * _PAD
    rows: dict[int, list[_Item]] = {}
    for name in toposort(names, plan.edges):
        rows.setdefault(layer[name], []).append(items[name])
    routes: list[tuple[PlanEdge, list[_Item]]] = []
    loops: list[PlanEdge] = []
    for e in plan.edges:
        if e.source not in layer or e.target not in layer:
            continue
        if layer[e.target] <= layer[e.source]:
            loops.append(e)
            continue
        path = [items[e.source]]
        for li in range(layer[e.source] + 1, layer[e.target]):
            path.append(_Item(li))
            rows[li].append(path[-1])
        routes.append((e, [*path, items[e.target]]))
    _order_rows(rows, routes)
    width = max(sum(i.w for i in r) + _GAP_X * (len(r) - 1) for r in rows.values())
    y = float(_MARGIN)
    for li in sorted(rows):
        row, height = rows[li], max(i.h for i in rows[li])
        x = _MARGIN + (width - sum(i.w for i in row) - _GAP_X * (len(row) - 1)) / 2
        for i in row:
            i.x, i.y = x, y
            i.h = i.h or height  # a waypoint spans its row
            x += i.w + _GAP_X
        y += height + _GAP_Y
    height = y - _GAP_Y + _MARGIN
    right = _MARGIN + width + (60 if loops else 0)
    side = [items[n.name] for n in plan.nodes if n.synthetic]
    y = float(_MARGIN)
    for i in side:
        i.x, i.y = right + _GAP_X, y
        y += i.h + _GAP_Y / 2
    if side:
        right = max(i.x + i.w for i in side)
        height = max(height, y - _GAP_Y / 2 + _MARGIN)
    return _Layout(items, routes, loops, right + _MARGIN, height)


def _order_rows(rows: dict[int, list[_Item]], routes: list[tuple[PlanEdge, list[_Item]]]) -> None:
    """Reorder each row by the mean slot of its neighbours in the row above (then below)."""
    up: dict[int, list[_Item]] = {}
    down: dict[int, list[_Item]] = {}
    for _, path in routes:
        for a, b in itertools.pairwise(path):
            up.setdefault(id(b), []).append(a)
            down.setdefault(id(a), []).append(b)
    slot = {id(i): float(k) for row in rows.values() for k, i in enumerate(row)}
    layers = sorted(rows)
    for sweep, neighbours in ((layers, up), (layers[::-1], down), (layers, up)):
        for li in sweep:
            row = rows[li]

            def key(i: _Item, nb: dict[int, list[_Item]] = neighbours) -> float:
                known = [slot[id(n)] for n in nb.get(id(i), [])]
                return sum(known) / len(known) if known else slot[id(i)]

            row.sort(key=key)
            for k, i in enumerate(row):
                slot[id(i)] = float(k)


def to_svg(plan: Plan) -> str:
    """The SVG picture of :meth:`Plan.to_svg`."""
    lay = _layout(plan)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{lay.width:.0f}" '
        f'height="{lay.height:.0f}" viewBox="0 0 {lay.width:.0f} {lay.height:.0f}" '
        'font-family="monospace" font-size="12">',
        '<defs><marker id="halo-arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#4b5563"/></marker></defs>',
    ]
    for e, path in lay.routes:
        points = [(path[0].cx, path[0].y + path[0].h)]
        for w in path[1:-1]:
            points += [(w.cx, w.y), (w.cx, w.y + w.h)]
        points.append((path[-1].cx, path[-1].y))
        d = f"M{points[0][0]:.1f},{points[0][1]:.1f}"
        for (x1, y1), (x2, y2) in itertools.pairwise(points):
            mid = (y1 + y2) / 2
            d += f" C{x1:.1f},{mid:.1f} {x2:.1f},{mid:.1f} {x2:.1f},{y2:.1f}"
        (x1, y1), (x2, y2) = points[0], points[1]
        out.append(_edge(e, d, ((x1 + x2) / 2 + 4, (y1 + y2) / 2)))
    for e in lay.loops:  # around the right of the graph
        s, t = lay.items[e.source], lay.items[e.target]
        x1, y1, x2, y2 = s.x + s.w, s.y + s.h / 2, t.x + t.w, t.y + t.h / 2
        if s is t:
            y1, y2 = s.y + s.h * 0.3, s.y + s.h * 0.7
        spanned = [i for i in lay.items.values() if i.node and not i.node.synthetic]
        spanned = [i for i in spanned if min(s.y, t.y) <= i.y <= max(s.y, t.y)]
        bend = max(i.x + i.w for i in spanned) + 40
        d = f"M{x1:.1f},{y1:.1f} C{bend:.1f},{y1:.1f} {bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
        out.append(_edge(e, d, (bend - 20, (y1 + y2) / 2)))
    for it in lay.items.values():
        n = it.node
        assert n is not None
        fill, stroke = COLORS[n.kind]
        rx = it.h / 2 if n.kind in ("start", "end") else 6
        dash = ' stroke-dasharray="4,3"' if n.synthetic else ""
        if n.stats.errors:
            stroke = "#dc2626"
        out.append(
            f'<g><title>{_x(n.name)}</title><rect x="{it.x:.1f}" y="{it.y:.1f}" '
            f'width="{it.w:.1f}" height="{it.h:.1f}" rx="{rx:.1f}" fill="{fill}" '
            f'stroke="{stroke}"{dash}/>'
        )
        for k, text in enumerate(it.lines):
            y = it.y + _PAD + (k + 1) * _LINE_H - 4
            bold = ' font-weight="bold"' if k == 0 else ""
            out.append(
                f'<text x="{it.cx:.1f}" y="{y:.1f}" text-anchor="middle"{bold}>{_x(text)}</text>'
            )
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def _edge(e: PlanEdge, d: str, at: tuple[float, float]) -> str:
    dash = ' stroke-dasharray="5,4"' if e.conditional else ""
    path = (
        f'<path d="{d}" fill="none" stroke="#4b5563" stroke-width="1.2"{dash} '
        'marker-end="url(#halo-arrow)"/>'
    )
    if not e.label:
        return path
    return path + f'\n<text x="{at[0]:.1f}" y="{at[1]:.1f}" fill="#4b5563">{_x(e.label)}</text>'


def _x(s: str) -> str:
    return html.escape(s, quote=True)
