"""One measured run of a batch by each system, as :class:`Measured`:

* :func:`run_baseline`: ``graph.abatch`` with ``ChatOpenAI`` clients against the baseline's
  ``vllm serve`` fleet (:mod:`benchmarks.fleet`) at one max_concurrency;
* :func:`run_halo`: the same graph under ``halo_adapters.langgraph.abatch``;
* :func:`run_oracle`: Halo's executed LLM calls replayed stage by stage on the engines alone;
* :func:`recheck_alone`: chosen instances re-run alone in both systems.

The engines' own counters (requests, prompt tokens, prefix-cache hits, steps) fill each run's
engine fields: :func:`engine_fields`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import importlib
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.oracle import Recording, replay
from benchmarks.suite.workloads import chat_models
from halo_core.backends.base import EngineCounters


@dataclass
class Measured:
    """One system's run of one workload."""

    system: str
    workload: str
    n: int
    wall_s: float
    llm_issued: int = 0
    engine_requests: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    tool_issued: int = 0
    tool_executed: int = 0
    engine_busy_s: float = 0.0
    engine_steps: int = 0
    step_s: float = 0.0  # seconds inside engine steps (in-process engines only)
    #: the cost model's prediction of step_s (Halo: RunReport.engine_time), None if not made
    predicted_step_s: float | None = None
    makespan_s: float | None = None  # Halo: its calls' first submission to last end
    predicted_makespan_s: float | None = None  # ... replayed closed-loop by the cost model
    tool_only_s: float = 0.0
    plan_s: float = 0.0
    #: CPU seconds of this process (the workflow's Python; in-process engines too) and of its
    #: child processes (engine hosts, vllm serve) during the run
    process_cpu_s: float = 0.0
    children_cpu_s: float = 0.0
    failed: int = 0
    stopped: bool = False
    detail: str = ""
    concurrency: int = 0  # the baseline's max_concurrency
    binding: str = ""  # the baseline servers' CPU binding (BINDINGS)
    threads: int = 0  # the baseline's default-executor threads (0: max_concurrency)
    results: list[Any] = field(default_factory=list, repr=False)

    @property
    def computed_tokens(self) -> int:
        """Prompt tokens the engines prefilled (not served from their prefix caches)."""
        return self.prompt_tokens - self.cached_tokens

    def as_row(self) -> dict[str, Any]:
        """The run's fields as a report row keeps them (all but the outputs)."""
        d = dataclasses.asdict(self)
        d.pop("results")
        return d


def children_cpu_s() -> float:
    """CPU seconds of this process's live descendants (engine hosts, servers)."""
    import psutil

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            t = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


@contextlib.contextmanager
def cpu_clock() -> Iterator[dict[str, float]]:
    """While open, count CPU seconds; the dict given out holds ``process_cpu_s`` (this process)
    and ``children_cpu_s`` (its child processes) on close."""
    spent: dict[str, float] = {}
    cpu0, kids0 = time.process_time(), children_cpu_s()
    try:
        yield spent
    finally:
        spent["process_cpu_s"] = time.process_time() - cpu0
        spent["children_cpu_s"] = children_cpu_s() - kids0


def summed(counters: Iterable[EngineCounters]) -> EngineCounters:
    """Several engines' counters added up, field by field."""
    return sum(counters, EngineCounters(0, 0, 0, 0, 0))


def engine_fields(counters: Iterable[EngineCounters]) -> dict[str, Any]:
    """:class:`Measured`'s engine fields from the engines' counters, summed over the engines
    (``step_s`` stays 0 for servers, which do not time their steps)."""
    total = summed(counters)
    return {
        "engine_requests": total.requests,
        "prompt_tokens": total.prompt_tokens,
        "cached_tokens": total.prefix_cache_hits,
        "engine_steps": total.steps,
        "step_s": total.step_s,
    }


def stopped_baseline(
    name: str, n: int, wall_s: float, detail: str, concurrency: int, binding: str, threads: int = 0
) -> Measured:
    """A baseline run that was stopped (or whose servers did not start) after ``wall_s``."""
    return Measured(
        "baseline",
        name,
        n,
        wall_s,
        stopped=True,
        detail=detail,
        concurrency=concurrency,
        binding=binding,
        threads=threads,
    )


def load_example(name: str) -> Any:
    """``examples.<name>`` (the repository root put on ``sys.path`` when run from elsewhere)."""
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module(f"examples.{name}")


def graph_on_servers(wl: Any, urls: Mapping[str, str], max_tokens: int) -> Any:
    """Workload ``wl``'s graph with ``ChatOpenAI`` models on the servers at ``urls``."""
    return wl.build_graph(chat_models(urls, max_tokens))


