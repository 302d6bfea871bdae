"""Framework adapters (LangGraph, AutoGen): the only place that imports an agent framework.

``with halo_adapters.bind(session, models=...):`` routes every framework call in the block
through the session (see :mod:`halo_adapters.binding`); :func:`pure` declares a tool pure. The
framework-specific runners load on first use, so importing this package imports no framework:
``halo_adapters.langgraph`` (``batch``, ``abatch``, ``plan_of``, ``explain``),
``halo_adapters.autogen`` (the same for teams) and ``halo_adapters.rows`` (``run_rows``,
``run_frame``: a graph or team over rows of a file or a DataFrame).
"""

import importlib
from typing import Any

from halo_adapters._pure import pure
from halo_adapters.binding import Binding, Unmapped, UnmappedModelError, bind

__all__ = [
    "Binding",
    "Unmapped",
    "UnmappedModelError",
    "autogen",
    "bind",
    "langgraph",
    "pure",
    "rows",
]

_LAZY = ("autogen", "langgraph", "rows")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
