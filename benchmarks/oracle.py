"""The engine-only lower bound of a batch: replay the LLM work a Halo run executed, nothing else.

A call's *stage* is the number of LLM calls before it in its instance (its LLM depth). The
oracle sends every executed (deduplicated) LLM call of a stage to its engine at once — one
``generate`` per stage and engine, with no tools, no Python workflow code, no waiting on other
instances — after warming each distinct shared prefix with one request first. Its makespan is
what the engines alone need for the run's LLM work in dependency order: a bound no schedule of
the same calls can beat by much.

The replay also names the calls whose output tokens differ from the recorded run's: the same
prompts on the same engine in other batches, i.e. the engine's own batch variance under greedy
decoding (vLLM's CPU kernels are not batch-invariant). ``RunReport.consumers`` turns them into
the instances whose outputs they fed.

What the replay sends is recorded while Halo runs, by a :class:`Recording` passed to
``Session.observe``.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from halo_core import CallRecord, ChatResult, HaloError
from halo_core.backends import Engine, EngineCounters, EngineRequest
from halo_core.calls import LLMCall
from halo_core.graph import union_s


@dataclass
class OracleReport:
    """What the replay took: total and per-stage wall time, engine counter deltas, and the ids
    of the replayed calls that returned other output tokens than the recorded run (``changed``)."""

    wall_s: float
    stage_s: list[float] = field(default_factory=list)
    calls: int = 0
    changed: list[int] = field(default_factory=list)
    engine: dict[str, EngineCounters] = field(default_factory=dict)


@dataclass(frozen=True)
class Recorded:
    """What the engine ran for one LLM request: its prompt, its engine params, its output."""

    prompt_token_ids: list[int]
    params: Any
    output_ids: list[int]


class Recording(dict[int, Recorded]):
    """Call id → :class:`Recorded`, for every LLM request the engines ran while observed:
    ``with session.observe(recording): ...``."""

    def __call__(self, call: LLMCall, result: ChatResult) -> None:
        self[call.call_id] = Recorded(call.prompt_token_ids, call.params, list(result.token_ids))


def stages(records: Iterable[CallRecord]) -> dict[int, list[CallRecord]]:
    """Executed LLM calls by stage (LLM depth within their instance, following parent links)."""
    by_id = {r.call_id: r for r in records}
    depth: dict[int, int] = {}
    out: dict[int, list[CallRecord]] = defaultdict(list)
    for r in sorted(by_id.values(), key=lambda r: r.call_id):
        # walk up to a call of known depth (a parent may carry a higher id than its child:
        # parallel branches of one instance number and record their calls in different orders)
        path: list[tuple[CallRecord, CallRecord]] = []  # (call, its parent), upwards
        cur = r
        while cur.call_id not in depth:
            parent = by_id.get(cur.parent) if cur.parent is not None else None
            if parent is None:
                depth[cur.call_id] = 0
                break
            path.append((cur, parent))
            cur = parent
        for node, parent in reversed(path):
            depth[node.call_id] = depth[parent.call_id] + (parent.kind == "llm")
        if r.kind == "llm" and r.executed and r.error is None:
            out[depth[r.call_id]].append(r)
    return dict(sorted(out.items()))


class _Batch:
    """Requests in flight on the engines; waits for first tokens or completion."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self.started = self.done = 0
        self.changed: list[int] = []
        self.errors: list[BaseException] = []

    def submit(self, engine: Engine, rid: str, rec: CallRecord, recorded: Recorded) -> None:

        def first() -> None:
            with self._cv:
                self.started += 1
                self._cv.notify_all()

        def finished(result: Any) -> None:
            with self._cv:
                self.done += 1
                if isinstance(result, BaseException):
                    self.errors.append(result)
                elif list(result.token_ids) != recorded.output_ids:
                    self.changed.append(rec.call_id)
                self._cv.notify_all()

        engine.submit(
            EngineRequest(rid, list(recorded.prompt_token_ids), recorded.params), first, finished
        )

    def wait(self, *, started: int = 0, done: int = 0) -> None:
        with self._cv:
            self._cv.wait_for(lambda: self.started >= started and self.done >= done)


def replay(
    engines: dict[str, Engine],
    records: Iterable[CallRecord],
    recording: Recording,
    *,
    warm_prefixes: bool = True,
) -> OracleReport:
    """Replay a run's executed LLM calls stage by stage on ``engines`` (cold caches first).

    ``recording`` must hold every executed call (the batch ran inside
    ``session.observe(recording)``).
    """
    by_stage = stages(records)
    calls = [r for rs in by_stage.values() for r in rs]
    missing = [r.call_id for r in calls if r.call_id not in recording]
    if missing:
        raise HaloError(
            f"{len(missing)} executed calls were not recorded (e.g. call {missing[0]}): run the "
            "batch inside session.observe(recording)"
        )
    for e in engines.values():
        e.reset_prefix_cache()
    before = {k: e.counters() for k, e in engines.items()}
    report = OracleReport(0.0, calls=len(calls))
    t0 = time.perf_counter()
    for stage, recs in by_stage.items():
        ts = time.perf_counter()
        batch = _Batch()
        rest = list(recs)
        if warm_prefixes:  # one request per distinct first KV block goes first
            leaders: dict[tuple[str, tuple[int, ...]], CallRecord] = {}
            for r in recs:
                head = tuple(recording[r.call_id].prompt_token_ids[: engines[r.model].block_size])
                leaders.setdefault((r.model, head), r)
            for r in leaders.values():
                batch.submit(
                    engines[r.model], f"oracle-{stage}-{r.call_id}", r, recording[r.call_id]
                )
            batch.wait(started=len(leaders))
            chosen = {id(r) for r in leaders.values()}
            rest = [r for r in recs if id(r) not in chosen]
        for r in rest:
            batch.submit(engines[r.model], f"oracle-{stage}-{r.call_id}", r, recording[r.call_id])
        batch.wait(done=len(recs))
        if batch.errors:
            raise HaloError(f"oracle stage {stage} failed: {batch.errors[0]}")
        report.stage_s.append(time.perf_counter() - ts)
        report.changed += sorted(batch.changed)
    report.wall_s = time.perf_counter() - t0
    report.engine = {k: e.counters() - before[k] for k, e in engines.items()}
    return report


def longest_tool_chain_s(records: Iterable[CallRecord]) -> float:
    """The longest time any one instance spent with a tool of its own running: per instance,
    the union of the run intervals of its tool calls (a merged call counts the run it waited
    on), the longest of them. No schedule finishes that instance sooner, whatever the engines
    do; with the engine-only replay it bounds the run from below: ``max(oracle, this)``."""
    records = list(records)
    by_id = {r.call_id: r for r in records}
    spans: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for r in records:
        run = by_id.get(r.merged_into, r) if r.merged_into is not None else r
        if r.kind != "tool" or r.instance is None or run.finished_s is None:
            continue
        if run.dispatched_s is not None:
            spans[r.instance].append((run.dispatched_s, run.finished_s))
    return max((union_s(intervals) for intervals in spans.values()), default=0.0)
