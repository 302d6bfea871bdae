"""The text renderings of a plan: the ``EXPLAIN ANALYZE`` table and a Mermaid flowchart."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from halo_core.graph import Stats
    from halo_core.plan.dag import Plan, PlanNode

#: (fill, stroke) of a node's box, by node kind
COLORS = {
    "llm": ("#dbeafe", "#3b82f6"),
    "tool": ("#dcfce7", "#22c55e"),
    "mixed": ("#fef9c3", "#ca8a04"),
    "control": ("#f3f4f6", "#6b7280"),
    "start": ("#e5e7eb", "#374151"),
    "end": ("#e5e7eb", "#374151"),
}


def explain(plan: Plan) -> str:
    """The ``EXPLAIN ANALYZE`` table of :meth:`Plan.explain`."""
    header = ["node", "kind", "calls", "exec", "merged", "err", "prompt", "cached", "output"]
    header += ["busy_s", "inst", "next"]
    rows: list[list[str]] = []
    succ: dict[str, list[str]] = {}
    for e in plan.edges:
        succ.setdefault(e.source, []).append(e.target + ("?" if e.conditional else ""))
    for n in plan.order():
        kind = n.kind + (" (synthetic)" if n.synthetic else "")
        nxt = ", ".join(succ.get(n.name, []))
        if n.kind in ("start", "end") or not n.operators:
            rows.append([n.name, kind] + [""] * 9 + [nxt])
            continue
        rows.append([n.name, kind, *_cells(n.stats), nxt])
        if len(n.operators) > 1 or n.operators[0].via:
            rows += [["  " + op.label, "", *_cells(op.stats), ""] for op in n.operators]
    total = plan.totals()
    rows.append(["total", "", *_cells(total), ""])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [_row(header, widths), _row(["-" * w for w in widths], widths)]
    lines += [_row(row, widths) for row in rows[:-1]]
    lines += [_row(["-" * w for w in widths], widths), _row(rows[-1], widths)]
    llm, tool, k = plan.totals("llm"), plan.totals("tool"), total.instances
    share = f" ({llm.cached_tokens / llm.prompt_tokens:.0%})" if llm.prompt_tokens else ""
    lines += [
        "",
        f"LLM calls {llm.calls} requested, {llm.executed} executed ({llm.merged} merged); "
        f"tool calls {tool.calls} requested, {tool.executed} executed ({tool.merged} merged)",
        f"prompt tokens {llm.computed_tokens} computed, {llm.cached_tokens} from prefix "
        f"cache{share}; output tokens {llm.output_tokens}; {k} instance{'s' * (k != 1)}",
    ]
    return "\n".join(line.rstrip() for line in lines)


def to_mermaid(plan: Plan) -> str:
    """The Mermaid flowchart of :meth:`Plan.to_mermaid`."""
    ids = {n.name: f"n{i}" for i, n in enumerate(plan.order())}
    lines = ["flowchart TD"]
    for n in plan.order():
        text = "<br/>".join(_mermaid_text(t) for t in box_lines(n))
        shape = ('(["', '"])') if n.kind in ("start", "end") else ('["', '"]')
        cls = f":::halo_{'synthetic' if n.synthetic else n.kind}"  # ("end" is reserved)
        lines.append(f"    {ids[n.name]}{shape[0]}{text}{shape[1]}{cls}")
    for e in plan.edges:
        if e.source not in ids or e.target not in ids:
            continue
        arrow = "-.->" if e.conditional else "-->"
        if e.label:
            label = _mermaid_text(e.label)
            arrow = f"-. {label} .->" if e.conditional else f"-- {label} -->"
        lines.append(f"    {ids[e.source]} {arrow} {ids[e.target]}")
    for kind, (fill, stroke) in COLORS.items():
        lines.append(f"    classDef halo_{kind} fill:{fill},stroke:{stroke}")
    lines.append("    classDef halo_synthetic fill:#ffffff,stroke:#6b7280,stroke-dasharray:4 3")
    return "\n".join(lines)


def box_lines(n: PlanNode) -> list[str]:
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


def _mermaid_text(s: str) -> str:
    return s.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
