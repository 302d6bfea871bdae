"""The consolidated graph: every call of every instance, with what the optimizer did to it."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class CallRecord:
    """One call as recorded in the consolidated graph.

    ``parent`` is the instance's previous call (the data edge: a workflow's call sees what its
    earlier calls returned). ``merged_into`` is the call whose execution served this one (dedup),
    ``None`` when this call ran itself.
    """

    call_id: int
    kind: Literal["llm", "tool"]
    instance: int | None
    node: str
    model: str = ""
    parent: int | None = None
    epoch: int | None = None
    merged_into: int | None = None
    prefix_group: int | None = None
    leader: bool = False
    prompt_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    submitted_s: float = 0.0
    dispatched_s: float | None = None
    finished_s: float | None = None
    error: str | None = None
    #: what the engine ran for an LLM call (prompt token ids, engine params), kept only inside
    #: ``Session.recording_requests()`` (for replay by :mod:`halo_core.oracle`)
    request: Any = field(default=None, repr=False, compare=False)
    #: the output token ids the engine returned, kept alongside ``request``
    output_ids: list[int] | None = field(default=None, repr=False, compare=False)

    @property
    def executed(self) -> bool:
        """True when this call ran on the engine / tool pool itself (not served by a merge)."""
        return self.merged_into is None and self.dispatched_s is not None


@dataclass
class GraphSummary:
    """Totals over a consolidated graph."""

    llm_calls: int = 0
    llm_executed: int = 0
    tool_calls: int = 0
    tool_executed: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    epochs: int = 0
    errors: int = 0

    @property
    def computed_tokens(self) -> int:
        """Prompt tokens the engine actually prefilled (not served from its prefix cache)."""
        return self.prompt_tokens - self.cached_tokens


@dataclass
class ConsolidatedGraph:
    """All calls of a session's instances. Thread-safe to append; read after a batch."""

    records: dict[int, CallRecord] = field(default_factory=dict)
    _last_of_instance: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, rec: CallRecord) -> CallRecord:
        """Record a new call, linking it to its instance's previous call."""
        with self._lock:
            if rec.instance is not None:
                rec.parent = self._last_of_instance.get(rec.instance)
                self._last_of_instance[rec.instance] = rec.call_id
            self.records[rec.call_id] = rec
        return rec

    def __iter__(self) -> Iterator[CallRecord]:
        with self._lock:
            return iter(list(self.records.values()))

    def __len__(self) -> int:
        return len(self.records)

    def clear(self) -> None:
        """Forget all records (between benchmark runs)."""
        with self._lock:
            self.records.clear()
            self._last_of_instance.clear()

    def next_call_id(self) -> int:
        """One past the newest recorded call id (calls are numbered in submission order)."""
        with self._lock:
            return max(self.records, default=-1) + 1

    def summary(self, since: int = 0) -> GraphSummary:
        """Totals over calls numbered ``since`` or later: requested vs executed, tokens."""
        s = GraphSummary()
        epochs = set()
        for r in self:
            if r.call_id < since:
                continue
            if r.error:
                s.errors += 1
            if r.kind == "tool":
                s.tool_calls += 1
                s.tool_executed += r.executed
                continue
            s.llm_calls += 1
            if r.epoch is not None:
                epochs.add(r.epoch)
            if r.executed:
                s.llm_executed += 1
                s.prompt_tokens += r.prompt_tokens
                s.cached_tokens += r.cached_tokens
                s.output_tokens += r.output_tokens
        s.epochs = len(epochs)
        return s


def busy_s(records: Iterable[CallRecord], *kinds: Literal["llm", "tool"]) -> float:
    """Wall time during which at least one executed call of the given kinds was running (the
    union of their dispatch → finish intervals): engine busy time for "llm", tool time for
    "tool", and both together for ("llm", "tool")."""
    spans = sorted(
        (r.dispatched_s, r.finished_s)
        for r in records
        if r.kind in kinds
        and r.executed
        and r.dispatched_s is not None
        and r.finished_s is not None
    )
    total, end = 0.0, float("-inf")
    for a, b in spans:
        if b > end:
            total += b - max(a, end)
            end = b
    return total
