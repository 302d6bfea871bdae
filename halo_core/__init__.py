"""Halo core: defer, coalesce and optimize the LLM and tool calls of many workflow instances.

Knows no agent framework; adapters in ``halo_adapters`` route framework calls into a
:class:`Session`.
"""

from halo_core.calls import ChatResult
from halo_core.config import EngineConfig, PassConfig, SessionConfig
from halo_core.errors import (
    CallError,
    ConfigError,
    HaloError,
    LLMCallError,
    MalformedCallError,
    ToolCallError,
)
from halo_core.graph import CallRecord, ConsolidatedGraph, GraphSummary
from halo_core.plan import Operator, Plan, PlanEdge, PlanNode, Stats
from halo_core.session import RunReport, Session

__all__ = [
    "CallError",
    "CallRecord",
    "ChatResult",
    "ConfigError",
    "ConsolidatedGraph",
    "EngineConfig",
    "GraphSummary",
    "HaloError",
    "LLMCallError",
    "MalformedCallError",
    "Operator",
    "PassConfig",
    "Plan",
    "PlanEdge",
    "PlanNode",
    "RunReport",
    "Session",
    "SessionConfig",
    "Stats",
    "ToolCallError",
]
