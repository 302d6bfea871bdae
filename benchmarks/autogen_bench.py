"""An unchanged AutoGen batch over N tasks: ``OpenAIChatCompletionClient`` against ``vllm serve``
vs. the same code under Halo.

One process run, one model, greedy decoding. The batch is the example's own code
(``examples._autogen_common.run_batch``: one team per task, ``asyncio.gather`` of ``team.run``,
one shared client):

* **baseline**: against a stock vLLM OpenAI server (prefix caching on, the same tool-call
  parser), at most c teams running at once (an ``asyncio.Semaphore``), the best of c = 256 / 64
  / 16 as a careful user would tune it (``benchmarks.sweep.sweep_baseline``: a run slower than the
  best is stopped);
* **halo**: the same code inside ``halo_adapters.bind`` on Halo's default engine backend (the
  engine host; compiled, like the server's), every team at once.

Both systems first run 4 tasks unmeasured (first-use costs); the server's prefix cache is reset
before each baseline run and Halo's engine before its run. Engine requests, prompt tokens and
prefix-cache hits come from each engine's own counters; tool runs are the tool results the
baseline's agents got and the tool calls Halo executed. Each run also gives the CPU seconds of
this process (AutoGen, the client, Halo) and of its child processes (the server, the engine
host) and Halo's seconds inside engine steps: what holds a run back. Outputs are compared per
task.

    python -m benchmarks.autogen_bench                                # selector, tiny, N=64 256
    python -m benchmarks.autogen_bench --example tools --model smollm2 --n 64
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.fleet import baseline_server, exit_on_sigterm, served_as_halo
from benchmarks.runners import Measured, cpu_clock, engine_fields, load_example, run_baseline
from benchmarks.sweep import sweep_baseline

EXAMPLES = ("selector", "round_robin", "tools", "swarm")
SERVED = "bench-model"


@dataclass(frozen=True)
class Batch:
    """The example's batch code at one endpoint, shaped as ``benchmarks.run`` drives a graph:
    ``abatch(tasks, config={"max_concurrency": c})`` runs at most c teams at once."""

    make_team: Callable[[Any], Any]
    url: str
    max_tokens: int

    async def abatch(
        self,
        tasks: Sequence[str],
        config: Mapping[str, Any] | None = None,
        return_exceptions: bool = True,
    ) -> list[Any]:
        from examples._autogen_common import run_batch

        limit = (config or {}).get("max_concurrency")
        return await run_batch(
            self.make_team,
            tasks,
            model=SERVED,
            base_url=self.url,
            max_tokens=self.max_tokens,
            limit=limit,
        )


def tool_runs(results: Sequence[Any]) -> int:
    """Tool results the agents got (every tool call runs once without Halo)."""
    from autogen_agentchat.messages import ToolCallExecutionEvent

    return sum(
        len(m.content)
        for r in results
        if not isinstance(r, BaseException)
        for m in r.messages
        if isinstance(m, ToolCallExecutionEvent)
    )


def run_halo(session: Any, batch: Batch, tasks: list[str], name: str) -> Measured:
    """``batch`` under ``halo_adapters.bind`` (every team at once), from cold caches."""
    import halo_adapters

    session.reset()
    before = session.counters()["bench"]
    t0 = time.perf_counter()
    with cpu_clock() as cpu, halo_adapters.bind(session, models={SERVED: "bench"}):
        results = asyncio.run(batch.abatch(tasks))
    wall = time.perf_counter() - t0
    engine = session.counters()["bench"] - before
    s = session.graph.summary()
    return Measured(
        "halo",
        name,
        len(tasks),
        wall,
        llm_issued=s.llm_calls,
        **engine_fields([engine]),
        tool_issued=s.tool_calls,
        tool_executed=s.tool_executed,
        failed=sum(isinstance(r, BaseException) for r in results),
        results=results,
        **cpu,
    )


@dataclass
class Compared:
    """One N: every baseline run (one per concurrency cap) and Halo's run."""

    n: int
    distinct: int  # distinct tasks among the n
    baseline: list[Measured]
    halo: Measured

    @property
    def best(self) -> Measured:
        return min((r for r in self.baseline if not r.stopped), key=lambda r: r.wall_s)

    @functools.cached_property
    def differ(self) -> dict[int, str]:
        """Task index → where Halo's result differs from the best baseline run's."""
        from examples._autogen_common import mismatches

        return mismatches(self.halo.results, self.best.results)


