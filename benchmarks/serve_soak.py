"""Memory over a long run of ``halo serve``: RSS after 1k ... N requests.

    python -m benchmarks.serve_soak --requests 20000 [--model tiny]

One process serves a small LangGraph graph (a pure tool, one greedy chat call; 5,000 distinct
topics, so the memo fills and then evicts) with ``halo_adapters.serve.serving`` on the engine
host, its memo and graph bounded (smaller than the ``halo serve`` command's defaults, so the
bounds bind early), and drives it over HTTP with ``--concurrency`` clients.
At each checkpoint it prints this process's RSS (server and client), the engine host's, and what
the session holds (graph records, memo entries); the rows go to ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CHECKPOINTS = (1_000, 2_000, 5_000, 10_000, 15_000, 20_000, 50_000, 100_000)


def make_graph() -> Any:
    from langchain_core.messages import HumanMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI
    from langgraph.graph import END, START, StateGraph
    from typing_extensions import TypedDict

    import halo_adapters

    class State(TypedDict, total=False):
        topic: str
        facts: str
        answer: str

    @halo_adapters.pure
    @tool
    def facts_of(topic: str) -> str:
        """Facts about a topic."""
        return f"{topic} has {len(topic)} letters."

    model = ChatOpenAI(
        model="soak", base_url="http://127.0.0.1:9/v1", api_key="none", temperature=0, max_tokens=8
    )

    def research(state: State) -> State:
        return {"facts": facts_of.invoke({"topic": state["topic"]})}

    def answer(state: State) -> State:
        prompt = f"{state['facts']} Say one thing about {state['topic']}."
        return {"answer": model.invoke([HumanMessage(prompt)]).content}

    builder = StateGraph(State)
    builder.add_node("research", research)
    builder.add_node("answer", answer)
    builder.add_edge(START, "research")
    builder.add_edge("research", "answer")
    builder.add_edge("answer", END)
    return builder.compile()


def rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--topics", type=int, default=5_000, help="distinct inputs (they repeat)")
    p.add_argument("--model", default="tiny")
    # small enough to bind early in the soak (the command's defaults are 100,000 / 50,000)
    p.add_argument("--memo-max-entries", type=int, default=2_000)
    p.add_argument("--graph-max-records", type=int, default=10_000)
    p.add_argument("--out", type=Path, help="write the rows here as JSON")
    args = p.parse_args(argv)
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")

    import httpx
    import psutil

    from halo_adapters.serve import ServeConfig, serving
    from halo_core import EngineConfig, OptimizerConfig, Session, SessionConfig

    config = SessionConfig(
        engines={"default": EngineConfig(model=args.model)},
        memo_max_entries=args.memo_max_entries,
        graph_max_records=args.graph_max_records,
        optimizer=OptimizerConfig(epoch_closing="adaptive"),
    )
    rows: list[dict[str, Any]] = []
    with (
        Session(config) as session,
        serving(make_graph(), session, ServeConfig(port=0, queued=4096), name="soak") as url,
    ):
        me = psutil.Process()

        def checkpoint(done: int, failed: int, t0: float) -> None:
            hosts = [c for c in me.children(recursive=True) if c.is_running()]
            memo = session._processor.optimizer.rules.get("memo")
            row = {
                "requests": done,
                "failed": failed,
                "seconds": round(time.perf_counter() - t0, 1),
                "rss_mb": round(rss_mb(me.pid), 1),
                "engine_host_rss_mb": round(sum(rss_mb(c.pid) for c in hosts), 1),
                "graph_records": len(session.graph),
                "memo_entries": len(getattr(memo, "_done", ())),
                "llm_executed": session.totals().llm.executed,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)

        async def drive() -> None:
            todo = iter(range(args.requests))
            marks = [c for c in CHECKPOINTS if c <= args.requests]
            done = failed = 0
            t0 = time.perf_counter()
            async with httpx.AsyncClient(base_url=url, timeout=300) as http:

                async def client() -> None:
                    nonlocal done, failed
                    for i in todo:
                        body = {"assistant_id": "soak", "input": {"topic": f"t{i % args.topics}"}}
                        r = await http.post("/runs/wait", json=body)
                        failed += r.status_code != 200 or "__error__" in r.json()
                        done += 1
                        if marks and done >= marks[0]:
                            checkpoint(marks.pop(0), failed, t0)

                await asyncio.gather(*(client() for _ in range(args.concurrency)))

        asyncio.run(drive())
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
