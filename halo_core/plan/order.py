"""The order of a plan's nodes: the edges that do not close a loop, and a topological order over
them (what the pictures and ``EXPLAIN`` lay nodes out by)."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from halo_core.plan.dag import PlanEdge

#: The name of a plan's start node (LangGraph's ``START``).
START = "__start__"


def forward_edges(names: list[str], edges: Sequence[PlanEdge]) -> list[tuple[str, str]]:
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


def toposort(names: list[str], edges: Sequence[PlanEdge]) -> list[str]:
    """Kahn's algorithm over the forward edges, taking ready nodes in declaration order."""
    pos = {n: i for i, n in enumerate(names)}
    forward = forward_edges(names, edges)
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
