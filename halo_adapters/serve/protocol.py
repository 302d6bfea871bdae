"""The stateless-run subset of LangGraph's agent protocol that ``halo serve`` speaks: request
bodies as the ``langgraph_sdk`` client sends them, checked field by field, and the records it
returns (assistants, runs)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from halo_adapters.serve.targets import STREAM_MODES

#: Protocol fields about threads, checkpoints, interrupts, webhooks or scheduling: accepted
#: only at their defaults (what a stateless run implies); anything else is refused with 501.
NOT_SERVED = (
    "command",
    "checkpoint",
    "checkpoint_id",
    "checkpoint_during",
    "interrupt_before",
    "interrupt_after",
    "webhook",
    "after_seconds",
    "feedback_keys",
    "if_not_exists",
    "stream_subgraphs",
    "stream_resumable",
    "strict_resume",
)


class RunCreate(BaseModel):
    """A stateless run (``POST /runs/wait``, ``/runs/stream``, each item of ``/runs/batch``)."""

    model_config = ConfigDict(extra="forbid")

    assistant_id: str
    input: Any = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    stream_mode: str | list[str] = "values"
    on_disconnect: Literal["cancel", "continue"] = "cancel"
    on_completion: Literal["delete", "keep"] = "delete"
    multitask_strategy: Literal["reject", "interrupt", "rollback", "enqueue"] | None = None
    durability: Literal["sync", "async", "exit"] | None = None
    langsmith_tracer: dict[str, Any] | None = None
    command: Any = None
    checkpoint: Any = None
    checkpoint_id: Any = None
    checkpoint_during: Any = None
    interrupt_before: Any = None
    interrupt_after: Any = None
    webhook: Any = None
    after_seconds: Any = None
    feedback_keys: Any = None
    if_not_exists: Any = None
    stream_subgraphs: bool = False
    stream_resumable: bool = False
    strict_resume: Any = None

    def not_served(self) -> list[str]:
        """The fields this run sets that a stateless ``halo serve`` run does not serve."""
        fields = type(self).model_fields
        named = [k for k in NOT_SERVED if getattr(self, k) != fields[k].default]
        if self.on_completion == "keep":
            named.append("on_completion='keep' (no threads are kept)")
        bad = [m for m in self.modes() if m not in STREAM_MODES]
        if bad:
            named.append(f"stream_mode {bad} (served: {list(STREAM_MODES)})")
        return named

    def modes(self) -> list[str]:
        return [self.stream_mode] if isinstance(self.stream_mode, str) else list(self.stream_mode)


class AssistantSearch(BaseModel):
    """``POST /assistants/search``."""

    model_config = ConfigDict(extra="ignore")  # sort_by, select: one assistant needs no sort

    graph_id: str | None = None
    name: str | None = None
    metadata: dict[str, Any] | None = None
    limit: int = Field(10, ge=0)
    offset: int = Field(0, ge=0)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def assistant_record(assistant_id: str, name: str, started: str) -> dict[str, Any]:
    """The served target as a LangGraph ``Assistant``."""
    return {
        "assistant_id": assistant_id,
        "graph_id": name,
        "name": name,
        "description": None,
        "config": {},
        "context": {},
        "metadata": {"created_by": "halo serve"},
        "version": 1,
        "created_at": started,
        "updated_at": started,
    }


def run_record(
    run: RunCreate, assistant_id: str, run_id: str, thread_id: str, status: str, created: str
) -> dict[str, Any]:
    """A LangGraph ``Run`` record (for ``/runs/batch`` and ``/threads/{t}/runs/{r}``)."""
    return {
        "run_id": run_id,
        "thread_id": thread_id,
        "assistant_id": assistant_id,
        "created_at": created,
        "updated_at": now_iso(),
        "status": status,
        "metadata": run.metadata or {},
        "multitask_strategy": run.multitask_strategy or "reject",
        "kwargs": {"input": run.input, "config": run.config or {}, "context": run.context},
    }


def new_id() -> str:
    return str(uuid.uuid4())
