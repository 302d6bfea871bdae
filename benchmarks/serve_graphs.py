"""The suite's graphs as LangGraph's own server loads them (``langgraph.json`` names
``benchmarks/serve_graphs.py:W1`` ...): ``ChatOpenAI`` per model on the baseline's ``vllm serve``
processes, tools on the suite's database and HTTP service, all from the environment the
benchmark sets (``HALO_BENCH_URLS`` JSON role → base URL, ``HALO_BENCH_DB``, ``HALO_BENCH_HTTP``,
``HALO_BENCH_MAX_TOKENS``, ``HALO_BENCH_WORKLOADS``). Imports no Halo code: this is what a
LangGraph user deploys."""

from __future__ import annotations

import json
import os
from typing import Any

from benchmarks.suite import tools, workloads

tools.configure(os.environ["HALO_BENCH_DB"], os.environ.get("HALO_BENCH_HTTP"))
_URLS: dict[str, str] = json.loads(os.environ["HALO_BENCH_URLS"])
_MAX_TOKENS = int(os.environ.get("HALO_BENCH_MAX_TOKENS", "256"))


def _graph(name: str) -> Any:
    return workloads.get(name).build_graph(workloads.chat_models(_URLS, _MAX_TOKENS))


for _name in os.environ.get("HALO_BENCH_WORKLOADS", "W1,W6,W7").split(","):
    globals()[_name] = _graph(_name)