async def baseline_abatch(
    graph: Any, inputs: list[Any], concurrency: int, threads: int | None = None
) -> list[Any]:
    """``graph.abatch`` as a careful user runs it: LangGraph runs sync nodes in the loop's
    default executor, whose ``min(32, cpus + 4)`` threads would cap the batch far below
    ``max_concurrency``; so the executor gets ``threads`` (default ``max_concurrency``)."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(threads or concurrency))
    config = {"max_concurrency": concurrency}
    return await graph.abatch(inputs, config=config, return_exceptions=True)


def run_baseline(
    servers: Sequence[Any],
    graph: Any,
    inputs: list[Any],
    concurrency: int,
    name: str,
    stop_after_s: float | None = None,
    binding: str = "",
    threads: int | None = None,
) -> Measured:
    """``graph.abatch`` against the servers at one max_concurrency (the default executor
    ``threads`` wide, default max_concurrency), from cold prefix caches; stopped
    (``Measured.stopped``) once it has run ``stop_after_s``; ``binding`` names the servers' CPU
    binding in the run's detail."""
    setting = (
        f"max_concurrency={concurrency}"
        + (f", bind={binding}" if binding else "")
        + (f", threads={threads}" if threads else "")
    )
    for s in servers:
        s.reset_prefix_cache()
    before = [s.counters() for s in servers]
    t0 = time.perf_counter()
    try:
        with cpu_clock() as cpu:
            batch = baseline_abatch(graph, inputs, concurrency, threads)
            results = asyncio.run(asyncio.wait_for(batch, stop_after_s))
    except TimeoutError:
        wall = time.perf_counter() - t0
        detail = f"{setting}, stopped after {wall:.0f} s"
        return stopped_baseline(name, len(inputs), wall, detail, concurrency, binding, threads or 0)
    wall = time.perf_counter() - t0
    return Measured(
        "baseline",
        name,
        len(inputs),
        wall,
        **engine_fields(s.counters() - b for s, b in zip(servers, before, strict=True)),
        failed=sum(isinstance(r, BaseException) for r in results),
        detail=setting,
        concurrency=concurrency,
        binding=binding,
        threads=threads or 0,
        results=results,
        **cpu,
    )


def run_halo(
    session: Any,
    graph: Any,
    inputs: list[Any],
    name: str,
    models: Mapping[str, str],
    recording: Recording | None = None,
    config: Mapping[str, Any] | None = None,
) -> tuple[Measured, Any]:
    """The same graph under Halo, from cold caches; ``models`` maps the graph's model names to
    the session's engines; ``recording`` (if given) keeps what the oracle replays; ``config``
    is the graph's run config (e.g. ``max_concurrency``)."""
    import halo_adapters.langgraph as halo_lg
    from halo_core.graph import busy_s

    session.reset()
    observing = session.observe(recording) if recording is not None else contextlib.nullcontext()
    with observing, cpu_clock() as cpu:
        report = asyncio.run(
            halo_lg.abatch(graph, inputs, session=session, models=models, config=config)
        )
    s = report.summary
    engine_busy = busy_s(report.records, "llm")
    return Measured(
        "halo",
        name,
        len(inputs),
        report.wall_s,
        llm_issued=s.llm_calls,
        **engine_fields(report.engine.values()),
        tool_issued=s.tool_calls,
        tool_executed=s.tool_executed,
        engine_busy_s=engine_busy,
        predicted_step_s=_predicted(report),
        makespan_s=report.makespan.measured_s if report.makespan else None,
        predicted_makespan_s=report.makespan.predicted_s if report.makespan else None,
        tool_only_s=busy_s(report.records, "llm", "tool") - engine_busy,
        plan_s=report.plan_s,
        failed=report.failed,
        results=report.results,
        **cpu,
    ), report


def _predicted(report: Any) -> float | None:
    """The cost model's predicted busy time summed over the engines (None if one has none)."""
    times = list(report.engine_time.values())
    if not times or any(t.predicted_s is None for t in times):
        return None
    return float(sum(t.predicted_s for t in times))


def run_oracle(
    session: Any, report: Any, recording: Recording, name: str
) -> tuple[Measured, list[int]]:
    """The engine-only lower bound of Halo's run: its executed LLM calls, stage by stage; also
    the instances fed by a call whose replay returned other tokens (the engine's batch variance)."""
    with cpu_clock() as cpu:
        o = replay(session.engines, report.records, recording)
    return Measured(
        "oracle",
        name,
        len(report.results),
        o.wall_s,
        **engine_fields(o.engine.values()),
        engine_busy_s=o.wall_s,
        detail=f"{len(o.stage_s)} stages; {len(o.changed)} of {o.calls} calls changed output",
        **cpu,
    ), report.consumers(o.changed)


def run_alone(
    servers: Sequence[Any], session: Any, graph: Any, x: Any, name: str, models: Mapping[str, str]
) -> tuple[list[Any], list[Any]]:
    """``x`` alone in each system (no other instance in the engines' batches): Halo's result
    list, then the baseline's."""
    base = run_baseline(servers, graph, [x], 1, name).results
    return run_halo(session, graph, [x], name, models)[0].results, base


def recheck_alone(
    servers: Sequence[Any],
    session: Any,
    graph: Any,
    inputs: list[Any],
    indices: Sequence[int],
    batch: tuple[Measured, Measured],
    models: Mapping[str, str],
) -> list[dict[str, Any]]:
    """Re-run ``inputs[i]`` for each of ``indices`` alone in both systems (no other instance in
    the engines' batches). Per instance: whether Halo and the baseline then agree, and whether
    each system's output in ``batch`` (Halo's run, the baseline's) is the one it returns alone."""
    from halo_adapters.testing import mismatches

    halo_batch, base_batch = batch
    out = []
    for i in indices:
        halo, base = run_alone(servers, session, graph, inputs[i], halo_batch.workload, models)
        out.append(
            {
                "instance": i,
                "equal_alone": not mismatches(halo, base),
                "halo_batch_as_alone": not mismatches(halo_batch.results[i : i + 1], halo),
                "baseline_batch_as_alone": not mismatches(base_batch.results[i : i + 1], base),
            }
        )
    return out
