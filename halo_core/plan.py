"""The plan DAG of a workflow, annotated with what Halo did per node (like ``EXPLAIN ANALYZE``).

A :class:`Plan` is the workflow's nodes and edges (from an agent framework's graph, see
``halo_adapters.langgraph_plan.plan_of``, or inferred from the calls with
:meth:`Plan.from_records`). :meth:`Plan.annotate` attaches the consolidated graph's call records
to the nodes by their ``node`` label: an LLM call's label is the node path that made it
(``"outer/inner"`` inside a subgraph), a tool call's is ``"<node path>:<tool name>"``. A label
below a plan node (``"outer/inner"`` when the plan only has ``"outer"``) counts for that node; a
label matching no node gets a *synthetic* node of its own, so every call is counted once.

>>> print(plan.annotate(session.graph, since=first).explain())   # doctest: +SKIP
"""

from __future__ import annotations

import heapq
import html
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from halo_core.graph import CallRecord

NodeKind = Literal["llm", "tool", "mixed", "control", "start", "end"]
START, END = "__start__", "__end__"


@dataclass
class Stats:
    """What the calls of one operator / node / plan cost. Token counts are those of executed
    LLM calls (a merged call costs nothing), as in :class:`~halo_core.graph.GraphSummary`."""

    calls: int = 0
    executed: int = 0
    merged: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    busy_s: float = 0.0
    instance_ids: set[int] = field(default_factory=set, repr=False)

    @property
    def instances(self) -> int:
        """Distinct workflow instances that made these calls."""
        return len(self.instance_ids)

    @property
    def computed_tokens(self) -> int:
        """Prompt tokens the engine prefilled (not served from its prefix cache)."""
        return self.prompt_tokens - self.cached_tokens

    def add(self, r: CallRecord) -> None:
        """Count one call record."""
        self.calls += 1
        self.merged += r.merged_into is not None
        self.errors += r.error is not None
        if r.instance is not None:
            self.instance_ids.add(r.instance)
        if r.executed:
            self.executed += 1
            self.prompt_tokens += r.prompt_tokens
            self.cached_tokens += r.cached_tokens
            self.output_tokens += r.output_tokens
            if r.finished_s is not None and r.dispatched_s is not None:
                self.busy_s += r.finished_s - r.dispatched_s

    def __add__(self, other: Stats) -> Stats:
        return Stats(
            self.calls + other.calls,
            self.executed + other.executed,
            self.merged + other.merged,
            self.errors + other.errors,
            self.prompt_tokens + other.prompt_tokens,
            self.cached_tokens + other.cached_tokens,
            self.output_tokens + other.output_tokens,
            self.busy_s + other.busy_s,
            self.instance_ids | other.instance_ids,
        )


@dataclass
class Operator:
    """The LLM or tool calls of one kind seen inside a node.

    ``name`` is the engine key for LLM calls and the tool name for tool calls; ``via`` is the
    label path below the node the calls came from (``""``: the node itself).
    """

    kind: Literal["llm", "tool"]
    name: str
    via: str = ""
    stats: Stats = field(default_factory=Stats)

    @property
    def label(self) -> str:
        """E.g. ``"llm tiny"``, ``"tool calculator"``, ``"llm tiny @inner"``."""
        return f"{self.kind} {self.name}" + (f" @{self.via}" if self.via else "")


@dataclass
class PlanNode:
    """One node of the plan. ``synthetic``: not a node of the workflow's graph; it holds calls
    whose labels match no graph node."""

    name: str
    kind: NodeKind = "control"
    operators: list[Operator] = field(default_factory=list)
    synthetic: bool = False

    @property
    def stats(self) -> Stats:
        """The sum over the node's operators."""
        total = Stats()
        for op in self.operators:
            total = total + op.stats
        return total


@dataclass(frozen=True)
class PlanEdge:
    """A control edge; ``conditional`` when taken only on some paths (a router, a ``Send``)."""

    source: str
    target: str
    conditional: bool = False
    label: str = ""


