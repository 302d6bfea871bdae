"""The baseline tuned as a careful user would: the best of its max_concurrency settings
(:func:`sweep_baseline`), then of the servers' CPU thread bindings and, where the graph branches,
of a default executor with a thread per branch (:func:`sweep_bindings`). A run that has taken
longer than the best so far is stopped: it can no longer win."""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from benchmarks.fleet import BaselineServers
from benchmarks.runners import Measured, run_baseline, stopped_baseline

log = logging.getLogger("halo.bench")


def fan_out(graph: Any) -> int:
    """The most edges leaving one node of a compiled LangGraph graph: how many of its nodes
    one instance can run at once (its parallel branches)."""
    sources = collections.Counter(e.source for e in graph.get_graph().edges)
    return max(sources.values(), default=1)


def sweep_baseline(
    servers: Sequence[Any],
    graph: Any,
    inputs: list[Any],
    concurrencies: Sequence[int],
    name: str,
    binding: str = "",
) -> list[Measured]:
    """The baseline at each max_concurrency, highest first; a run is stopped once it has taken
    longer than the best finished one (it can no longer be the best)."""
    runs: list[Measured] = []
    for c in sorted(concurrencies, reverse=True):
        best = min((m.wall_s for m in runs if not m.stopped), default=None)
        runs.append(run_baseline(servers, graph, inputs, c, name, best, binding))
        log.info("  baseline c=%d: %.1f s%s", c, runs[-1].wall_s, " (stopped)" * runs[-1].stopped)
    return runs


def sweep_bindings(
    fleet: BaselineServers,
    graph: Any,
    graph_for: Callable[[Mapping[str, str]], Any],
    inputs: list[Any],
    concurrencies: Sequence[int],
    bindings: Sequence[str],
    name: str,
    branch_threads: bool = True,
) -> list[Measured]:
    """The baseline's runs: max_concurrency swept (:func:`sweep_baseline`) on the first of
    ``bindings``, which ``fleet`` is on and ``graph`` talks to; then each other binding on
    restarted servers (``graph_for(urls)`` builds the graph for them; a few instances run first,
    off the clock) at the best concurrency; last (if ``branch_threads``), where the graph
    branches, the best setting with a default executor of max_concurrency x :func:`fan_out`
    threads (every branch of every instance at once) — each stopped once it has taken longer
    than the best run so far. ``fleet`` is left on the last binding whose servers started."""
    from halo_core.testing.vllm_server import ServerStartError

    first, *others = bindings
    assert fleet.binding == first, (fleet.binding, first)
    runs = sweep_baseline(fleet.servers, graph, inputs, concurrencies, name, first)
    best = min((m for m in runs if not m.stopped), key=lambda m: m.wall_s)
    for b in others:
        try:
            fleet.use(b)
        except ServerStartError as e:
            log.warning("  baseline bind=%s: %s", b, e)
            c = best.concurrency
            detail = f"max_concurrency={c}, bind={b}, servers did not start"
            runs.append(stopped_baseline(name, len(inputs), 0.0, detail, c, b))
            continue
        g = graph_for(fleet.urls)
        run_baseline(fleet.servers, g, inputs[:4], 4, name)  # first-use costs off the clock
        m = run_baseline(fleet.servers, g, inputs, best.concurrency, name, best.wall_s, b)
        runs.append(m)
        log.info("  baseline bind=%s: %.1f s%s", b, m.wall_s, " (stopped)" * m.stopped)
        if not m.stopped and m.wall_s < best.wall_s:
            best = m
    threads = best.concurrency * fan_out(graph)
    if branch_threads and threads > best.concurrency:
        restarted = fleet.use(best.binding)
        g = graph_for(fleet.urls)
        if restarted:
            run_baseline(fleet.servers, g, inputs[:4], 4, name)  # first-use costs off the clock
        m = run_baseline(
            fleet.servers, g, inputs, best.concurrency, name, best.wall_s, best.binding, threads
        )
        runs.append(m)
        log.info("  baseline threads=%d: %.1f s%s", threads, m.wall_s, " (stopped)" * m.stopped)
    return runs
