"""The plan of an AutoGen AgentChat team, annotated with what a Halo run did per participant.

>>> from halo_adapters._autogen_plan import explain, plan_of                   # doctest: +SKIP
>>> first = s.graph.next_call_id()                                           # doctest: +SKIP
>>> with halo_adapters.bind(s):                                              # doctest: +SKIP
...     await asyncio.gather(*(team.run(task=t) for team, t in zip(teams, tasks)))
>>> print(explain(teams[0], s, since=first))                                 # doctest: +SKIP
>>> plan_of(teams[0], s, since=first)        # in Jupyter: the annotated SVG picture

Nodes are the team's participants, plus ``"selector"`` for a ``SelectorGroupChat`` (its
speaker-selection calls): the labels the AutoGen hook gives their calls; a tool call's label
``"<agent>:<tool>"`` counts under its agent. Static edges are those the team type fixes:
RoundRobin's cycle, a GraphFlow's DiGraph edges (conditional where they have a condition), Swarm
handoffs and Selector choices (conditional). Every transition the run took is an edge labelled
with its count over all instances (``"×12"``); one that is not static is conditional.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from itertools import pairwise
from typing import Any

from autogen_agentchat.base import ChatAgent
from autogen_agentchat.teams import (
    BaseGroupChat,
    GraphFlow,
    RoundRobinGroupChat,
    SelectorGroupChat,
    Swarm,
)

from halo_core import END, START, CallRecord, Plan, PlanEdge, PlanNode
from halo_core.spi import records_of

__all__ = ["SELECTOR", "explain", "plan_of", "structure"]

#: the node of a SelectorGroupChat's speaker-selection LLM calls
SELECTOR = "selector"

Transitions = Counter[tuple[str, str]]


def structure(team: Any) -> Plan:
    """The unannotated plan of a team (or of a lone agent: start → agent → end)."""
    names, edges = _static(team)
    nodes = [PlanNode(START, "start"), *(PlanNode(n) for n in names), PlanNode(END, "end")]
    return Plan(nodes, edges)


def plan_of(team: Any, records_or_report: Any = None, since: int = 0) -> Plan:
    """``structure(team)`` with the speaker transitions the run took (edge labels ``"×n"``) and
    per-node calls, dedup, tokens and busy time.

    ``records_or_report``: ``None`` (structure only); a :class:`~halo_core.Session` or
    :class:`~halo_core.ConsolidatedGraph` (its calls numbered ``since`` or later: capture
    ``session.graph.next_call_id()`` before the run); a run report carrying ``records``; or an
    iterable of :class:`~halo_core.CallRecord`.
    """
    plan = structure(team)
    if records_or_report is None:
        return plan
    records = sorted(
        (r for r in records_of(records_or_report) if r.call_id >= since), key=lambda r: r.call_id
    )
    counts = _transitions(records, _parents(team))
    return Plan(plan.nodes, _counted(plan.edges, counts)).annotate(records)


def explain(team: Any, records_or_report: Any, since: int = 0) -> str:
    """``plan_of(team, records_or_report, since).explain()``: the ``EXPLAIN ANALYZE`` table."""
    return plan_of(team, records_or_report, since).explain()


def _static(team: Any) -> tuple[list[str], list[PlanEdge]]:
    """The participant node names and the edges the team type fixes."""
    if isinstance(team, ChatAgent):
        return [team.name], [PlanEdge(START, team.name), PlanEdge(team.name, END)]
    if not isinstance(team, BaseGroupChat):
        raise TypeError(f"not an AutoGen team or agent: {type(team).__name__}")
    names = [p.name for p in team._participants]
    if isinstance(team, RoundRobinGroupChat):
        cycle = [*names, names[0]]
        return names, [PlanEdge(START, names[0])] + [PlanEdge(a, b) for a, b in pairwise(cycle)]
    if isinstance(team, SelectorGroupChat):
        edges = [PlanEdge(START, SELECTOR)]
        for n in names:
            edges += [PlanEdge(SELECTOR, n, True), PlanEdge(n, SELECTOR, True)]
        return [SELECTOR, *names], edges
    if isinstance(team, Swarm):
        edges = [PlanEdge(START, names[0])]
        for p in team._participants:
            for h in getattr(p, "_handoffs", {}).values():  # a handoff outside the team ends it
                inside = h.target in names
                target, label = (h.target, "") if inside else (END, h.target)
                edges.append(PlanEdge(p.name, target, True, label))
        return names, edges
    if isinstance(team, GraphFlow):
        graph = team._graph
        edges = [PlanEdge(START, n) for n in names if n in graph.get_start_nodes()]
        for node in graph.nodes.values():
            for e in node.edges:
                fn = getattr(e.condition_function, "__name__", "<lambda>")
                label = e.condition if isinstance(e.condition, str) else fn.replace("<lambda>", "")
                conditional = e.condition is not None or e.condition_function is not None
                edges.append(PlanEdge(node.name, e.target, conditional, label))
        edges += [PlanEdge(n, END) for n in names if n in graph.get_leaf_nodes()]
        return names, edges
    return names, []  # another group chat (Magentic-One, ...): transitions only


def _parents(team: Any) -> dict[str, set[str]] | None:
    """A GraphFlow's static predecessors of each node (its branches may run in parallel)."""
    if not isinstance(team, GraphFlow):
        return None
    return {n: set(ps) for n, ps in team._graph.get_parents().items()}


def _transitions(records: Iterable[CallRecord], parents: dict[str, set[str]] | None) -> Transitions:
    """Speaker transitions counted over instances. An instance's turns are its runs of calls by
    one speaker (a tool call's speaker is its agent), in call order. In a GraphFlow a turn's
    sources are the node's parents that spoke since its own previous turn (none: the start, or
    the same turn resumed after a parallel branch's calls)."""
    seqs: dict[int, list[str]] = {}
    for r in records:
        if r.instance is None:
            continue
        seq = seqs.setdefault(r.instance, [])
        speaker = r.node.partition(":")[0]
        if not seq or seq[-1] != speaker:
            seq.append(speaker)
    counts: Transitions = Counter()
    children: dict[str, set[str]] = {}
    for child, ps in (parents or {}).items():
        for p in ps:
            children.setdefault(p, set()).add(child)
    for seq in seqs.values():
        if parents is None:
            path = [START, *seq, END]
            counts.update(pairwise(path))
            continue
        last: dict[str, int] = {}
        for i, y in enumerate(seq):
            prev = last.get(y, -1)
            sources = [p for p in sorted(parents.get(y, ())) if last.get(p, -1) > prev]
            counts.update((p, y) for p in sources)
            if not sources and prev < 0:
                counts[START, y] += 1
            last[y] = i
        for y, i in sorted(last.items(), key=lambda kv: kv[1]):  # not followed by a child turn
            if all(last.get(c, -1) < i for c in children.get(y, ())):
                counts[y, END] += 1
    return counts


def _counted(edges: list[PlanEdge], counts: Transitions) -> list[PlanEdge]:
    """The static edges, those taken labelled with their count, then the other transitions."""
    left = Counter(counts)
    out = []
    for e in edges:
        n = left.pop((e.source, e.target), 0)
        out.append(replace(e, label=f"{e.label} ×{n}".strip()) if n else e)
    return out + [PlanEdge(s, t, True, f"×{n}") for (s, t), n in left.items()]
