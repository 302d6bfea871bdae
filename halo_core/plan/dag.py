"""The plan DAG of a workflow and its annotation with the calls a run made in each node.

A :class:`Plan` is the workflow's nodes and edges (from an agent framework's graph, see
``halo_adapters._langgraph_plan.plan_of``, or inferred from the calls with
:meth:`Plan.from_records`). :meth:`Plan.annotate` attaches the consolidated graph's call records
to the nodes by their ``node`` label: an LLM call's label is the node path that made it
(``"outer/inner"`` inside a subgraph), a tool call's is ``"<node path>:<tool name>"``. A label
below a plan node (``"outer/inner"`` when the plan only has ``"outer"``) counts for that node; a
label matching no node gets a *synthetic* node of its own, so every call is counted once.

>>> print(plan.annotate(session.graph, since=first).explain())   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from halo_core.graph import CallRecord, Stats
from halo_core.plan.order import START, toposort

NodeKind = Literal["llm", "tool", "mixed", "control", "start", "end"]
END = "__end__"


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
        rank = {name: i for i, name in enumerate(toposort(names, self.edges))}

        def key(n: PlanNode) -> tuple[int, int]:
            group = 0 if n.kind == "start" else 3 if n.kind == "end" else 2 if n.synthetic else 1
            return group, rank[n.name]

        return sorted(self.nodes, key=key)

    # ---- renderings --------------------------------------------------------------------------
    def explain(self) -> str:
        """A table like SQL ``EXPLAIN ANALYZE``: one line per node in topological order (kind,
        successors, requested / executed / merged calls, errors, tokens, busy time, instances),
        one indented line per operator, then the totals."""
        from halo_core.plan.explain import explain

        return explain(self)

    def to_mermaid(self) -> str:
        """A Mermaid ``flowchart TD``: node labels carry the stats, conditional edges dashed."""
        from halo_core.plan.explain import to_mermaid

        return to_mermaid(self)

    def to_svg(self) -> str:
        """A self-contained SVG picture: layered top-down layout, one box per node with its
        stats, arrows for edges (dashed when conditional; loops drawn on the right)."""
        from halo_core.plan.svg import to_svg

        return to_svg(self)

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