@dataclass
class Plan:
    """A workflow's nodes and edges, optionally annotated with the calls made in them."""

    nodes: list[PlanNode]
    edges: list[PlanEdge]

    # ---- building ----------------------------------------------------------------------------
    def node(self, name: str) -> PlanNode:
        """The node named ``name`` (KeyError if none)."""
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    @classmethod
    def from_records(cls, records: Iterable[CallRecord], since: int = 0) -> Plan:
        """Infer a plan from the calls alone (workflows without a framework graph): one node per
        label path, an edge wherever an instance's call follows one in another node; an edge is
        conditional when its source was also left along other edges."""
        recs = sorted((r for r in records if r.call_id >= since), key=lambda r: r.call_id)
        by_id = {r.call_id: r for r in recs}
        names: dict[str, None] = {START: None}
        seen: dict[tuple[str, str], None] = {}
        last: dict[int, str] = {}
        for r in recs:
            path = _split(r)[0]
            names.setdefault(path)
            parent = by_id.get(r.parent) if r.parent is not None else None
            source = _split(parent)[0] if parent is not None else START
            if source != path:
                seen.setdefault((source, path))
            if r.instance is not None:
                last[r.instance] = path
        for path in last.values():
            seen.setdefault((path, END))
        names.setdefault(END)
        fanout: dict[str, int] = {}
        for s, _ in seen:
            fanout[s] = fanout.get(s, 0) + 1
        nodes = [PlanNode(n, _fixed_kind(n)) for n in names]
        edges = [PlanEdge(s, t, fanout[s] > 1) for s, t in seen]
        return cls(nodes, edges).annotate(recs)

    def annotate(self, records: Iterable[CallRecord], since: int = 0) -> Plan:
        """A copy of this plan with the calls numbered ``since`` or later counted per node and
        operator (earlier annotations and synthetic nodes are dropped first)."""
        nodes = [
            PlanNode(n.name, n.kind if n.kind in ("start", "end") else "control")
            for n in self.nodes
            if not n.synthetic
        ]
        by_name = {n.name: n for n in nodes}
        ops: dict[tuple[str, str, str, str], Operator] = {}
        for r in sorted(records, key=lambda r: r.call_id):
            if r.call_id < since:
                continue
            path, name = _split(r)
            node, via = _resolve(path, by_name)
            if node is None:
                node = by_name[path] = PlanNode(path, synthetic=True)
                nodes.append(node)
            key = (node.name, r.kind, name, via)
            op = ops.get(key)
            if op is None:
                op = ops[key] = Operator(r.kind, name, via)
                node.operators.append(op)
            op.stats.add(r)
        for n in nodes:
            if n.kind not in ("start", "end"):
                n.kind = _kind_of(n.operators)
        # synthetic nodes sit just before the end node
        nodes.sort(key=lambda n: (n.kind == "end") * 2 + n.synthetic)
        return Plan(nodes, list(self.edges))

    # ---- reading -----------------------------------------------------------------------------
    def totals(self, kind: Literal["llm", "tool"] | None = None) -> Stats:
        """Sum over all operators (of one kind, if given)."""
        total = Stats()
        for n in self.nodes:
            for op in n.operators:
                if kind is None or op.kind == kind:
                    total = total + op.stats
        return total

    def order(self) -> list[PlanNode]:
        """Nodes in topological order (back edges of loops ignored), ties in declaration order;
        synthetic nodes, then the end node, last."""
        names = [n.name for n in self.nodes]
        rank = {name: i for i, name in enumerate(_toposort(names, self.edges))}

        def key(n: PlanNode) -> tuple[int, int]:
            group = 0 if n.kind == "start" else 3 if n.kind == "end" else 2 if n.synthetic else 1
            return group, rank[n.name]

        return sorted(self.nodes, key=key)

    def explain(self) -> str:
        """A table like SQL ``EXPLAIN ANALYZE``: one line per node in topological order (kind,
        successors, requested / executed / merged calls, errors, tokens, busy time, instances),
        one indented line per operator, then the totals."""
        header = ["node", "kind", "calls", "exec", "merged", "err", "prompt", "cached", "output"]
        header += ["busy_s", "inst", "next"]
        rows: list[list[str]] = []
        succ: dict[str, list[str]] = {}
        for e in self.edges:
            succ.setdefault(e.source, []).append(e.target + ("?" if e.conditional else ""))
        for n in self.order():
            kind = n.kind + (" (synthetic)" if n.synthetic else "")
            nxt = ", ".join(succ.get(n.name, []))
            if n.kind in ("start", "end") or not n.operators:
                rows.append([n.name, kind] + [""] * 9 + [nxt])
                continue
            rows.append([n.name, kind, *_cells(n.stats), nxt])
            if len(n.operators) > 1 or n.operators[0].via:
                rows += [["  " + op.label, "", *_cells(op.stats), ""] for op in n.operators]
        total = self.totals()
        rows.append(["total", "", *_cells(total), ""])
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        lines = [_row(header, widths), _row(["-" * w for w in widths], widths)]
        lines += [_row(row, widths) for row in rows[:-1]]
        lines += [_row(["-" * w for w in widths], widths), _row(rows[-1], widths)]
        llm, tool, k = self.totals("llm"), self.totals("tool"), total.instances
        share = f" ({llm.cached_tokens / llm.prompt_tokens:.0%})" if llm.prompt_tokens else ""
        lines += [
            "",
            f"LLM calls {llm.calls} requested, {llm.executed} executed ({llm.merged} merged); "
            f"tool calls {tool.calls} requested, {tool.executed} executed ({tool.merged} merged)",
            f"prompt tokens {llm.computed_tokens} computed, {llm.cached_tokens} from prefix "
            f"cache{share}; output tokens {llm.output_tokens}; {k} instance{'s' * (k != 1)}",
        ]
        return "\n".join(line.rstrip() for line in lines)

    # ---- pictures ----------------------------------------------------------------------------
    def to_mermaid(self) -> str:
        """A Mermaid ``flowchart TD``: node labels carry the stats, conditional edges dashed."""
        ids = {n.name: f"n{i}" for i, n in enumerate(self.order())}
        lines = ["flowchart TD"]
        for n in self.order():
            text = "<br/>".join(_mermaid_text(t) for t in _box_lines(n))
            shape = ('(["', '"])') if n.kind in ("start", "end") else ('["', '"]')
            cls = f":::halo_{'synthetic' if n.synthetic else n.kind}"  # ("end" is reserved)
            lines.append(f"    {ids[n.name]}{shape[0]}{text}{shape[1]}{cls}")
        for e in self.edges:
            if e.source not in ids or e.target not in ids:
                continue
            arrow = "-.->" if e.conditional else "-->"
            if e.label:
                label = _mermaid_text(e.label)
                arrow = f"-. {label} .->" if e.conditional else f"-- {label} -->"
            lines.append(f"    {ids[e.source]} {arrow} {ids[e.target]}")
        for kind, (fill, stroke) in _COLORS.items():
            lines.append(f"    classDef halo_{kind} fill:{fill},stroke:{stroke}")
        lines.append("    classDef halo_synthetic fill:#ffffff,stroke:#6b7280,stroke-dasharray:4 3")
        return "\n".join(lines)

    def to_svg(self) -> str:
        """A self-contained SVG picture: layered top-down layout, one box per node with its
        stats, arrows for edges (dashed when conditional; loops drawn on the right)."""
        return _svg(self)

    def _repr_svg_(self) -> str:
        return self.to_svg()

    def _repr_markdown_(self) -> str:
        return f"```mermaid\n{self.to_mermaid()}\n```"


