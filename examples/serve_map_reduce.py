"""The map-reduce summarizer served online: ``halo serve`` in Python, queried by LangGraph's SDK.

The unchanged graph of :mod:`examples.langgraph_map_reduce` is served on a Halo session
(:func:`halo_adapters.serve.serving`, what ``halo serve`` runs), then ``--n`` runs arrive at once
through an unchanged ``langgraph_sdk`` client, each one document. Their chunk summaries coalesce
across the runs in flight: the identical ones run once, the shared system prompts prefill once.

Run it::

    python examples/serve_map_reduce.py                   # SmolLM2, 24 concurrent runs
    python examples/serve_map_reduce.py --model tiny --n 8
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Sequence
from typing import Any

try:  # imported as examples.serve_map_reduce
    from examples._common import UNUSED_URL, chat_model
    from examples.langgraph_map_reduce import (
        DEFAULT_MAX_TOKENS,
        build_graph,
        describe,
        make_inputs,
    )
except ImportError:  # run as a script: python examples/serve_map_reduce.py
    from _common import UNUSED_URL, chat_model  # type: ignore[no-redef]
    from langgraph_map_reduce import (  # type: ignore[no-redef]
        DEFAULT_MAX_TOKENS,
        build_graph,
        describe,
        make_inputs,
    )


async def ask_all(url: str, inputs: list[dict[str, Any]]) -> list[Any]:
    """Every input as one run of the served graph, all at once, as a LangGraph client sends them."""
    from langgraph_sdk import get_client

    client = get_client(url=url, api_key=None)
    return list(
        await asyncio.gather(*(client.runs.wait(None, "map_reduce", input=x) for x in inputs))
    )


def serve_and_ask(graph: Any, session: Any, inputs: list[dict[str, Any]]) -> list[Any]:
    """Serve ``graph`` on ``session`` on a free loopback port and send it ``inputs``."""
    from halo_adapters.serve import ServeConfig, serving

    with serving(graph, session, ServeConfig(port=0), name="map_reduce") as url:
        print(f"serving on {url}")
        return asyncio.run(ask_all(url, inputs))


def main(argv: Sequence[str] | None = None) -> list[Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="smollm2", help="smollm2 (default), tiny, or a model dir")
    p.add_argument("--n", type=int, default=24, help="runs sent at once (default 24)")
    p.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS)
    args = p.parse_args(argv)
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    from halo_core import OptimizerConfig, Session, SessionConfig
    from halo_core.testing.vllm_server import DEFAULT_TOOL_PARSER

    graph = build_graph(chat_model("smollm2", UNUSED_URL, args.max_tokens))
    engine = {"model": args.model, "tool_call_parser": DEFAULT_TOOL_PARSER, "compact_json": True}
    config = SessionConfig.model_validate(
        {"engines": {"default": engine}, "optimizer": OptimizerConfig(epoch_closing="adaptive")}
    )
    with Session(config) as session:
        t0 = time.perf_counter()
        results = serve_and_ask(graph, session, make_inputs(args.n))
        wall = time.perf_counter() - t0
        totals = session.totals()
    print(
        f"{len(results)} runs in {wall:.1f} s: {totals.llm.calls} LLM calls requested, "
        f"{totals.llm.executed} executed; prompt tokens {totals.llm.prompt_tokens}, "
        f"{totals.llm.cached_tokens} from the prefix cache"
    )
    for result in results[:2]:
        print(describe(result))
    return results


if __name__ == "__main__":
    main()
