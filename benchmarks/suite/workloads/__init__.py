"""The seven evaluation workloads, each a plain LangGraph program: the paper's six (W1-W6) and
W7, whose instances share no identical LLM or tool call.

Every workload module has the same surface:

* ``NAME`` ("W1"...), ``TITLE`` ("IMDb-Diamond"...), ``LLM_OPS`` / ``TOOL_OPS`` (LLM and tool
  calls per instance); ``NODE_MODELS`` (LLM node -> model size "S" / "M" / "L") and
  ``TOOL_NODES`` (the nodes that call tools but no LLM);
* ``build_graph(models)`` -> a compiled ``StateGraph``, ``models`` mapping "S" / "M" / "L" to
  LangChain chat models;
* ``make_inputs(n, seed=0)`` -> ``n`` deterministic queries drawn from the benchmark database
  (``benchmarks.suite.tools.configure`` must have been called);
* ``answer(result)`` -> the final answer text of a finished instance.

Modules are imported on first use (``get("W1")``), so a broken or missing one does not stop the
others from loading.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import Any

#: Workload name -> module (relative to this package).
MODULES: dict[str, str] = {
    "W1": "w1_imdb_diamond",
    "W2": "w2_imdb_triplechain",
    "W3": "w3_finewiki_longchain",
    "W4": "w4_finewiki_bridge",
    "W5": "w5_tpch_trident",
    "W6": "w6_tpch_fanout",
    "W7": "w7_tpch_orderaudit",
}


def all_names() -> list[str]:
    """Every workload name, in order: ``["W1", ..., "W7"]``."""
    return list(MODULES)


def get(name: str) -> ModuleType:
    """The workload module called ``name`` ("W1".."W7", case-insensitive), imported now."""
    key = name.strip().upper()
    if key not in MODULES:
        raise KeyError(f"unknown workload {name!r} (have {', '.join(MODULES)})")
    return importlib.import_module(f"{__name__}.{MODULES[key]}")


def available() -> dict[str, ModuleType]:
    """The workloads whose modules import, by name (a module that fails to import is left out)."""
    found: dict[str, ModuleType] = {}
    for name in MODULES:
        try:
            found[name] = get(name)
        except ImportError:
            continue
    return found


def chat_models(
    urls: Mapping[str, str], max_tokens: int, cls: Any = None, **extra: Any
) -> dict[str, Any]:
    """The suite's chat model per role (greedy, ``max_tokens``): ``ChatOpenAI`` (or ``cls``,
    given ``extra`` fields too) on the server at ``urls[role]``
    (what the suite's graphs are built with, in the benchmark and in LangGraph's own server)."""
    from langchain_openai import ChatOpenAI

    make = cls or ChatOpenAI
    return {
        r: make(
            model=r,
            base_url=urls[r],
            api_key="unused",
            temperature=0,
            max_tokens=max_tokens,
            **extra,
        )
        for r in urls
    }


class _Registry(Mapping[str, ModuleType]):
    """``WORKLOADS["W1"]``: name -> module, each imported when first looked up."""

    def __getitem__(self, name: str) -> ModuleType:
        return get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(MODULES)

    def __len__(self) -> int:
        return len(MODULES)

    def __repr__(self) -> str:
        return f"WORKLOADS({', '.join(MODULES)})"


#: Name -> workload module, imported lazily on lookup.
WORKLOADS: Mapping[str, ModuleType] = _Registry()