def _row(m: Measured) -> str:
    system = m.detail if m.system == "baseline" else m.system
    if m.stopped:
        return f"| {m.n} | {system} | (stopped) | | | | | | | | | | |"
    tools = tool_runs(m.results) if m.system == "baseline" else m.tool_executed
    step_s = f"{m.step_s:.2f}" if m.step_s else "-"  # vllm serve does not time its steps
    return (
        f"| {m.n} | {system} | {m.wall_s:.2f} | {m.n / m.wall_s:.2f} | {m.engine_requests} | "
        f"{m.prompt_tokens} | {m.computed_tokens} | {m.engine_steps} | {step_s} | "
        f"{m.process_cpu_s:.1f} | {m.children_cpu_s:.1f} | {tools} | {m.failed} |"
    )


def _ratios(c: Compared) -> str:
    best, h = c.best, c.halo
    return (
        f"| {c.n} | {c.distinct} | {best.wall_s / h.wall_s:.2f}x (vs {best.detail}) | "
        f"{best.engine_requests / max(h.engine_requests, 1):.2f}x | "
        f"{best.computed_tokens / max(h.computed_tokens, 1):.2f}x | {c.n - len(c.differ)}/{c.n} |"
    )


def tables(rows: Sequence[Compared]) -> str:
    """The runs table and the ratios table (baseline's best over Halo), as markdown."""
    return "\n".join(
        [
            "| N | system | wall s | tasks/s | engine requests | prompt tokens | computed | "
            "engine steps | s in steps | this process CPU s | child processes CPU s "
            "(vllm serve / engine host) | tool runs | failed |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
            *(_row(m) for c in rows for m in [*c.baseline, c.halo]),
            "",
            "| N | distinct tasks | speedup (wall) | fewer engine requests | fewer computed "
            "tokens | outputs equal |",
            "|---|---|---|---|---|---|",
            *(_ratios(c) for c in rows),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--example", choices=EXAMPLES, default="selector")
    p.add_argument("--model", default="tiny", help="tiny (default), smollm2, or a model dir")
    p.add_argument("--n", type=int, nargs="+", default=[64, 256])
    p.add_argument("--concurrency", type=int, nargs="+", default=[16, 64, 256])
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--max-turns", type=int, help="the team's turn limit (default: the example's)")
    p.add_argument("--max-model-len", type=int, default=2048)
    args = p.parse_args(argv)
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")

    example = load_example(f"autogen_{args.example}")
    from examples._common import UNUSED_URL
    from halo_core import Session, SessionConfig
    from halo_core.models import resolve_model

    model_dir = resolve_model(args.model)
    make_team = example.make_team
    if args.max_turns:
        make_team = functools.partial(make_team, max_turns=args.max_turns)
    print(f"# autogen {args.example} on {args.model} ({model_dir})", flush=True)
    engine = served_as_halo(model_dir, args.max_model_len)
    server = baseline_server(model_dir, SERVED, args.max_model_len)
    with server as url, Session(SessionConfig(engines={"bench": engine})) as session:
        baseline = Batch(make_team, url, args.max_tokens)
        halo = Batch(make_team, UNUSED_URL, args.max_tokens)  # nothing listens: Halo serves
        warm = example.make_inputs(4)  # first-use costs (grammar compilation, ...) off the clock
        run_baseline([server], baseline, warm, 4, args.example)
        run_halo(session, halo, warm, args.example)
        rows: list[Compared] = []
        for n in args.n:
            tasks = example.make_inputs(n)
            runs = sweep_baseline([server], baseline, tasks, args.concurrency, args.example)
            h = run_halo(session, halo, tasks, args.example)
            rows.append(Compared(n, len(set(tasks)), runs, h))
            print(*(f"  {_row(m)}" for m in [*runs, h]), sep="\n", flush=True)
            for line in list(rows[-1].differ.values())[:3]:
                print(f"  differs: {line[:300]}", flush=True)
    print(f"\n{tables(rows)}")
    return 0


if __name__ == "__main__":
    exit_on_sigterm()
    raise SystemExit(main())
