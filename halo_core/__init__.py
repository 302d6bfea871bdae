"""Halo core: defer, coalesce and optimize the LLM and tool calls of many workflow instances.

Knows no agent framework; adapters in ``halo_adapters`` route framework calls into a
:class:`Session`. ``__all__`` is the public surface: what users and adapters import.
"""

from halo_core.calls import SAMPLING_KEYS, ChatResult, InstanceRef
from halo_core.config import EngineConfig, OptimizerConfig, SessionConfig
from halo_core.errors import (
    CallError,
    ConfigError,
    EngineDiedError,
    HaloError,
    LLMCallError,
    MalformedCallError,
    ToolCallError,
)
from halo_core.graph import CallRecord, ConsolidatedGraph, GraphSummary, Stats, records_of
from halo_core.journal import (
    FailedEarlier,
    InterruptedCallError,
    Journal,
    JournalCounts,
    JournalMismatchError,
)
from halo_core.plan import END, START, Operator, Plan, PlanEdge, PlanNode
from halo_core.report import RunReport
from halo_core.runtime import current_instance, enter_instance, leave_instance
from halo_core.runtime.retry import RetryPolicy, retry
from halo_core.session import Session

__all__ = [
    "END",
    "SAMPLING_KEYS",
    "START",
    "CallError",
    "CallRecord",
    "ChatResult",
    "ConfigError",
    "ConsolidatedGraph",
    "EngineConfig",
    "EngineDiedError",
    "FailedEarlier",
    "GraphSummary",
    "HaloError",
    "InstanceRef",
    "InterruptedCallError",
    "Journal",
    "JournalCounts",
    "JournalMismatchError",
    "LLMCallError",
    "MalformedCallError",
    "Operator",
    "OptimizerConfig",
    "Plan",
    "PlanEdge",
    "PlanNode",
    "RetryPolicy",
    "RunReport",
    "Session",
    "SessionConfig",
    "Stats",
    "ToolCallError",
    "current_instance",
    "enter_instance",
    "leave_instance",
    "records_of",
    "retry",
]
