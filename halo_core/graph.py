"""The consolidated graph: every call of every instance, with what the optimizer did to it."""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
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
    #: served by the model's own client, not by Halo (a model the binding leaves alone)
    passthrough: bool = False

    @property
    def computed_tokens(self) -> int:
        """Prompt tokens the engine computed (not served from its prefix cache)."""
        return self.prompt_tokens - self.cached_tokens

    @property
    def executed(self) -> bool:
        """True when this call ran on Halo's engine / tool pool itself (not served by a merge,
        not passed through to its own client)."""
        return self.merged_into is None and self.dispatched_s is not None and not self.passthrough


@dataclass
class Stats:
    """What a set of calls cost: requested / executed / merged / passed-through calls, errors,
    and the tokens and busy time of the executed ones (a merged call costs nothing)."""

    calls: int = 0
    executed: int = 0
    merged: int = 0
    passthrough: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    busy_s: float = 0.0
    instance_ids: set[int] = field(default_factory=set, repr=False)

    @property
    def instances(self) -> int:
        """Distinct workflow instances that made these calls."""
        return len(self.instance_ids)

    @property
    def computed_tokens(self) -> int:
        """Prompt tokens the engine prefilled (not served from its prefix cache)."""
        return self.prompt_tokens - self.cached_tokens

    def add(self, r: CallRecord, *, instances: bool = True) -> None:
        """Count one call record (its instance too, unless ``instances`` is False: a running
        total that must stay small)."""
        self.calls += 1
        self.merged += r.merged_into is not None
        self.passthrough += r.passthrough
        self.errors += r.error is not None
        if instances and r.instance is not None:
            self.instance_ids.add(r.instance)
        if r.executed:
            self.executed += 1
            self.prompt_tokens += r.prompt_tokens
            self.cached_tokens += r.cached_tokens
            self.output_tokens += r.output_tokens
            if r.finished_s is not None and r.dispatched_s is not None:
                self.busy_s += r.finished_s - r.dispatched_s

    def __add__(self, other: Stats) -> Stats:
        sums = {
            f.name: getattr(self, f.name) + getattr(other, f.name)
            for f in fields(self)
            if f.name != "instance_ids"
        }
        return Stats(**sums, instance_ids=self.instance_ids | other.instance_ids)


@dataclass
class GraphSummary:
    """Totals over a consolidated graph: its LLM calls, its tool calls, the epochs that ran them.
    The flat names (``llm_calls``, ``prompt_tokens``, ...) read the two :class:`Stats`; tokens
    are those of the LLM calls, errors those of both kinds."""

    llm: Stats = field(default_factory=Stats)
    tool: Stats = field(default_factory=Stats)
    epochs: int = 0

    @property
    def llm_calls(self) -> int:
        return self.llm.calls

    @property
    def llm_executed(self) -> int:
        return self.llm.executed

    @property
    def tool_calls(self) -> int:
        return self.tool.calls

    @property
    def tool_executed(self) -> int:
        return self.tool.executed

    @property
    def prompt_tokens(self) -> int:
        return self.llm.prompt_tokens

    @property
    def cached_tokens(self) -> int:
        return self.llm.cached_tokens

    @property
    def output_tokens(self) -> int:
        return self.llm.output_tokens

    @property
    def errors(self) -> int:
        return self.llm.errors + self.tool.errors

    @property
    def computed_tokens(self) -> int:
        """Prompt tokens the engine actually prefilled (not served from its prefix cache)."""
        return self.llm.computed_tokens


