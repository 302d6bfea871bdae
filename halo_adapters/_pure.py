"""One way to declare a tool pure, whatever framework made it."""

from __future__ import annotations

import sys
from typing import Any, TypeVar

import halo_core
from halo_core.marks import is_pure

T = TypeVar("T")
#: The key (LangChain tools: in ``metadata``) or attribute (AutoGen tools) that marks a tool pure.
MARK = "halo_pure"


def pure(tool: T) -> T:
    """Declare a tool pure (same input, same output, no side effects), so Halo may merge identical
    calls of it across instances: a LangChain tool (sets ``metadata["halo_pure"]``), an AutoGen
    tool, ``AgentTool`` or ``TeamTool`` included (sets its ``halo_pure`` attribute), or a plain
    function (:func:`halo_core.pure`). Returns the tool."""
    langchain = sys.modules.get("langchain_core.tools")
    if langchain is not None and isinstance(tool, langchain.BaseTool):
        tool.metadata = {**(tool.metadata or {}), MARK: True}
        return tool
    autogen = sys.modules.get("autogen_core.tools")
    if autogen is not None and isinstance(tool, autogen.BaseTool):
        setattr(tool, MARK, True)
        return tool
    if callable(tool):
        return halo_core.pure(tool)
    raise TypeError(f"pure() takes a LangChain or AutoGen tool or a function, not {tool!r}")


def marked_pure(tool: Any, func: Any) -> bool:
    """Whether a framework tool was declared pure, on itself or on the function behind it."""
    metadata = getattr(tool, "metadata", None)
    if isinstance(metadata, dict) and metadata.get(MARK) is True:
        return True
    return getattr(tool, MARK, False) is True or is_pure(func)
