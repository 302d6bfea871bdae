"""What one batch run did: its results, the calls it made, the engines' counter deltas, and the
cost model's predictions of its busy time and makespan next to the measured ones."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from halo_core.backends import Engine, EngineCounters
from halo_core.graph import CallRecord, GraphSummary
from halo_core.journal import JournalCounts
from halo_core.scheduler.cost_model import EngineWork, StepCost, Work
from halo_core.scheduler.forecast import calls_of, forecast, simulate_shared


@dataclass(frozen=True)
class Predicted:
    """A measured time of a run and the cost model's prediction of it (step costs fitted before
    the run): an engine's busy time (the run's executed calls replayed as they reached the
    engine, :func:`~halo_core.scheduler.forecast.simulate_shared`) or the makespan (the calls
    replayed closed-loop, :func:`~halo_core.scheduler.forecast.forecast`)."""

    measured_s: float
    predicted_s: float | None

    @property
    def error(self) -> float | None:
        """(predicted - measured) / measured."""
        if self.predicted_s is None or not self.measured_s:
            return None
        return (self.predicted_s - self.measured_s) / self.measured_s

    def describe(self, what: str = "") -> str:
        """``1.10 s busy, 0.70 s predicted (-37%)`` (``what`` = ``"busy"``)."""
        measured = f"{self.measured_s:.2f} s" + f" {what}" * bool(what)
        if self.predicted_s is None or self.error is None:
            return measured
        return f"{measured}, {self.predicted_s:.2f} s predicted ({self.error:+.0%})"


@dataclass
class RunReport:
    """What one :meth:`~halo_core.Session.run` did. ``results[i]`` is input i's result or its
    exception; ``records`` are this run's calls in the consolidated graph; ``engine`` the
    counter deltas; ``plan_s`` the time spent planning epochs (scheduling, optimizer rules,
    dispatch); ``instance_uids[i]`` the uid that input i's records carry as their ``instance``
    (-1 for an instance the journal returned without running it)."""

    results: list[Any]
    wall_s: float
    summary: GraphSummary
    engine: dict[str, EngineCounters] = field(default_factory=dict)
    records: list[CallRecord] = field(default_factory=list)
    plan_s: float = 0.0
    instance_uids: list[int] = field(default_factory=list)
    engine_time: dict[str, Predicted] = field(default_factory=dict)
    makespan: Predicted | None = None
    #: What the journal did in a journaled run (instances resumed, calls answered from it).
    journal: JournalCounts | None = None
    #: Counter deltas per replica of the engines spread over replicas (the Ray backend).
    replicas: dict[str, list[EngineCounters]] = field(default_factory=dict)

    def consumers(self, call_ids: Iterable[int]) -> list[int]:
        """Input indices of the instances that got these calls' outputs: each call's own
        instance and every instance whose identical call was merged into it."""
        wanted = set(call_ids)
        uids = {r.instance for r in self.records if r.call_id in wanted or r.merged_into in wanted}
        return [i for i, uid in enumerate(self.instance_uids) if uid in uids]

    @property
    def failed(self) -> int:
        """Instances whose result is an exception."""
        return sum(isinstance(r, BaseException) for r in self.results)

    def _planning(self) -> str:
        """``0.42 s planning, 0.3 ms per epoch, 0.4% of wall``."""
        epochs = self.summary.epochs
        per = f", {self.plan_s / epochs * 1e3:.1f} ms per epoch" if epochs else ""
        share = f", {self.plan_s / self.wall_s:.1%} of wall" if self.wall_s else ""
        return f"{self.plan_s:.2f} s planning{per}{share}"

    def format(self) -> str:
        """A few lines for a terminal."""
        s = self.summary
        n = len(self.results)
        cached = f"{s.cached_tokens / s.prompt_tokens:.0%}" if s.prompt_tokens else "-"
        return "\n".join(
            [
                f"instances        {n - self.failed} done, {self.failed} failed",
                f"LLM calls        {s.llm_calls} requested, {s.llm_executed} executed after dedup",
                f"tool calls       {s.tool_calls} requested, {s.tool_executed} executed",
                f"prompt tokens    {s.computed_tokens} computed, {s.cached_tokens} served from "
                f"prefix cache ({cached})",
                f"output tokens    {s.output_tokens}",
                f"epochs           {s.epochs} ({self._planning()})",
                *(f"engine {key:<9} {t.describe('busy')}" for key, t in self.engine_time.items()),
                *([f"calls' makespan  {self.makespan.describe()}"] if self.makespan else []),
                *([self.journal.format()] if self.journal else []),
                *(
                    f"replicas {key:<7} " + _replica_line(counts, self.engine.get(key))
                    for key, counts in self.replicas.items()
                ),
                f"wall time        {self.wall_s:.2f} s",
            ]
        )


def _replica_line(counts: list[EngineCounters], total: EngineCounters | None) -> str:
    """``r0 40 requests / 1,234 cached tokens / 3.2 s busy; r1 ...; 3 calls moved``."""
    parts = [
        f"r{i} {c.requests} requests / {c.prefix_cache_hits:,} cached tokens / "
        f"{c.step_s:.1f} s busy" + (f" / {c.joined} joined" if c.joined else "")
        for i, c in enumerate(counts)
    ]
    moved = total.moved if total is not None else 0
    return "; ".join(parts) + (f"; {moved} calls moved" if moved else "")


def predicted_busy_s(
    engines: Mapping[str, Engine], costs: Mapping[str, StepCost | None], records: list[CallRecord]
) -> dict[str, float]:
    """The cost model's prediction of each engine's busy time for the run's executed calls,
    as they reached the engines, the engines taking turns on the device."""
    specs = {}
    for key, cost in costs.items():
        if cost is None:
            continue
        work = [
            Work(r.computed_tokens, r.cached_tokens, r.output_tokens, r.dispatched_s)
            for r in records
            if r.kind == "llm" and r.model == key and r.executed and r.dispatched_s is not None
        ]
        engine = engines[key]
        specs[key] = EngineWork(work, cost, engine.max_num_batched_tokens, engine.max_num_seqs)
    return {k: sim.busy_s for k, sim in simulate_shared(specs).items()}


def makespan(
    engines: Mapping[str, Engine], costs: Mapping[str, StepCost | None], records: list[CallRecord]
) -> Predicted | None:
    """The run's calls' makespan (first submission to last end) and its closed-loop forecast;
    None without calls or when an engine the run used has no cost model."""
    ran = [r for r in records if r.finished_s is not None and not r.passthrough]
    used = {r.model for r in ran if r.kind == "llm" and r.executed}
    if not ran or any(costs.get(k) is None for k in used):
        return None
    measured = max(r.finished_s or 0.0 for r in ran) - min(r.submitted_s for r in ran)
    specs = {
        k: EngineWork((), c, engines[k].max_num_batched_tokens, engines[k].max_num_seqs)
        for k, c in costs.items()
        if c is not None
    }
    return Predicted(measured, forecast(calls_of(ran), specs).makespan_s)
