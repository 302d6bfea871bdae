"""An unchanged LangGraph graph over N inputs: ChatOpenAI against ``vllm serve`` vs. under Halo.

One process run, one model, greedy decoding:

* **baseline**: ``await graph.abatch(inputs, config={"max_concurrency": c})`` (default executor
  sized to c, see ``benchmarks.runners.baseline_abatch``) with the graph's
  ``ChatOpenAI`` talking to a stock vLLM OpenAI server (prefix caching on, the same tool-call
  parser) — the best of c = 256 / 64 / 16, as a careful LangGraph user would tune it (the
  sweep of ``benchmarks.sweep.sweep_baseline``: a run slower than the best is stopped);
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
import os

from benchmarks.fleet import baseline_server, exit_on_sigterm, served_as_halo
from benchmarks.runners import Measured, load_example, run_baseline, run_halo
from benchmarks.sweep import sweep_baseline

EXAMPLES = ("sql_agent", "map_reduce", "supervisor")
SERVED = "bench-model"


def _row(m: Measured) -> str:
    system = m.detail if m.system == "baseline" else m.system
    if m.stopped:
        return f"| {m.n} | {system} | (stopped) | | | | | |"
    return (
        f"| {m.n} | {system} | {m.wall_s:.2f} | {m.n / m.wall_s:.2f} | {m.engine_requests} | "
        f"{m.prompt_tokens} | {m.computed_tokens} | {m.failed} |"
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

    example = load_example(f"langgraph_{args.example}")
    from examples._common import chat_model
    from halo_adapters.testing import mismatches
    from halo_core import Session, SessionConfig
    from halo_core.models import resolve_model

    model_dir = resolve_model(args.model)
    print(f"# {args.example} on {args.model} ({model_dir})", flush=True)
    engine = served_as_halo(model_dir, args.max_model_len)
    server = baseline_server(model_dir, SERVED, args.max_model_len)
    lines = [
        "| N | system | wall s | inst/s | engine requests | prompt tokens | computed | failed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    summary = ["| N | speedup (wall) | requests ratio | computed-token ratio | outputs equal |"]
    summary.append("|---|---|---|---|---|")
    with server as url, Session(SessionConfig(engines={"bench": engine})) as session:
        graph = example.build_graph(chat_model(SERVED, url, args.max_tokens))
        models = {SERVED: "bench"}
        warm = example.make_inputs(4)  # first-use costs (grammar compilation, ...) off the clock
        run_baseline([server], graph, warm, 4, args.example)
        run_halo(session, graph, warm, args.example, models)
        for n in args.n:
            inputs = example.make_inputs(n)
            runs = sweep_baseline([server], graph, inputs, args.concurrency, args.example)
            best = min((r for r in runs if not r.stopped), key=lambda r: r.wall_s)
            h, _ = run_halo(session, graph, inputs, args.example, models)
            for m in [*runs, h]:
                print(f"  {_row(m)}", flush=True)
                lines.append(_row(m))
            diff = mismatches(h.results, best.results)
            for line in list(diff.values())[:3]:
                print(f"  differs: {line[:300]}", flush=True)
            summary.append(
                f"| {n} | {best.wall_s / h.wall_s:.2f}x (vs {best.detail}) | "
                f"{best.engine_requests / max(h.engine_requests, 1):.2f}x fewer | "
                f"{best.computed_tokens / max(h.computed_tokens, 1):.2f}x fewer | "
                f"{n - len(diff)}/{n} |"
            )
    print("\n" + "\n".join(lines) + "\n\n" + "\n".join(summary))
    return 0


if __name__ == "__main__":
    exit_on_sigterm()
    raise SystemExit(main())
