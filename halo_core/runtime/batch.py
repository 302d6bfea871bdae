"""Batches of workflow instances on a session: one instance per input (threads for sync workflows,
tasks for ``async def`` ones), journals resumed, a progress bar, and the run's report."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from halo_core.backends import EngineCounters
from halo_core.backends.base import Replicated
from halo_core.calls import InstanceRef
from halo_core.errors import ConfigError
from halo_core.journal import MISS, InstanceJournal, Journal
from halo_core.journal.runs import finished, restarts
from halo_core.report import Predicted, RunReport, makespan, predicted_busy_s
from halo_core.runtime.instances import enter_instance, leave_instance
from halo_core.scheduler.cost_model import StepCost

if TYPE_CHECKING:
    from halo_core.session import Session

log = logging.getLogger("halo")

#: A run's starting marks: engine counters, planning time so far, each engine's step cost.
_Marks = tuple[
    dict[str, EngineCounters], float, dict[str, StepCost | None], dict[str, list[EngineCounters]]
]


@dataclass
class Batch:
    """One batch: the inputs and how to run them (see :meth:`Session.run`)."""

    items: list[Any]
    max_concurrency: int | None = None
    progress: bool | None = None
    desc: str = "halo"
    journal: Journal | None = None
    keys: Sequence[Any] | None = None


def run(session: Session, fn: Callable[[Any], Any], batch: Batch) -> RunReport:
    """:meth:`Session.run` of a sync ``fn``: one thread per running instance."""
    start = _Start(session, batch)
    with (
        concurrent.futures.ThreadPoolExecutor(
            start.width, thread_name_prefix="halo-instance"
        ) as pool,
        start.progress() as bar,
    ):
        refs = start.instances()
        futs = {pool.submit(_run_sync, session, fn, r, batch.items[r.index]): r for r in refs}
        for f in concurrent.futures.as_completed(futs):
            start.results[futs[f].index] = f.result()
            bar.landed(f.result())
    return start.report(refs)


async def arun(session: Session, fn: Callable[[Any], Awaitable[Any]], batch: Batch) -> RunReport:
    """:meth:`Session.arun`: one task per instance, at most the live width at once."""
    start = _Start(session, batch)
    _widen_default_executor(asyncio.get_running_loop(), start.width)
    sem = asyncio.Semaphore(start.width)
    refs = start.instances()
    tasks = [
        asyncio.ensure_future(_run_async(session, fn, r, batch.items[r.index], sem)) for r in refs
    ]
    with start.progress() as bar:
        for t in tasks:
            t.add_done_callback(lambda t: bar.landed(t.result()))
        for r, result in zip(refs, await asyncio.gather(*tasks), strict=True):
            start.results[r.index] = result
    return start.report(refs)


class _Start:
    """A batch as it starts: the marks its report is measured from, the results the journal
    already holds, the inputs left to run and how many run at once."""

    def __init__(self, session: Session, batch: Batch):
        self.session, self.batch = session, batch
        self.marks = _marks(session)
        self.results, self.todo, self.journals = _start(batch.items, batch.journal, batch.keys)
        self.width = session.config.live_width(len(self.todo), batch.max_concurrency)

    def instances(self) -> list[InstanceRef]:
        return _instances(self.session, self.todo, self.width, self.journals)

    def progress(self) -> _Progress:
        b = self.batch
        return _Progress(len(b.items), self.results, self.todo, b.desc, b.progress)

    def report(self, refs: list[InstanceRef]) -> RunReport:
        before, since, t0 = self.marks
        return _report(self.session, self.results, refs, t0, before, since, self.batch.journal)


# ---- instances -------------------------------------------------------------------------------


def _instances(
    session: Session, indices: list[int], width: int, journals: Sequence[InstanceJournal | None]
) -> list[InstanceRef]:
    """New instances for the inputs at ``indices`` (with their journals); the first ``width``
    (those that start at once) live from now, so epochs wait for them until they block on Halo
    or end, even before their threads run. The others become live as they start, when a running
    one ends."""
    refs = [InstanceRef(next(session._instance_ids), i, journal=journals[i]) for i in indices]
    for ref in refs[:width]:
        session._processor.instance_started(ref.uid)
    return refs


def _failed(inst: InstanceRef, error: Exception) -> Exception | None:
    """A failed instance's result, its exception (it fails alone); ``None``: it runs again from
    scratch, its journal discarded."""
    if restarts(inst, error):
        return None
    log.info("instance %d failed: %s", inst.index, error)
    return error


def _run_sync(session: Session, fn: Callable[[Any], Any], inst: InstanceRef, x: Any) -> Any:
    session._processor.instance_started(inst.uid)
    token = enter_instance(inst)
    try:
        while True:
            try:
                result = fn(x)
            except Exception as e:
                if (result := _failed(inst, e)) is None:
                    continue
            return finished(inst, result)
    finally:
        leave_instance(token)
        session._processor.instance_finished(inst.uid)


async def _run_async(
    session: Session,
    fn: Callable[[Any], Awaitable[Any]],
    inst: InstanceRef,
    x: Any,
    sem: asyncio.Semaphore,
) -> Any:
    async with sem:
        session._processor.instance_started(inst.uid)
        enter_instance(inst)  # this task's own context
        try:
            while True:
                try:
                    result = await fn(x)
                except Exception as e:
                    if (result := _failed(inst, e)) is None:
                        continue
                return finished(inst, result)
        finally:
            session._processor.instance_finished(inst.uid)


def _start(
    items: list[Any], journal: Journal | None, keys: Sequence[Any] | None
) -> tuple[list[Any], list[int], list[InstanceJournal | None]]:
    """Results known before running (from the journal), the inputs left to run and each
    input's instance journal."""
    if journal is None:
        if keys is not None:
            raise ConfigError("keys= name the instances of a journal: give journal= too")
        return [None] * len(items), list(range(len(items))), [None] * len(items)
    starts = journal.begin(items, keys)
    results = [None if st.result is MISS else st.result for st in starts]
    todo = [i for i, st in enumerate(starts) if st.result is MISS]
    return results, todo, [st.journal for st in starts]