# ---- helpers -----------------------------------------------------------------------------------


def _fixed_kind(name: str) -> NodeKind:
    return "start" if name == START else "end" if name == END else "control"


def _kind_of(ops: Sequence[Operator]) -> NodeKind:
    kinds = {op.kind for op in ops}
    if not kinds:
        return "control"
    return "mixed" if len(kinds) > 1 else "llm" if "llm" in kinds else "tool"


def _split(r: CallRecord) -> tuple[str, str]:
    """(node path, operator name) of a record's label: ``"tools:calc"`` -> ``("tools", "calc")``
    (a LangGraph node name cannot contain ``":"``); an LLM call's operator is its engine key."""
    if r.kind == "tool":
        path, _, tool = r.node.partition(":")
        return path, tool or path
    return r.node, r.model or "llm"


def _resolve(path: str, by_name: dict[str, PlanNode]) -> tuple[PlanNode | None, str]:
    """The node a label path counts for: itself, else the deepest node it lies below."""
    if path in by_name:
        return by_name[path], ""
    parts = path.split("/")
    for i in range(len(parts) - 1, 0, -1):
        node = by_name.get("/".join(parts[:i]))
        if node is not None and not node.synthetic:
            return node, "/".join(parts[i:])
    return None, ""


def _forward(names: list[str], edges: Sequence[PlanEdge]) -> list[tuple[str, str]]:
    """The edges between known nodes that do not close a loop (depth-first from the start
    node, then from each node not reached yet)."""
    succ: dict[str, list[str]] = {n: [] for n in names}
    for e in edges:
        if e.source in succ and e.target in succ:
            succ[e.source].append(e.target)
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    forward: list[tuple[str, str]] = []
    for root in [START] * (START in succ) + names:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(succ[root]))]
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                continue
            if state.get(nxt) != 1:
                forward.append((node, nxt))
            if nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(succ[nxt])))
    return forward