@dataclass
class EpochSizes:
    """How many LLM calls each epoch took, as a histogram over powers of two."""

    bounds: tuple[int, ...] = tuple(2**i for i in range(13))  # 1 ... 4096
    counts: list[int] = field(default_factory=lambda: [0] * 14)  # one more: above the last
    total_calls: int = 0

    def add(self, calls: int) -> None:
        i = next((i for i, b in enumerate(self.bounds) if calls <= b), len(self.bounds))
        self.counts[i] += 1
        self.total_calls += calls

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, epochs with at most that many calls), the last bound infinite."""
        ups = [*map(float, self.bounds), float("inf")]
        return list(zip(ups, itertools.accumulate(self.counts), strict=True))


@dataclass
class Totals:
    """Every call since the session started, whether its record is still held or not (what
    ``halo serve``'s ``/metrics`` reports; ``instances`` are not counted), and the epochs'
    sizes."""

    llm: Stats
    tool: Stats
    epoch_sizes: EpochSizes


@dataclass
class ConsolidatedGraph:
    """The calls of a session's instances: all of them, or with ``max_records`` the newest:
    each new record drops the oldest finished ones past that bound (a call in flight keeps its
    record, so the graph holds more while more are in flight; a record's ``parent`` or
    ``merged_into`` may name a call no longer held). Thread-safe to append; read after a batch."""

    max_records: int | None = None
    # ordered: a plain dict's iteration walks the holes its front deletions left until it resizes
    records: OrderedDict[int, CallRecord] = field(default_factory=OrderedDict)
    #: The newest call id dropped (-1: none), so a reader can tell whether its calls are whole.
    newest_dropped: int = -1
    #: What the dropped records counted (LLM calls, tool calls), for :meth:`totals`.
    dropped: tuple[Stats, Stats] = field(default_factory=lambda: (Stats(), Stats()))
    _last_of_instance: dict[int, int] = field(default_factory=dict)
    _next_call_id: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, rec: CallRecord) -> CallRecord:
        """Record a new call, linking it to its instance's previous call."""
        with self._lock:
            if rec.instance is not None:
                rec.parent = self._last_of_instance.get(rec.instance)
                self._last_of_instance[rec.instance] = rec.call_id
            self.records[rec.call_id] = rec
            self._next_call_id = max(self._next_call_id, rec.call_id + 1)
            if self.max_records is not None and len(self.records) > self.max_records:
                self._drop_finished(len(self.records) - self.max_records)
        return rec

    def _drop_finished(self, n: int) -> None:
        """Drop the ``n`` oldest finished records (lock held)."""
        old = itertools.islice((r for r in self.records.values() if r.finished_s is not None), n)
        for r in list(old):
            del self.records[r.call_id]
            self.dropped[r.kind == "tool"].add(r, instances=False)
            self.newest_dropped = max(self.newest_dropped, r.call_id)
            if r.instance is not None and self._last_of_instance.get(r.instance) == r.call_id:
                del self._last_of_instance[r.instance]  # its next call starts a new chain

    def __iter__(self) -> Iterator[CallRecord]:
        with self._lock:
            return iter(list(self.records.values()))

    def of_instance(self, uid: int) -> list[CallRecord]:
        """Instance ``uid``'s calls in submission order (following each call's ``parent``)."""
        with self._lock:
            out, at = [], self._last_of_instance.get(uid)
            while at is not None and at in self.records:
                out.append(self.records[at])
                at = self.records[at].parent
        return out[::-1]

    def __len__(self) -> int:
        return len(self.records)

    def clear(self) -> None:
        """Forget all records (between benchmark runs)."""
        with self._lock:
            self.records.clear()
            self._last_of_instance.clear()
            self.dropped = (Stats(), Stats())

    def next_call_id(self) -> int:
        """One past the newest call id ever recorded (calls are numbered in submission order)."""
        return self._next_call_id

    def totals(self, epoch_sizes: EpochSizes) -> Totals:
        """Every call ever recorded (the dropped records' counts plus the held ones')."""
        held = self.summary()
        llm, tool = (d + h for d, h in zip(self.dropped, (held.llm, held.tool), strict=True))
        return Totals(llm, tool, epoch_sizes)

    def summary(self, since: int = 0) -> GraphSummary:
        """Totals over calls numbered ``since`` or later: requested vs executed, tokens."""
        s = GraphSummary()
        epochs = set()
        for r in self:
            if r.call_id < since:
                continue
            if r.kind == "tool":
                s.tool.add(r)
                continue
            s.llm.add(r)
            if r.epoch is not None:
                epochs.add(r.epoch)
        s.epochs = len(epochs)
        return s


def union_s(intervals: Iterable[tuple[float, float]]) -> float:
    """Total length of the union of ``(start, end)`` intervals (overlaps counted once)."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def busy_s(records: Iterable[CallRecord], *kinds: Literal["llm", "tool"]) -> float:
    """Wall time during which at least one executed call of the given kinds was running (the
    union of their dispatch → finish intervals): engine busy time for "llm", tool time for
    "tool", and both together for ("llm", "tool")."""
    return union_s(
        (r.dispatched_s, r.finished_s)
        for r in records
        if r.kind in kinds
        and r.executed
        and r.dispatched_s is not None
        and r.finished_s is not None
    )


def records_of(source: Any) -> Iterable[CallRecord]:
    """The call records of a consolidated graph, a session (its graph), a run report (its own
    calls) or an iterable of records."""
    if isinstance(source, ConsolidatedGraph):
        return source
    graph = getattr(source, "graph", None)
    if isinstance(graph, ConsolidatedGraph):  # a Session
        return graph
    records = getattr(source, "records", None)
    if records is not None and not isinstance(records, dict):  # a report with its own calls
        return list(records)
    if hasattr(source, "summary") and hasattr(source, "results"):
        raise TypeError(
            "this RunReport does not carry its calls; pass the session and "
            "since=session.graph.next_call_id() captured before the run"
        )
    if isinstance(source, Iterable):
        return list(source)
    raise TypeError(f"cannot annotate a plan from {type(source).__name__}")
