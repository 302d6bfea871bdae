"""The six-workload benchmark: LangGraph on ``vllm serve`` vs. Halo vs. the engine-only oracle.

Every workload (``benchmarks/suite/workloads``, W1–W6) is an unchanged LangGraph program with
three model roles S / M / L, SQL tools on a DuckDB file and HTTP tools on a local service with
Gamma-distributed latency. In one process run, on the same machine and the same models:

* **baseline** — ``graph.abatch`` with ``ChatOpenAI`` clients against one ``vllm serve`` per
  model (prefix caching on), the best of max_concurrency 16 / 64 / 256 (highest first; a later
  concurrency is stopped once it has taken longer than the best so far: it cannot win), then of
  the servers' CPU thread bindings (``--bindings``) at the best concurrency, then, where the
  graph branches, of a default executor with a thread per branch (``sweep_bindings``);
* **halo** — the same graph objects under ``halo_adapters.langgraph.abatch`` (one in-process
  engine per model);
* **oracle** — the deduplicated LLM calls Halo executed, replayed stage by stage on the engines
  with nothing else (``benchmarks.oracle.replay``): the engine-only lower bound.

    python -m benchmarks.run --workloads all --n 1024            # the full run (hours on CPU)
    python -m benchmarks.run --quick                              # N=64, latency x0.02: minutes

Writes ``benchmarks/results/<date>/report.md`` (or ``--out DIR``) with the table and PNG plots,
re-written after every workload; each workload's row is also kept in ``rows/<W>.json``, and
``--resume`` skips workloads whose row was measured with the same settings (a long run can go on
in a later process; each row's three systems always run side by side in one process).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import contextlib
import datetime as dt
import functools
import json
import logging
import math
import os
import platform
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.oracle import Recording, longest_tool_chain_s, replay

ROLES = ("S", "M", "L")
#: The three tiny random Llamas of clearly different sizes (hidden size, layers) for CPU runs.
TINY_SIZES = {"S": (64, 1), "M": (128, 2), "L": (256, 2)}
RESULTS = Path(__file__).resolve().parent / "results"
#: Differing instances per workload that are re-run alone in both systems (each takes seconds).
RECHECK_ALONE = 8
#: The baseline servers' CPU thread bindings (``--bindings``), see :func:`cpu_binds`.
BINDINGS = ("auto", "all", "nobind", "per-server")
log = logging.getLogger("halo.bench")


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


def load_example(name: str) -> Any:
    """``examples.<name>`` (the repository root put on ``sys.path`` when run from elsewhere)."""
    import importlib

    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module(f"examples.{name}")


def served_as_halo(model: str, max_model_len: int, **settings: Any) -> Any:
    """Halo's engine for ``model`` set up as the baseline's ``vllm serve`` runs it: the same
    tool-call parser and compact guided JSON, compiled (eager kernels round differently and flip
    greedy near-ties: measured on W2 at N=1,024, 4 instances differed with eager)."""
    from halo_core import EngineConfig
    from halo_core.testing.vllm_server import DEFAULT_TOOL_PARSER

    return EngineConfig(
        model=model,
        max_model_len=max_model_len,
        tool_call_parser=DEFAULT_TOOL_PARSER,
        compact_json=True,
        enforce_eager=False,
        **settings,
    )


def baseline_server(
    model: str,
    served_name: str | Sequence[str],
    max_model_len: int,
    cpu_bind: str | None = None,
) -> Any:
    """The baseline's stock ``vllm serve`` of ``model`` (compact guided JSON, like Halo's);
    ``cpu_bind``: its ``VLLM_CPU_OMP_THREADS_BIND`` (None: vLLM's default)."""
    from halo_core.testing.vllm_server import VLLMServer

    return VLLMServer(
        model,
        served_name=served_name,
        max_model_len=max_model_len,
        compact_json=True,
        cpu_bind=cpu_bind,
    )


def exit_on_sigterm() -> None:
    """Make SIGTERM (``kill``, a CI timeout) raise SystemExit in the main thread, so the
    ``finally`` / ``with`` blocks that stop the baseline's ``vllm serve`` processes run;
    without it a killed benchmark leaves its servers running."""
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))


