"""Halo core: defer, coalesce and optimize the LLM and tool calls of many workflow instances.

Knows no agent framework; adapters in ``halo_adapters`` route framework calls into a
:class:`Session` (through :mod:`halo_core.spi`). ``__all__`` is the user's surface: the session,
its configuration, reports and errors, the tool marks, the plan, and the embedded models' names.
"""

from halo_core.calls import ChatResult
from halo_core.config import EngineConfig, OptimizerConfig, SessionConfig
from halo_core.errors import (
    CallError,
    ConfigError,
    EngineDiedError,
    HaloError,
    LLMCallError,
    MalformedCallError,
    RemoteInstanceError,
    ToolCallError,
)
from halo_core.graph import CallRecord, ConsolidatedGraph, EpochSizes, GraphSummary, Stats, Totals
from halo_core.journal import (
    FailedEarlier,
    InterruptedCallError,
    Journal,
    JournalCounts,
    JournalMismatchError,
)
from halo_core.marks import pure
from halo_core.models import resolve_model
from halo_core.plan import END, START, Operator, Plan, PlanEdge, PlanNode
from halo_core.report import RunReport
from halo_core.runtime.online import DeadlineExceeded, OnlineCounts, OnlineRuns, QueueFull
from halo_core.runtime.retry import RetryPolicy, retry
from halo_core.session import Session

__all__ = [
    "END",
    "START",
    "CallError",
    "CallRecord",
    "ChatResult",
    "ConfigError",
    "ConsolidatedGraph",
    "DeadlineExceeded",
    "EngineConfig",
    "EngineDiedError",
    "EpochSizes",
    "FailedEarlier",
    "GraphSummary",
    "HaloError",
    "InterruptedCallError",
    "Journal",
    "JournalCounts",
    "JournalMismatchError",
    "LLMCallError",
    "MalformedCallError",
    "OnlineCounts",
    "OnlineRuns",
    "Operator",
    "OptimizerConfig",
    "Plan",
    "PlanEdge",
    "PlanNode",
    "QueueFull",
    "RemoteInstanceError",
    "RetryPolicy",
    "RunReport",
    "Session",
    "SessionConfig",
    "Stats",
    "ToolCallError",
    "Totals",
    "pure",
    "resolve_model",
    "retry",
]
