"""Does Halo's cost grow with its work? A LangGraph graph whose calls nearly all merge, over N.

The graph (plain LangGraph, ``ChatOpenAI``): ``classify`` (an LLM call on the ticket's topic),
``policy`` (a pure lookup tool on the topic), ``answer`` (an LLM call on topic and policy). The
prompts depend only on the topic, one of ``TOPICS``, so whatever N the engine sees
``3 x len(TOPICS)`` distinct calls at most; each instance's output carries its own ticket id.
Work per instance is constant, so instances per second should not fall as N grows: the curve
shows what each extra live instance costs Halo itself (threads, the GIL, bookkeeping).

    python -m benchmarks.scaling_bench                       # N = 256 1024 4096, defaults
    python -m benchmarks.scaling_bench --cap 256 --n 4096    # max_concurrency=256

Prints one row per N: wall time, instances per second, engine requests, peak extra memory
(resident set, sampled every 50 ms, above the level before the run).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import threading
import time
from typing import Any, TypedDict

import psutil

TOPICS = ["billing", "delivery", "returns", "login", "warranty", "privacy", "pricing", "stock"]
POLICIES = {t: f"The {t} policy: answer within two days and log the ticket." for t in TOPICS}
SERVED = "scaling-model"


class Ticket(TypedDict, total=False):
    ticket: int
    topic: str
    label: str
    policy: str
    answer: str


def build_graph(max_tokens: int) -> Any:
    """The three-node ticket graph, as a LangGraph user writes it."""
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI
    from langgraph.graph import END, START, StateGraph

    from examples._common import UNUSED_URL
    from halo_adapters import pure

    llm = ChatOpenAI(
        model=SERVED, base_url=UNUSED_URL, api_key="unused", temperature=0, max_tokens=max_tokens
    )

    @tool
    def policy_for(topic: str) -> str:
        """The support policy of a topic."""
        return POLICIES[topic]

    lookup = pure(policy_for)

    def classify(s: Ticket) -> Ticket:
        msg = llm.invoke(f"Classify a support ticket about {s['topic']}: urgent or routine?")
        return {"label": str(msg.content)}

    def policy(s: Ticket) -> Ticket:
        return {"policy": lookup.invoke({"topic": s["topic"]})}

    def answer(s: Ticket) -> Ticket:
        msg = llm.invoke(f"{s['policy']} Write a one-line reply about {s['topic']}.")
        return {"answer": str(msg.content)}

    g = StateGraph(Ticket)
    g.add_node("classify", classify)
    g.add_node("policy", policy)
    g.add_node("answer", answer)
    g.add_edge(START, "classify")
    g.add_edge("classify", "policy")
    g.add_edge("policy", "answer")
    g.add_edge("answer", END)
    return g.compile()


def make_inputs(n: int) -> list[Ticket]:
    return [{"ticket": i, "topic": TOPICS[i % len(TOPICS)]} for i in range(n)]


class PeakRSS:
    """The process's resident set, sampled in a thread: the peak above the level at start."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.base = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def extra_mib(self) -> float:
        return (self.peak - self.base) / 2**20


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, nargs="+", default=[256, 1024, 4096])
    p.add_argument("--cap", type=int, help="max_concurrency (default: Halo's own)")
    p.add_argument("--model", default="tiny", help="tiny (default), smollm2, or a model dir")
    p.add_argument("--max-tokens", type=int, default=16)
    args = p.parse_args(argv)
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")

    import halo_adapters.langgraph as halo_lg
    from halo_core import Session

    graph = build_graph(args.max_tokens)
    config = {"max_concurrency": args.cap} if args.cap else None
    models = {SERVED: "default"}
    print(f"# scaling: {len(TOPICS)} topics, cap {args.cap or 'default'}, model {args.model}")
    print("| N | wall s | instances/s | engine requests | LLM calls | peak extra RSS MiB |")
    print("|---:|---:|---:|---:|---:|---:|")
    with Session(model=args.model, max_model_len=1024) as session:
        asyncio.run(halo_lg.abatch(graph, make_inputs(8), session=session, models=models))
        for n in args.n:
            session.reset()
            inputs = make_inputs(n)
            with PeakRSS() as rss:
                t0 = time.perf_counter()
                report = asyncio.run(
                    halo_lg.abatch(graph, inputs, session=session, models=models, config=config)
                )
                wall = time.perf_counter() - t0
            bad = [r for r in report.results if isinstance(r, BaseException)]
            assert not bad, f"{len(bad)} instances failed, e.g. {bad[0]!r}"
            assert all(
                r["ticket"] == x["ticket"] for r, x in zip(report.results, inputs, strict=True)
            )
            requests = report.engine["default"].requests
            print(
                f"| {n} | {wall:.1f} | {n / wall:.1f} | {requests} | "
                f"{report.summary.llm_calls} | {rss.extra_mib:.0f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