def _toposort(names: list[str], edges: Sequence[PlanEdge]) -> list[str]:
    """Kahn's algorithm over the forward edges, taking ready nodes in declaration order."""
    pos = {n: i for i, n in enumerate(names)}
    forward = _forward(names, edges)
    indegree = dict.fromkeys(names, 0)
    succ: dict[str, list[str]] = {n: [] for n in names}
    for s, t in forward:
        indegree[t] += 1
        succ[s].append(t)
    ready = [(pos[n], n) for n in names if indegree[n] == 0]
    heapq.heapify(ready)
    out: list[str] = []
    while ready:
        _, n = heapq.heappop(ready)
        out.append(n)
        for t in succ[n]:
            indegree[t] -= 1
            if indegree[t] == 0:
                heapq.heappush(ready, (pos[t], t))
    return out


def _cells(s: Stats) -> list[str]:
    return [
        str(s.calls),
        str(s.executed),
        str(s.merged),
        str(s.errors),
        str(s.prompt_tokens),
        str(s.cached_tokens),
        str(s.output_tokens),
        f"{s.busy_s:.2f}",
        str(s.instances),
    ]


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    out = []
    for i, (c, w) in enumerate(zip(cells, widths, strict=True)):
        out.append(c.ljust(w) if i in (0, 1, len(cells) - 1) else c.rjust(w))
    return "  ".join(out)


def _box_lines(n: PlanNode) -> list[str]:
    """A node's picture text: name, kind and operators, stats."""
    if n.kind in ("start", "end"):
        return [n.name]
    lines = [n.name, n.kind + (" (synthetic)" if n.synthetic else "")]
    lines += [f"{op.label} ×{op.stats.calls}" for op in n.operators]
    s = n.stats
    if s.calls:
        lines.append(f"calls {s.calls} → {s.executed} run, {s.merged} merged")
        if s.prompt_tokens or s.output_tokens:
            tokens = f"prompt {s.prompt_tokens} ({s.cached_tokens} cached)"
            lines.append(f"{tokens}, out {s.output_tokens}")
        errors = f", {s.errors} failed" if s.errors else ""
        lines.append(f"busy {s.busy_s:.2f} s, {s.instances} inst{errors}")
    return lines


def _mermaid_text(s: str) -> str:
    return s.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


_COLORS = {
    "llm": ("#dbeafe", "#3b82f6"),
    "tool": ("#dcfce7", "#22c55e"),
    "mixed": ("#fef9c3", "#ca8a04"),
    "control": ("#f3f4f6", "#6b7280"),
    "start": ("#e5e7eb", "#374151"),
    "end": ("#e5e7eb", "#374151"),
}
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
    forward = _forward(names, plan.edges)
    layer = dict.fromkeys(names, 0)
    for name in _toposort(names, plan.edges):
        for s, t in forward:
            if s == name:
                layer[t] = max(layer[t], layer[name] + 1)
    for n in graph_nodes:  # the end node at the bottom
        if n.kind == "end":
            layer[n.name] = max([layer[m] + 1 for m in names if m != n.name] + [0])
    items = {n.name: _Item(layer.get(n.name, -1), n, _box_lines(n)) for n in plan.nodes}
    for it in items.values():
        assert it.node is not None
        it.w = max(80.0, max(len(t) for t in it.lines) * _CHAR_W + 2 * _PAD)
        it.h = len(it.lines) * _LINE_H + 2 * _PAD
    rows: dict[int, list[_Item]] = {}
    for name in _toposort(names, plan.edges):
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


def _svg(plan: Plan) -> str:
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
        fill, stroke = _COLORS[n.kind]
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


__all__ = ["END", "START", "NodeKind", "Operator", "Plan", "PlanEdge", "PlanNode", "Stats"]
