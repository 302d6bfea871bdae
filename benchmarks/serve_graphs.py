"""The suite's graphs as LangGraph's own server loads them (``langgraph.json`` names
``benchmarks/serve_graphs.py:W1`` ...): ``ChatOpenAI`` per model on the baseline's ``vllm serve``
processes, tools on the suite's database and HTTP service, all from the environment the
benchmark sets (``HALO_BENCH_URLS`` JSON role → base URL, ``HALO_BENCH_DB``, ``HALO_BENCH_HTTP``,
``HALO_BENCH_MAX_TOKENS``, ``HALO_BENCH_WORKLOADS``, ``HALO_BENCH_THREADS``). Imports no Halo
code: this is what a LangGraph user deploys.

``app`` is the custom app ``langgraph.json`` names under ``http.app``; its lifespan is the one
tuning a careful user adds: the server runs sync nodes in its event loop's default executor,
whose ``min(32, cpus + 4)`` threads (6 here) would cap the server at six LLM calls in flight
whatever ``--n-jobs-per-worker`` says, so the lifespan widens it to ``HALO_BENCH_THREADS``
(as the suite's baseline does for ``graph.abatch``)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette

from benchmarks.suite import tools, workloads

tools.configure(os.environ["HALO_BENCH_DB"], os.environ.get("HALO_BENCH_HTTP"))
_URLS: dict[str, str] = json.loads(os.environ["HALO_BENCH_URLS"])
_MAX_TOKENS = int(os.environ.get("HALO_BENCH_MAX_TOKENS", "256"))


def _graph(name: str) -> Any:
    return workloads.get(name).build_graph(workloads.chat_models(_URLS, _MAX_TOKENS))


for _name in os.environ.get("HALO_BENCH_WORKLOADS", "W1,W6,W7").split(","):
    globals()[_name] = _graph(_name)


@asynccontextmanager
async def _wide_executor(_app: Starlette) -> AsyncIterator[None]:
    threads = int(os.environ.get("HALO_BENCH_THREADS", "256"))
    pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="node")
    asyncio.get_running_loop().set_default_executor(pool)
    yield


app = Starlette(lifespan=_wide_executor)