def cpu_binds(binding: str, servers: int, cpus: int) -> list[str | None]:
    """Each of ``servers`` baseline servers' ``VLLM_CPU_OMP_THREADS_BIND`` on ``cpus`` cores
    for a binding name: ``auto`` vLLM's default (None: left unset), ``all`` every core for every
    server (as Halo's in-process engines), ``nobind`` no binding, ``per-server`` the cores split
    evenly into distinct ranges, one per server (ValueError with fewer cores than servers)."""
    if binding == "auto":
        return [None] * servers
    if binding == "all":
        return [_core_range(0, cpus)] * servers
    if binding == "nobind":
        return ["nobind"] * servers
    if binding == "per-server":
        if cpus < servers:
            raise ValueError(f"per-server binding: {servers} servers, only {cpus} cores")
        return [_core_range(i * cpus // servers, (i + 1) * cpus // servers) for i in range(servers)]
    raise ValueError(f"unknown binding {binding!r}: one of {', '.join(BINDINGS)}")


def _core_range(lo: int, hi: int) -> str:
    """Cores ``lo`` .. ``hi - 1`` as ``VLLM_CPU_OMP_THREADS_BIND`` writes them."""
    return str(lo) if hi - lo == 1 else f"{lo}-{hi - 1}"


def applicable_bindings(names: Sequence[str], servers: int, cpus: int) -> list[str]:
    """``names`` less those that cannot apply (``per-server`` with fewer cores than servers)
    or bind every server as an earlier one does (``per-server`` for one server is ``all``)."""
    kept: dict[str, list[str | None]] = {}
    for name in names:
        try:
            binds = cpu_binds(name, servers, cpus)
        except ValueError as e:
            if name not in BINDINGS:
                raise
            log.info("binding %s skipped: %s", name, e)
            continue
        same = [k for k, v in kept.items() if v == binds]
        if same:
            log.info("binding %s skipped: the same as %s here", name, same[0])
        else:
            kept[name] = binds
    return list(kept)


class BaselineServers:
    """The baseline's ``vllm serve`` processes, one per distinct model (``by_dir``: model dir →
    the roles it serves), all on one CPU binding (:func:`cpu_binds`) at a time."""

    def __init__(self, by_dir: Mapping[str, Sequence[str]], max_model_len: int, cpus: int):
        self.by_dir = {d: list(roles) for d, roles in by_dir.items()}
        self.max_model_len = max_model_len
        self.cpus = cpus
        self.binding: str | None = None  # the binding of servers that answer (None: none do)
        self.servers: list[Any] = []
        self._launched = ""

    def launch(self, binding: str) -> None:
        """Stop any servers; start new ones (new ports) on ``binding`` without waiting."""
        self.stop()
        binds = cpu_binds(binding, len(self.by_dir), self.cpus)
        self.servers = [
            baseline_server(d, roles, self.max_model_len, cpu_bind=b)
            for (d, roles), b in zip(self.by_dir.items(), binds, strict=True)
        ]
        self._launched = binding
        for s in self.servers:
            s.launch()

    def wait_ready(self) -> dict[str, str]:
        """Block until every launched server answers (all stopped if one fails); the URLs."""
        try:
            for s in self.servers:
                s.wait_ready()
        except BaseException:
            self.stop()
            raise
        self.binding = self._launched
        return self.urls

    def use(self, binding: str) -> bool:
        """The servers on ``binding``: restarted unless they already are; True if restarted."""
        if binding == self.binding:
            return False
        self.launch(binding)
        self.wait_ready()
        return True

    def stop(self) -> None:
        for s in self.servers:
            s.stop()
        self.binding = None

    @property
    def urls(self) -> dict[str, str]:
        """Role → its server's base URL."""
        return {
            r: s.url
            for s, roles in zip(self.servers, self.by_dir.values(), strict=True)
            for r in roles
        }


def model_dirs(spec: str) -> dict[str, str]:
    """Role → model dir: ``tiny`` (three tiny Llamas of different sizes), ``smollm2`` (every
    role on SmolLM2-135M-Instruct), or ``S=...,M=...,L=...`` (dirs or Hugging Face ids)."""
    from halo_core.models import default_cache_dir, resolve_model
    from halo_core.testing.tiny_llama import build_tiny_llama

    if spec == "tiny":
        root = default_cache_dir() / "models"
        return {
            r: str(build_tiny_llama(root / f"bench-{r}", hidden_size=h, num_layers=n, seed=i))
            for i, (r, (h, n)) in enumerate(TINY_SIZES.items())
        }
    if spec == "smollm2":
        path = resolve_model("smollm2")
        return dict.fromkeys(ROLES, path)
    pairs = dict(p.split("=", 1) for p in spec.split(","))
    if set(pairs) != set(ROLES):
        raise SystemExit(f"--models {spec!r}: give S=...,M=...,L=... (or tiny / smollm2)")
    return {r: resolve_model(pairs[r]) for r in ROLES}


def _build_graph(wl: Any, urls: Mapping[str, str], max_tokens: int) -> Any:
    """Workload ``wl``'s graph with ``ChatOpenAI`` models on the servers at ``urls``."""
    return wl.build_graph(_chat_models(urls, max_tokens))


def _chat_models(urls: Mapping[str, str], max_tokens: int) -> dict[str, Any]:
    from langchain_openai import ChatOpenAI

    return {
        r: ChatOpenAI(
            model=r, base_url=urls[r], api_key="unused", temperature=0, max_tokens=max_tokens
        )
        for r in ROLES
    }


def fan_out(graph: Any) -> int:
    """The most edges leaving one node of a compiled LangGraph graph: how many of its nodes
    one instance can run at once (its parallel branches)."""
    sources = collections.Counter(e.source for e in graph.get_graph().edges)
    return max(sources.values(), default=1)


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
        batch = baseline_abatch(graph, inputs, concurrency, threads)
        results = asyncio.run(asyncio.wait_for(batch, stop_after_s))
    except TimeoutError:
        wall = time.perf_counter() - t0
        return Measured(
            "baseline",
            name,
            len(inputs),
            wall,
            stopped=True,
            detail=f"{setting}, stopped after {wall:.0f} s",
            concurrency=concurrency,
            binding=binding,
            threads=threads or 0,
        )
    wall = time.perf_counter() - t0
    delta = [s.counters() - b for s, b in zip(servers, before, strict=True)]
    return Measured(
        "baseline",
        name,
        len(inputs),
        wall,
        engine_requests=sum(d.requests for d in delta),
        prompt_tokens=sum(d.prompt_tokens for d in delta),
        cached_tokens=sum(d.prefix_cache_hits for d in delta),
        engine_steps=sum(d.steps for d in delta),
        failed=sum(isinstance(r, BaseException) for r in results),
        detail=setting,
        concurrency=concurrency,
        binding=binding,
        threads=threads or 0,
        results=results,
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
    with session.observe(recording) if recording is not None else contextlib.nullcontext():
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
        engine_requests=sum(c.requests for c in report.engine.values()),
        prompt_tokens=sum(c.prompt_tokens for c in report.engine.values()),
        cached_tokens=sum(c.prefix_cache_hits for c in report.engine.values()),
        tool_issued=s.tool_calls,
        tool_executed=s.tool_executed,
        engine_busy_s=engine_busy,
        engine_steps=sum(c.steps for c in report.engine.values()),
        step_s=sum(c.step_s for c in report.engine.values()),
        predicted_step_s=_predicted(report),
        makespan_s=report.makespan.measured_s if report.makespan else None,
        predicted_makespan_s=report.makespan.predicted_s if report.makespan else None,
        tool_only_s=busy_s(report.records, "llm", "tool") - engine_busy,
        plan_s=report.plan_s,
        failed=report.failed,
        results=report.results,
    ), report


def _predicted(report: Any) -> float | None:
    """The cost model's predicted busy time summed over the engines (None if one has none)."""
    times = list(report.engine_time.values())
    if not times or any(t.predicted_s is None for t in times):
        return None
    return float(sum(t.predicted_s for t in times))


def ablations(on: Any, n: int) -> dict[str, tuple[Any, dict[str, Any] | None]]:
    """Each scheduler / optimizer decision of ``on`` (the run's ``OptimizerConfig``) switched
    off, or to its alternative, in turn: name → (the optimizer configuration to run with, the
    graph's run config)."""
    from halo_core import OptimizerConfig

    other_turns = "drain" if on.engine_turns == "step" else "step"
    other_closing = "cost" if on.epoch_closing == "window" else "window"
    cases: dict[str, tuple[Any, dict[str, Any] | None]] = {
        "every instance live (no admission cap)": (on, {"max_concurrency": n}),
        "no optimizer rules (dedup, memo, prefix groups, order)": (
            on.model_copy(update={"rules": ()}),
            None,
        ),
        "no deferral (rules on, every epoch closes at once)": (
            on.model_copy(update={"defer": False}),
            None,
        ),
        "nothing deferred or merged (each call sent at once)": (OptimizerConfig.direct(), None),
        f"engine turns {other_turns!r}": (
            on.model_copy(update={"engine_turns": other_turns}),
            None,
        ),
        f"epoch closing {other_closing!r}": (
            on.model_copy(update={"epoch_closing": other_closing}),
            None,
        ),
    }
    if on.critical_path:
        cases["no critical-path priority"] = (on.model_copy(update={"critical_path": False}), None)
    return cases


def run_ablation(
    session: Any,
    graph: Any,
    inputs: list[Any],
    name: str,
    models: Mapping[str, str],
    halo: Measured,
    on: Any,
) -> dict[str, dict[str, Any]]:
    """Halo's run again with each decision off (:func:`ablations`): wall time, its ratio to
    everything on, and how many outputs equal everything-on's."""
    from halo_adapters.testing import mismatches

    out = {}
    for case, (optimizer, config) in ablations(on, len(inputs)).items():
        with session.optimizing(optimizer):
            m, _ = run_halo(session, graph, inputs, name, models, config=config)
        out[case] = {
            "wall_s": m.wall_s,
            "slowdown": m.wall_s / halo.wall_s,
            "equal": len(inputs) - len(mismatches(m.results, halo.results)),
        }
        log.info("  ablation %s: %.1f s", case, m.wall_s)
    return out


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
            runs.append(
                Measured(
                    "baseline",
                    name,
                    len(inputs),
                    0.0,
                    stopped=True,
                    detail=detail,
                    concurrency=c,
                    binding=b,
                )
            )
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


def run_oracle(
    session: Any, report: Any, recording: Recording, name: str
) -> tuple[Measured, list[int]]:
    """The engine-only lower bound of Halo's run: its executed LLM calls, stage by stage; also
    the instances fed by a call whose replay returned other tokens (the engine's batch variance)."""
    o = replay(session.engines, report.records, recording)
    c = list(o.engine.values())
    return Measured(
        "oracle",
        name,
        len(report.results),
        o.wall_s,
        engine_requests=sum(x.requests for x in c),
        prompt_tokens=sum(x.prompt_tokens for x in c),
        cached_tokens=sum(x.prefix_cache_hits for x in c),
        engine_busy_s=o.wall_s,
        engine_steps=sum(x.steps for x in c),
        step_s=sum(x.step_s for x in c),
        detail=f"{len(o.stage_s)} stages; {len(o.changed)} of {o.calls} calls changed output",
    ), report.consumers(o.changed)


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
        base = run_baseline(servers, graph, [inputs[i]], 1, base_batch.workload).results
        halo = run_halo(session, graph, [inputs[i]], halo_batch.workload, models)[0].results
        out.append(
            {
                "instance": i,
                "equal_alone": not mismatches(halo, base),
                "halo_batch_as_alone": not mismatches(halo_batch.results[i : i + 1], halo),
                "baseline_batch_as_alone": not mismatches(base_batch.results[i : i + 1], base),
            }
        )
    return out


def _geomean(xs: Sequence[float]) -> float:
    xs = [x for x in xs if x > 0]
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else float("nan")


def write_report(out: Path, rows: list[dict[str, Any]], meta: dict[str, Any]) -> Path:
    """``report.md`` with the table, plus ``speedup.png`` and ``time.png``; returns report.md."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    lines = [
        f"# Halo benchmark, {meta['date']}",
        "",
        f"`{meta['command']}` — {meta['machine']}; models {meta['models']}; "
        f"HTTP latency scale {meta['latency_scale']}; rows took {meta['total_s'] / 60:.1f} min "
        f"(this process {meta['process_s'] / 60:.1f} min, with start-up).",
        "",
        "| workload | N | baseline s (best c, binding) | Halo s | oracle s | "
        "longest tool chain s | speedup | oracle/Halo | bound/Halo | "
        "LLM calls issued → engine requests (base → Halo) | prompt tokens computed "
        "(base → Halo) | tool calls issued → run | engine busy s | "
        "plan s (share of Halo's wall) | outputs equal | "
        "engine steps (base → Halo → oracle) | s in steps: Halo (cost model's prediction, "
        "error) / oracle | calls' makespan: Halo (cost model's closed-loop forecast, error) | "
        "oracle replay: calls with changed output |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|---:|---:|---|---|---|---|---|",
    ]
    for r in rows:
        b, h, o = r["baseline"], r["halo"], r["oracle"]
        lines.append(
            f"| {r['workload']} {r['title']} | {h['n']} | {b['wall_s']:.1f} ({b['detail']}) | "
            f"{h['wall_s']:.1f} | {o['wall_s']:.1f} | {r.get('tool_chain_s', 0):.1f} | "
            f"**{r['speedup']:.2f}x** | {r['oracle_fraction']:.2f} | "
            f"{r.get('bound_fraction', r['oracle_fraction']):.2f} | "
            f"{h['llm_issued']} → {b['engine_requests']} → "
            f"{h['engine_requests']} | {b['prompt_tokens'] - b['cached_tokens']:,} → "
            f"{h['prompt_tokens'] - h['cached_tokens']:,} | {h['tool_issued']} → "
            f"{h['tool_executed']} | {h['engine_busy_s']:.1f} | "
            f"{h['plan_s']:.2f} ({h['plan_s'] / h['wall_s']:.1%}) | "
            f"{_equal(r)} | {_steps(b)} → {_steps(h)} → {_steps(o)} | "
            f"{h.get('step_s', 0):.1f}{_prediction(h)} / {o.get('step_s', 0):.1f} | "
            f"{_makespan(h)} | {o['detail'].split('; ')[-1]} |"
        )
    ablated = [r for r in rows if r.get("ablation")]
    if ablated:
        cases = list(ablated[0]["ablation"])
        lines += [
            "",
            "Ablation: Halo's wall time with one decision off or flipped (x = slowdown against "
            "the run's configuration; outputs equal to that run's):",
            "",
            "| workload | everything on s | " + " | ".join(cases) + " |",
            "|---|---:|" + "---:|" * len(cases),
        ]
        for r in ablated:
            cells = [
                f"{a['wall_s']:.1f} ({a['slowdown']:.2f}x, {a['equal']}/{r['halo']['n']})"
                for a in (r["ablation"][c] for c in cases)
            ]
            lines.append(
                f"| {r['workload']} | {r['halo']['wall_s']:.1f} | " + " | ".join(cells) + " |"
            )
    lines += [
        "",
        "Baseline runs (highest concurrency first on the first CPU binding, then each other "
        "binding at the best concurrency; a run slower than the best so far is stopped):",
    ]
    for r in rows:
        runs = "; ".join(
            f"{m['detail']}" + ("" if m["stopped"] else f": {m['wall_s']:.1f} s")
            for m in r["baseline_all"]
        )
        lines.append(f"- {r['workload']}: {runs}; this row took {r['elapsed_s'] / 60:.1f} min")
    lines += [
        "",
        f"Geomean speedup **{meta['geomean_speedup']:.2f}x**; geomean oracle/Halo "
        f"{meta['geomean_oracle_fraction']:.2f} (1.0 = Halo as fast as the engine-only replay); "
        f"geomean bound/Halo {meta['geomean_bound_fraction']:.2f} (bound = max(oracle, the "
        "longest tool chain one instance must wait through): what no schedule can beat).",
        "",
        "![speedup](speedup.png) ![time](time.png)",
        "",
    ]
    _plots(out, rows)
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


def _equal(r: dict[str, Any]) -> str:
    """Instances equal; for the differing ones, how many took output from a call that the
    oracle's replay answered differently, how many agree when re-run alone, and in how many
    each system's batch output is not what it returns alone."""
    text = f"{r['equal']}/{r['halo']['n']}"
    if not r.get("differing"):
        return text
    alone = r["rechecked_alone"]

    def count(key: str, want: bool) -> int:
        return sum(a[key] == want for a in alone)

    return (
        f"{text} ({len(r['fed_by_variant_call'])} of {len(r['differing'])} fed by a "
        f"batch-variant call; re-run alone {count('equal_alone', True)}/{len(alone)} equal; "
        f"batch output not the lone one: Halo {count('halo_batch_as_alone', False)}, "
        f"baseline {count('baseline_batch_as_alone', False)})"
    )


def _prediction(m: Mapping[str, Any], key: str = "step_s") -> str:
    """`` (predicted, ±error)`` for a row that has the cost model's prediction of ``key``."""
    predicted, measured = m.get(f"predicted_{key}"), m.get(key) or 0
    if predicted is None or not measured:
        return ""
    return f" ({predicted:.1f}, {(predicted - measured) / measured:+.0%})"


def _makespan(m: Mapping[str, Any]) -> str:
    """Halo's calls' makespan with its closed-loop forecast, or ``-`` (rows without it)."""
    if not m.get("makespan_s"):
        return "-"
    return f"{m['makespan_s']:.1f}{_prediction(m, 'makespan_s')}"


def _steps(m: dict[str, Any]) -> str:
    """A run's engine steps ("?" for rows measured before steps were counted)."""
    return f"{m['engine_steps']:,}" if m.get("engine_steps") else "?"


def _plots(out: Path, rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["workload"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(names, [r["speedup"] for r in rows], color="#3b7dd8")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_ylabel("speedup vs LangGraph on vllm serve")
    fig.tight_layout()
    fig.savefig(out / "speedup.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4))
    x = range(len(rows))
    for offset, system in ((-0.27, "baseline"), (0.0, "halo"), (0.27, "oracle")):
        walls = [r[system]["wall_s"] for r in rows]
        if system == "halo":
            eng = [r["halo"]["engine_busy_s"] for r in rows]
            tools = [r["halo"]["tool_only_s"] for r in rows]
            rest = [max(0.0, w - e - t) for w, e, t in zip(walls, eng, tools, strict=True)]
            xs = [i + offset for i in x]
            ax.bar(xs, eng, 0.25, label="Halo: engine busy", color="#3b7dd8")
            ax.bar(xs, tools, 0.25, bottom=eng, label="Halo: tools only", color="#f2a541")
            bottom = [e + t for e, t in zip(eng, tools, strict=True)]
            ax.bar(xs, rest, 0.25, bottom=bottom, label="Halo: other", color="#bbbbbb")
        else:
            color = "#d85b3b" if system == "baseline" else "#5bb870"
            ax.bar([i + offset for i in x], walls, 0.25, label=system, color=color)
    ax.set_xticks(list(x), names)
    ax.set_ylabel("makespan (s)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "time.png", dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", default="all", help="all, or e.g. W1,W5")
    p.add_argument("--n", type=int, default=1024)
    p.add_argument("--quick", action="store_true", help="N=64, latency x0.02, one baseline setting")
    p.add_argument("--models", default="tiny", help="tiny (default), smollm2, or S=..,M=..,L=..")
    p.add_argument("--concurrency", type=int, nargs="+", default=[16, 64, 256])
    p.add_argument(
        "--bindings",
        default=",".join(BINDINGS),
        help="the baseline servers' CPU thread bindings to try, the first for the concurrency "
        "sweep: auto (vLLM's default), all (every core), nobind, per-server (a core range each; "
        "skipped with fewer cores than servers); default all that apply",
    )
    p.add_argument("--latency-scale", type=float, default=1.0, help="HTTP delay multiplier")
    p.add_argument("--max-tokens", type=int, default=24)
    p.add_argument("--max-model-len", type=int, default=2048)
    p.add_argument("--out", type=Path, help="report folder (default benchmarks/results/<date>)")
    p.add_argument(
        "--resume", action="store_true", help="keep rows already in --out with the same settings"
    )
    p.add_argument(
        "--critical-path",
        action="store_true",
        help="Halo orders requests by critical-path priority (engines on priority scheduling)",
    )
    p.add_argument(
        "--ablate",
        action="store_true",
        help="also run Halo with each decision off in turn (the ablation table)",
    )
    p.add_argument(
        "--engine-turns",
        choices=("step", "drain"),
        default="step",
        help="how Halo's engines share the cores: a step each, or the model lock",
    )
    p.add_argument(
        "--tool-workers",
        type=int,
        help="Halo's tool threads (default: SessionConfig's)",
    )
    p.add_argument(
        "--epoch-closing",
        choices=("window", "cost"),
        default="window",
        help="Halo closes epochs at the window, or as soon as waiting is predicted not to pay",
    )
    p.add_argument(
        "--backend",
        default="vllm",
        help="Halo's engine backend: vllm (engine core in process) or vllm-mp (own process)",
    )
    args = p.parse_args(argv)
    requested = args.bindings.split(",")
    if args.quick:
        args.n, args.latency_scale, args.concurrency = 64, 0.02, [64]
        requested = requested[:1]
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for client_log in ("httpx", "httpx2"):  # openai's client logs every request at INFO
        logging.getLogger(client_log).setLevel(logging.WARNING)

    from benchmarks.suite import data, tools, workloads
    from benchmarks.suite.http_service import HTTPService
    from halo_adapters.testing import mismatches
    from halo_core import OptimizerConfig, Session, SessionConfig

    started = time.perf_counter()
    today = dt.date.today().isoformat()
    out: Path = args.out or RESULTS / today
    names = workloads.all_names() if args.workloads == "all" else args.workloads.split(",")
    modules = {name: workloads.get(name) for name in names}  # all imported before any run
    dirs = model_dirs(args.models)
    by_dir: dict[str, list[str]] = {}
    for role, d in dirs.items():
        by_dir.setdefault(d, []).append(role)
    cpus = os.cpu_count() or 1
    try:
        bindings = applicable_bindings(requested, len(by_dir), cpus)
    except ValueError as e:
        raise SystemExit(f"--bindings: {e}") from None
    if not bindings:
        raise SystemExit(f"--bindings {args.bindings}: none applies to {len(by_dir)} servers")
    optimizer = OptimizerConfig(
        critical_path=args.critical_path,
        engine_turns=args.engine_turns,
        epoch_closing=args.epoch_closing,
    )
    tool_workers = {"tool_workers": args.tool_workers} if args.tool_workers else {}
    settings = {
        "n": args.n,
        "latency_scale": args.latency_scale,
        "models": args.models,
        "concurrency": sorted(args.concurrency),
        "max_tokens": args.max_tokens,
        "max_model_len": args.max_model_len,
        "halo_engines": "compiled",
        "bindings": bindings,
        **({"backend": args.backend} if args.backend != "vllm" else {}),
        **({"critical_path": True} if args.critical_path else {}),
        **({"engine_turns": args.engine_turns} if args.engine_turns != "step" else {}),
        **({"epoch_closing": args.epoch_closing} if args.epoch_closing != "window" else {}),
        **({"ablate": True} if args.ablate else {}),
        **tool_workers,
    }
    kept = _kept_rows(out, settings) if args.resume else {}
    todo = [n for n in names if n not in kept]
    log.info("to run: %s; kept from %s: %s", todo, out, sorted(kept) or "none")
    log.info("baseline CPU bindings: %s", ", ".join(bindings))
    db = data.ensure_database()
    fleet = BaselineServers(by_dir, args.max_model_len, cpus)
    # one in-process engine per distinct model, as one server per distinct model
    models = {r: by_dir[dirs[r]][0] for r in ROLES}
    engines = {
        roles[0]: served_as_halo(
            d,
            args.max_model_len,
            backend=args.backend,
            scheduling_policy="priority" if args.critical_path else "fcfs",
        )
        for d, roles in by_dir.items()
    }
    meta = {
        "date": today,
        "command": "python -m benchmarks.run "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "models": {r: Path(d).name for r, d in dirs.items()},
        "latency_scale": args.latency_scale,
    }
    rows = dict(kept)
    if not todo:
        path = _write(out, rows, meta, started)
        print(path.read_text())
        return path
    try:
        fleet.launch(bindings[0])  # the servers start while the in-process engines load
        with (
            HTTPService(scale=args.latency_scale) as http_url,
            Session(
                SessionConfig(
                    engines=engines,
                    optimizer=optimizer,
                    **tool_workers,
                )
            ) as session,
        ):
            fleet.wait_ready()
            tools.configure(db, http_url)
            log.info("servers and engines ready after %.0f s", time.perf_counter() - started)
            for name in todo:
                t_row = time.perf_counter()
                wl = modules[name]
                graph_for = functools.partial(_build_graph, wl, max_tokens=args.max_tokens)
                fleet.use(bindings[0])  # back from the previous workload's last binding
                graph = graph_for(urls := fleet.urls)
                inputs = wl.make_inputs(args.n)
                log.info("%s %s: N=%d", name, wl.TITLE, len(inputs))
                warm = inputs[:4]  # first-use costs (grammar compilation, ...) off the clock
                run_baseline(fleet.servers, graph, warm, 4, name)
                base = sweep_bindings(
                    fleet,
                    graph,
                    graph_for,
                    inputs,
                    args.concurrency,
                    bindings,
                    name,
                    branch_threads=not args.quick,
                )
                best = min((m for m in base if not m.stopped), key=lambda m: m.wall_s)
                if fleet.urls != urls:  # the graph's models talk to live servers only
                    graph = graph_for(fleet.urls)
                run_halo(session, graph, warm, name, models)
                recording = Recording()
                halo, report = run_halo(session, graph, inputs, name, models, recording)
                log.info("  halo: %.1f s", halo.wall_s)
                oracle, variant = run_oracle(session, report, recording, name)
                log.info("  oracle: %.1f s (%s)", oracle.wall_s, oracle.detail)
                diff = mismatches(halo.results, best.results)
                for line in list(diff.values())[:3]:
                    log.warning("  output differs: %s", line[:300])
                differing = sorted(diff)
                ablation = (
                    run_ablation(session, graph, inputs, name, models, halo, optimizer)
                    if args.ablate
                    else {}
                )
                recheck = differing[:RECHECK_ALONE]
                if recheck and fleet.use(best.binding):  # re-run alone as the best ran
                    graph = graph_for(fleet.urls)
                alone = recheck_alone(
                    fleet.servers, session, graph, inputs, recheck, (halo, best), models
                )
                rows[name] = {
                    "workload": name,
                    "title": wl.TITLE,
                    "settings": settings,
                    "baseline": _row(best),
                    "baseline_all": [_row(m) for m in base],
                    "halo": _row(halo),
                    "oracle": _row(oracle),
                    "speedup": best.wall_s / halo.wall_s,
                    "oracle_fraction": oracle.wall_s / halo.wall_s,
                    "tool_chain_s": (chain := longest_tool_chain_s(report.records)),
                    "bound_fraction": max(oracle.wall_s, chain) / halo.wall_s,
                    "equal": len(inputs) - len(diff),
                    "differences": [line[:2000] for line in diff.values()],
                    "differing": differing,
                    "fed_by_variant_call": sorted(set(differing) & set(variant)),
                    "rechecked_alone": alone,
                    "ablation": ablation,
                    "elapsed_s": time.perf_counter() - t_row,
                }
                (out / "rows").mkdir(parents=True, exist_ok=True)
                (out / "rows" / f"{name}.json").write_text(json.dumps(rows[name], indent=1))
                _write(out, rows, meta, started)  # the report so far, after every row
    finally:
        fleet.stop()
    path = _write(out, rows, meta, started)
    print(path.read_text())
    return path


def _kept_rows(out: Path, settings: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    rows = {}
    for f in sorted((out / "rows").glob("*.json")):
        row = json.loads(f.read_text())
        if row.get("settings") == settings:
            rows[row["workload"]] = row
    return rows


def _write(out: Path, rows: Mapping[str, Any], meta: dict[str, Any], started: float) -> Path:
    ordered = [rows[k] for k in sorted(rows)]
    meta = {
        **meta,
        "total_s": sum(r["elapsed_s"] for r in ordered),
        "process_s": time.perf_counter() - started,
        "geomean_speedup": _geomean([r["speedup"] for r in ordered]),
        "geomean_oracle_fraction": _geomean([r["oracle_fraction"] for r in ordered]),
        "geomean_bound_fraction": _geomean(
            [r.get("bound_fraction", r["oracle_fraction"]) for r in ordered]
        ),
    }
    return write_report(out, ordered, meta)


def _row(m: Measured) -> dict[str, Any]:
    d = asdict(m)
    d.pop("results")
    return d


if __name__ == "__main__":
    exit_on_sigterm()
    main()
