"""Halo vs. direct dispatch on the product-review-analyst workflow, on one shared engine.

For each batch size N, the same workflow (``halo_adapters/app/demo.py``) runs twice in this one
process, on the same vLLM engine, all N instances concurrently:

* **baseline**: ``with session.optimizing(OptimizerConfig.direct())`` — every call goes to the
  engine the moment it is made (vLLM still batches what arrives together and keeps its own
  prefix cache);
* **halo**: the default optimizer — calls deferred into epochs, identical calls deduplicated, shared
  prefixes prefilled once by a leader before its followers.

``session.reset()`` runs before each measured run, so neither inherits the other's dedup memo or
prefix cache. Greedy decoding, so both runs should give the same outputs; the benchmark checks.

    python -m benchmarks.core_bench                 # tiny random model, N = 64 and 256
    python -m benchmarks.core_bench --model smollm2 --n 64 --repeat
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from halo_adapters.app import demo


@dataclass
class Row:
    """One measured run."""

    n: int
    mode: str
    order: str
    wall_s: float
    requests: int
    prompt_tokens: int
    cache_hits: int
    output_tokens: int
    llm_calls: int
    failed: int
    results: list[Any]

    @property
    def computed(self) -> int:
        """Prompt tokens the engine prefilled (not served from its prefix cache)."""
        return self.prompt_tokens - self.cache_hits


def measure(session: Any, n: int, mode: str, order: str, max_tokens: int) -> Row:
    """Run the workflow over ``n`` reviews in ``mode`` ('baseline' or 'halo') from a clean cache."""
    from halo_core import OptimizerConfig

    inputs = demo.make_inputs(n)
    workflow = demo.make_workflow(session, max_tokens=max_tokens)
    session.reset()
    if mode == "baseline":
        with session.optimizing(OptimizerConfig.direct()):
            report = session.run(workflow, inputs, progress=False)
    else:
        report = session.run(workflow, inputs, progress=False)
    c = report.engine[session.config.default_model]
    row = Row(
        n,
        mode,
        order,
        report.wall_s,
        c.requests,
        c.prompt_tokens,
        c.prefix_cache_hits,
        c.generation_tokens,
        report.summary.llm_calls,
        report.failed,
        report.results,
    )
    print(
        f"  N={n:<4} {mode:<8} {report.wall_s:7.2f} s  {c.requests:5d} requests  "
        f"{row.computed:7d} prompt tokens computed  failed={row.failed}",
        file=sys.stderr,
        flush=True,
    )
    return row


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def _same(a: Row, b: Row) -> str:
    diff = sum(x != y for x, y in zip(a.results, b.results, strict=True))
    return "yes" if diff == 0 else f"no ({diff}/{len(a.results)} differ)"


def print_tables(model: str, rows: list[Row]) -> None:
    print(f"\n### Review analyst: baseline (direct) vs Halo — model `{model}`\n")
    print(
        "| N | order | mode | wall s | LLM calls | engine requests | prompt tokens | "
        "computed | prefix-cache hits | output tokens | failed |"
    )
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r.n} | {r.order} | {r.mode} | {r.wall_s:.2f} | {r.llm_calls} | {r.requests} | "
            f"{r.prompt_tokens} | {r.computed} | {r.cache_hits} | {r.output_tokens} | {r.failed} |"
        )
    print(
        "\n| N | order | speedup | request reduction | computed-token reduction | "
        "identical outputs |"
    )
    print("|---:|---|---:|---:|---:|---|")
    pairs: dict[tuple[int, str], dict[str, Row]] = {}
    for r in rows:
        pairs.setdefault((r.n, r.order), {})[r.mode] = r
    for (n, order), p in pairs.items():
        b, h = p["baseline"], p["halo"]
        print(
            f"| {n} | {order} | {_ratio(b.wall_s, h.wall_s)} | {_ratio(b.requests, h.requests)} | "
            f"{_ratio(b.computed, h.computed)} | {_same(b, h)} |"
        )
    print(
        "\nratios are baseline / Halo; computed = prompt tokens - prefix-cache hits "
        "(engine counters, delta over each run)."
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="tiny", help="tiny (default), smollm2 or a model dir")
    p.add_argument("--n", type=int, nargs="+", default=[64, 256], help="batch sizes (64 256)")
    p.add_argument("--max-tokens", type=int, default=None, help="cap of the free-text steps")
    p.add_argument(
        "--repeat", action="store_true", help="also run Halo first, then baseline, per N"
    )
    p.add_argument("--block-size", type=int, default=None, help="KV block size (vLLM default)")
    args = p.parse_args(argv)
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")

    from halo_core import EngineConfig, OptimizerConfig, Session, SessionConfig
    from halo_core.models import resolve_model

    max_tokens = args.max_tokens or demo.DEFAULT_MAX_TOKENS
    engine = EngineConfig(
        model=resolve_model(args.model),
        max_num_seqs=max(256, max(args.n)),
        block_size=args.block_size,
    )
    t0 = time.perf_counter()
    with Session(SessionConfig(engines={"default": engine})) as session:
        print(f"engine ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        # Warm-up (first steps of a fresh engine are slower), not measured.
        with session.optimizing(OptimizerConfig.direct()):
            session.run(demo.make_workflow(session, max_tokens=max_tokens), demo.make_inputs(4))
        rows = []
        for n in args.n:
            rows.append(measure(session, n, "baseline", "baseline first", max_tokens))
            rows.append(measure(session, n, "halo", "baseline first", max_tokens))
            if args.repeat:
                rows.append(measure(session, n, "halo", "halo first", max_tokens))
                rows.append(measure(session, n, "baseline", "halo first", max_tokens))
    print_tables(args.model, rows)
    print(
        f"\nblock size {args.block_size or 'vLLM default'}, max_tokens {max_tokens} (steps 2-3), "
        f"{os.cpu_count()} CPUs; one engine for every run, prefix cache reset before each."
    )


if __name__ == "__main__":
    main()
