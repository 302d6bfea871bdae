"""An unchanged LangGraph graph over N inputs: ChatOpenAI against ``vllm serve`` vs. under Halo.

One process run, one model, greedy decoding:

* **baseline**: ``await graph.abatch(inputs, config={"max_concurrency": c})`` (default executor
  sized to c, see ``benchmarks.run.baseline_abatch``) with the graph's
  ``ChatOpenAI`` talking to a stock vLLM OpenAI server (prefix caching on, the same tool-call
  parser) — the best of c = 16 / 64 / 256, as a careful LangGraph user would tune it;
* **halo**: the same graph object under ``halo_adapters.langgraph.abatch`` on an in-process engine.

Both systems first run 4 inputs unmeasured (first-use costs such as grammar compilation); the
server's prefix cache is reset before each baseline run and Halo's engine before its run.
Engine requests, prompt tokens and prefix-cache hits come from each engine's own counters
(the server's ``/metrics``, Halo's engine stat logger). Outputs are compared per instance.

    python -m benchmarks.langgraph_bench                              # sql_agent, tiny, N=64 256
    python -m benchmarks.langgraph_bench --example map_reduce --model smollm2 --n 64
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from benchmarks.run import baseline_abatch

EXAMPLES = ("sql_agent", "map_reduce", "supervisor")
SERVED = "bench-model"


@dataclass
class Run:
    """One measured batch."""

    system: str
    n: int
    wall_s: float
    requests: int
    prompt_tokens: int
    cache_hits: int
    failed: int
    results: list[Any]

    @property
    def computed(self) -> int:
        """Prompt tokens the engine prefilled (not served from its prefix cache)."""
        return self.prompt_tokens - self.cache_hits


def _example(name: str) -> Any:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module(f"examples.langgraph_{name}")


def _delta(after: Any, before: Any) -> tuple[int, int, int]:
    return (
        after.requests - before.requests,
        after.prompt_tokens - before.prompt_tokens,
        after.prefix_cache_hits - before.prefix_cache_hits,
    )


def baseline(server: Any, graph: Any, inputs: list[Any], concurrency: int) -> Run:
    """``graph.abatch`` against the server at one max_concurrency, from a cold prefix cache."""
    server.reset_prefix_cache()
    before = server.counters()
    t0 = time.perf_counter()
    results = asyncio.run(baseline_abatch(graph, inputs, concurrency))
    wall = time.perf_counter() - t0
    req, prompt, hits = _delta(server.counters(), before)
    failed = sum(isinstance(r, BaseException) for r in results)
    return Run(f"baseline c={concurrency}", len(inputs), wall, req, prompt, hits, failed, results)


def halo(session: Any, graph: Any, inputs: list[Any]) -> Run:
    """The same graph under Halo, from a cold prefix cache and an empty dedup memo."""
    import halo_adapters.langgraph as halo_lg

    session.reset()
    report = asyncio.run(halo_lg.abatch(graph, inputs, session=session, models={SERVED: "bench"}))
    c = report.engine["bench"]
    return Run(
        "halo",
        len(inputs),
        report.wall_s,
        c.requests,
        c.prompt_tokens,
        c.prefix_cache_hits,
        report.failed,
        report.results,
    )


def _row(r: Run) -> str:
    return (
        f"| {r.n} | {r.system} | {r.wall_s:.2f} | {r.n / r.wall_s:.2f} | {r.requests} | "
        f"{r.prompt_tokens} | {r.computed} | {r.failed} |"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--example", choices=EXAMPLES, default="sql_agent")
    p.add_argument("--model", default="tiny", help="tiny (default), smollm2, or a model dir")
    p.add_argument("--n", type=int, nargs="+", default=[64, 256])
    p.add_argument("--concurrency", type=int, nargs="+", default=[16, 64, 256])
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--max-model-len", type=int, default=2048)
    args = p.parse_args(argv)
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")

    example = _example(args.example)
    from examples._common import chat_model
    from halo_adapters.compare import mismatches
    from halo_core import EngineConfig, Session, SessionConfig
    from halo_core.models import resolve_model
    from halo_core.vllm_server import DEFAULT_TOOL_PARSER, VLLMServer

    model_dir = resolve_model(args.model)
    print(f"# {args.example} on {args.model} ({model_dir})", flush=True)
    engine = EngineConfig(
        model=model_dir,
        max_model_len=args.max_model_len,
        tool_call_parser=DEFAULT_TOOL_PARSER,
        compact_json=True,
    )
    server = VLLMServer(
        model_dir, served_name=SERVED, max_model_len=args.max_model_len, compact_json=True
    )
    lines = [
        "| N | system | wall s | inst/s | engine requests | prompt tokens | computed | failed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    summary = ["| N | speedup (wall) | requests ratio | computed-token ratio | outputs equal |"]
    summary.append("|---|---|---|---|---|")
    with server as url, Session(SessionConfig(engines={"bench": engine})) as session:
        graph = example.build_graph(chat_model(SERVED, url, args.max_tokens))
        warm = example.make_inputs(4)  # first-use costs (grammar compilation, ...) off the clock
        baseline(server, graph, warm, 4)
        halo(session, graph, warm)
        for n in args.n:
            inputs = example.make_inputs(n)
            runs = []
            for c in args.concurrency:
                runs.append(baseline(server, graph, inputs, c))
                print(f"  {_row(runs[-1])}", flush=True)
            best = min(runs, key=lambda r: r.wall_s)
            h = halo(session, graph, inputs)
            print(f"  {_row(h)}", flush=True)
            lines += [_row(r) for r in runs] + [_row(h)]
            diff = mismatches(h.results, best.results)
            for line in diff[:3]:
                print(f"  differs: {line[:300]}", flush=True)
            equal = f"{n - len(diff)}/{n}"
            summary.append(
                f"| {n} | {best.wall_s / h.wall_s:.2f}x (vs {best.system}) | "
                f"{best.requests / max(h.requests, 1):.2f}x fewer | "
                f"{best.computed / max(h.computed, 1):.2f}x fewer | {equal} |"
            )
    print("\n" + "\n".join(lines) + "\n\n" + "\n".join(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
