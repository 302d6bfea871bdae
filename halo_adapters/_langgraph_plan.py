"""The plan of a compiled LangGraph graph, annotated with what a Halo run did in each node.

>>> from halo_adapters._langgraph_plan import explain, plan_of                 # doctest: +SKIP
>>> first = s.graph.next_call_id()                                           # doctest: +SKIP
>>> report = halo.batch(graph, rows, session=s)                              # doctest: +SKIP
>>> print(explain(graph, s, since=first))                                    # doctest: +SKIP
>>> plan_of(graph, s, since=first)          # in Jupyter: the annotated SVG picture

Nodes come from ``graph.get_graph(xray=True)``, so the nodes of subgraphs appear as
``"outer/inner"`` (the label the LangChain hook gives their calls); edges keep LangGraph's
``conditional`` flag (routers, ``Send`` fan-outs, ``Command`` destinations).
"""

from __future__ import annotations

from typing import Any

from halo_core import END, START, Plan, PlanEdge, PlanNode
from halo_core.spi import records_of

__all__ = ["explain", "plan_of", "structure"]


def structure(graph: Any) -> Plan:
    """The unannotated plan of a compiled graph (every subgraph expanded)."""
    drawn = graph.get_graph(xray=True)
    keys = [_path(key) for key in drawn.nodes]
    names = [n for n in keys if n == START] + [n for n in keys if n not in (START, END)]
    names += [n for n in keys if n == END]
    nodes = [
        PlanNode(n, "start" if n == START else "end" if n == END else "control") for n in names
    ]
    pos = {n: i for i, n in enumerate(names)}
    edges: dict[tuple[str, str, str], PlanEdge] = {}
    for e in drawn.edges:
        src, dst = _path(e.source), _path(e.target)
        label = str(e.data) if e.data is not None else ""
        edges.setdefault((src, dst, label), PlanEdge(src, dst, bool(e.conditional), label))
    ordered = sorted(edges.values(), key=lambda e: (pos.get(e.source, -1), pos.get(e.target, -1)))
    return Plan(nodes, ordered)


def plan_of(graph: Any, report_or_session: Any = None, since: int | None = None) -> Plan:
    """The plan of a compiled LangGraph ``graph``, annotated with the calls of a Halo run.

    ``report_or_session``: ``None`` (structure only); a :class:`~halo_core.Session` (its
    consolidated graph's calls numbered ``since`` or later: capture ``session.graph.next_call_id()``
    before the run to see that run alone); a :class:`~halo_core.ConsolidatedGraph` or an iterable
    of :class:`~halo_core.CallRecord`; or a run report that carries its own ``records``.
    """
    plan = structure(graph)
    if report_or_session is None:
        return plan
    return plan.annotate(records_of(report_or_session), since or 0)


def explain(graph: Any, session: Any, since: int | None = None) -> str:
    """``plan_of(graph, session, since).explain()``: per node calls, dedup, tokens, busy time."""
    return plan_of(graph, session, since).explain()


def _path(key: str) -> str:
    """An xray node id (``"outer:inner"``; ``":"`` cannot occur in node names) as a label path."""
    return key.replace(":", "/")