#: Threads of the default executor Halo gave each event loop (see :meth:`Session.arun`).
_EXECUTOR_WIDTH: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = (
    weakref.WeakKeyDictionary()
)


def _widen_default_executor(loop: asyncio.AbstractEventLoop, threads: int) -> None:
    """Make ``loop``'s default executor at least ``threads`` wide (threads start on demand)."""
    if _EXECUTOR_WIDTH.get(loop, 0) >= threads:
        return
    old = getattr(loop, "_default_executor", None)  # asyncio keeps no public accessor
    loop.set_default_executor(
        concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="halo-instance")
    )
    _EXECUTOR_WIDTH[loop] = threads
    if old is not None:
        old.shutdown(wait=False)  # work already in it finishes


# ---- the report ------------------------------------------------------------------------------


def _marks(session: Session) -> tuple[_Marks, int, float]:
    costs = {k: session.step_cost(k) for k in session.engines}
    return (
        (session.counters(), session._processor.plan_s, costs, _replicas(session)),
        session.graph.next_call_id(),
        time.perf_counter(),
    )


def _report(
    session: Session,
    results: list[Any],
    refs: list[InstanceRef],
    t0: float,
    before: _Marks,
    since: int,
    journal: Journal | None,
) -> RunReport:
    wall = time.perf_counter() - t0
    counters, plan_s, costs, replicas = before
    after = session.counters()
    delta = {k: after[k] - counters[k] for k in after}
    replicas_after = _replicas(session)
    replica_delta = {
        k: [a - b for a, b in zip(now, replicas[k], strict=True)]
        for k, now in replicas_after.items()
    }
    records = [r for r in session.graph if r.call_id >= since]
    if session.graph.newest_dropped >= since:
        log.warning(
            "the graph dropped calls of this run (SessionConfig.graph_max_records=%s): its "
            "report counts only the %d it still holds",
            session.config.graph_max_records,
            len(records),
        )
    uids = [-1] * len(results)  # -1: an instance returned from the journal
    for r in refs:
        uids[r.index] = r.uid
    predicted = predicted_busy_s(session.engines, costs, records)
    return RunReport(
        results,
        wall,
        session.graph.summary(since),
        delta,
        records,
        session._processor.plan_s - plan_s,
        uids,
        {k: Predicted(d.step_s, predicted.get(k)) for k, d in delta.items() if d.steps},
        makespan(session.engines, costs, records),
        journal.counts() if journal is not None else None,
        replica_delta,
    )


def _replicas(session: Session) -> dict[str, list[EngineCounters]]:
    """Per-replica counters of the engines spread over replicas (the Ray backend's)."""
    return {
        k: e.replica_counters() for k, e in session.engines.items() if isinstance(e, Replicated)
    }


class _Progress:
    """The run's progress bar: done / failed, and how many came from the journal."""

    def __init__(
        self, total: int, known: list[Any], todo: list[int], desc: str, progress: bool | None
    ):
        skipped = set(range(total)) - set(todo)
        self.resumed = len(skipped)
        self.failed = sum(isinstance(known[i], BaseException) for i in skipped)
        self.done = self.resumed - self.failed
        disable = None if progress is None else not progress  # None: only on a terminal
        self.bar = tqdm(total=total, initial=self.resumed, desc=desc, disable=disable)
        if self.resumed:
            self._postfix()

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()

    def landed(self, result: Any) -> None:
        """One instance finished."""
        if isinstance(result, BaseException):
            self.failed += 1
        else:
            self.done += 1
        self.bar.update()
        if self.failed or self.resumed:
            self._postfix()

    def _postfix(self) -> None:
        self.bar.set_postfix(done=self.done, failed=self.failed, resumed=self.resumed)
