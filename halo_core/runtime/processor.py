"""The processor: one asyncio loop on its own thread that defers calls into epochs and runs them.

Callers (any thread, any event loop) submit :class:`LLMCall` / :class:`ToolCall` objects and get
a :class:`concurrent.futures.Future`. A new call first meets the optimizer (the memo may serve
it); LLM calls then wait in ``pending`` until the scheduler closes the epoch and returns its
plan, which this loop carries out: requests go to their engines, followers of a prefix group
once the optimizer releases them, and every result goes back to each waiting caller as its own
copy. Tool calls run at once on the tool pool, so they overlap the engines' work.

An LLM call's caller may cancel its future (cancelling an awaited call does): the call leaves the
queue, or stops waiting on its execution; an engine request no caller waits for any more is
aborted on its engine (one that still has callers, merged from other instances, runs on).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from halo_core.backends.base import Engine, EngineRequest
from halo_core.calls import (
    ChatResult,
    InstanceRef,
    LLMCall,
    ToolCall,
    exception_copy,
    independent_copy,
)
from halo_core.config import OptimizerConfig, SessionConfig
from halo_core.errors import LLMCallError, ToolCallError
from halo_core.graph import CallRecord, ConsolidatedGraph, EpochSizes
from halo_core.optimizer import Joined, Optimizer, Request, Served
from halo_core.runtime.instances import InstanceTracker
from halo_core.runtime.prepare import prepare_epoch
from halo_core.runtime.tools import ToolPool
from halo_core.scheduler.base import (
    EpochPlan,
    Executed,
    Prefilled,
    QueueState,
    SchedulerContext,
)
from halo_core.scheduler.cost_model import StepCost, ToolLatency
from halo_core.scheduler.critical_path import ToolTimeAhead
from halo_core.scheduler.load import Load
from halo_core.scheduler.registry import make_scheduler

log = logging.getLogger("halo.processor")

_Waiter = tuple[LLMCall | ToolCall, "concurrent.futures.Future[Any]"]
#: Called on the loop thread with each LLM request the engines ran and its result.
Observer = Callable[[LLMCall, ChatResult], None]


class Processor:
    """Defers, coalesces and dispatches the calls of all instances of a session."""

    def __init__(
        self,
        engines: Mapping[str, Engine],
        config: SessionConfig,
        costs: Mapping[str, StepCost] | None = None,
    ):
        self.engines = dict(engines)
        #: Each engine's step cost (the cost model), where known: prices executed requests.
        self.costs = costs if costs is not None else {}
        self.config = config
        self.graph = ConsolidatedGraph(config.graph_max_records)
        self.epoch_sizes = EpochSizes()  # LLM calls per epoch
        self.observers: list[Observer] = []
        #: Run time of each tool (by qualified name), a moving average for the cost model.
        self.tool_latency = ToolLatency()
        self.plan_s = 0.0  # time spent closing epochs: scheduling and dispatch
        self.optimizer = Optimizer(
            config.optimizer,
            {k: e.block_size for k, e in self.engines.items()},
            memo_max_entries=config.memo_max_entries,
            warm_max_blocks=config.prefix_warm_max_blocks,
        )
        #: Tool time expected ahead of each plan node's calls, learned as instances finish.
        self.tool_time_ahead = ToolTimeAhead()
        self.scheduler = make_scheduler(
            SchedulerContext(
                config,
                self.optimizer,
                self.tool_time_ahead,
                partial(prepare_epoch, self.engines),
                self.costs,
            )
        )
        self._set_turns(config.optimizer)
        self._tools = ToolPool(config.tool_workers)
        self._loop = asyncio.new_event_loop()
        self._changed = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name="halo-processor", daemon=True)
        self._t0 = time.perf_counter()
        # loop-thread state
        self._pending: list[tuple[LLMCall, concurrent.futures.Future[Any]]] = []
        self._pending_since = 0.0
        self._in_flight = 0  # LLM requests sent to the engines, not finished
        self._load = Load(
            self.costs,
            {k: e.max_num_seqs for k, e in self.engines.items()},
            config.default_max_tokens,
        )
        self._works: dict[int, list[_Waiter]] = {}  # source call id → its waiters, until done
        self._requests: dict[int, Request] = {}  # planned engine requests by id, until done
        #: Requests an engine runs → what completes them, once: on the engine's answer or on
        #: an abort (an answer that comes after the abort finds nothing here).
        self._running: dict[int, Callable[[ChatResult | BaseException], None]] = {}
        self._instances = InstanceTracker()
        self._thread.start()

    # ---- thread-safe API -------------------------------------------------------------------
    def now(self) -> float:
        """Seconds since the processor started (the graph's clock)."""
        return time.perf_counter() - self._t0

    def submit_llm(self, call: LLMCall) -> concurrent.futures.Future[ChatResult]:
        """Defer an LLM call; the future resolves to the caller's own :class:`ChatResult`."""
        fut: concurrent.futures.Future[ChatResult] = concurrent.futures.Future()
        self._record(call, "llm", call.model)
        self._loop.call_soon_threadsafe(self._enqueue_llm, call, fut)
        self._watch(call, fut)
        return fut

    def _watch(self, call: LLMCall, fut: concurrent.futures.Future[Any]) -> None:
        """Tell the loop when the caller cancels ``fut`` (``asyncio.wrap_future`` does when an
        awaited call is cancelled); the callback runs on the cancelling thread."""

        def on_done(f: concurrent.futures.Future[Any]) -> None:
            if f.cancelled():
                self._call_soon(self._cancelled, call, f)

        fut.add_done_callback(on_done)

    def submit_tool(self, call: ToolCall) -> concurrent.futures.Future[Any]:
        """Run a tool call on the pool (served by an identical pure call if the memo can)."""
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._record(call, "tool", call.name)
        self._loop.call_soon_threadsafe(self._enqueue_tool, call, fut)
        return fut

    def record_passthrough(
        self, call_id: int, inst: InstanceRef | None, node: str, model: str
    ) -> CallRecord:
        """Record a call that runs outside Halo (its own client), dispatched now."""
        rec = CallRecord(
            call_id,
            "llm",
            inst.uid if inst is not None else None,
            node,
            model=model,
            submitted_s=self.now(),
            passthrough=True,
        )
        rec.dispatched_s = rec.submitted_s
        return self.graph.add(rec)

    def instance_started(self, uid: int) -> None:
        """An instance became live: epochs now wait for it to block on Halo (or the window)."""
        self._loop.call_soon_threadsafe(self._set_live, uid, True)

    def instance_finished(self, uid: int) -> None:
        """An instance ended: epochs no longer wait for it."""
        self._loop.call_soon_threadsafe(self._set_live, uid, False)

    def configure(self, optimizer: OptimizerConfig) -> None:
        """Switch the optimizer configuration for calls submitted from now on (the engines'
        turns at once)."""
        self._set_turns(optimizer)
        self._loop.call_soon_threadsafe(self.optimizer.configure, optimizer)

    def _set_turns(self, optimizer: OptimizerConfig) -> None:
        for engine in self.engines.values():
            engine.set_turns(optimizer.engine_turns)

    def forget(self) -> None:
        """Drop what the rules learned (memo, warm prefixes), the graph and the epochs' sizes
        (between runs)."""

        def _clear() -> None:
            self.optimizer.forget()
            self.graph.clear()
            self.epoch_sizes = EpochSizes()

        asyncio.run_coroutine_threadsafe(self._call(_clear), self._loop).result()

    def close(self) -> None:
        """Stop the loop and the tool pool. Pending calls fail; idempotent."""
        if self._loop.is_closed():
            return
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop)
            self._thread.join(timeout=10)
        waiting = list(self._pending) + [w for ws in self._works.values() for w in ws]
        for call, fut in waiting:
            if not fut.done():
                fut.set_exception(_error(call, "the session closed"))
        self._pending.clear()
        self._works.clear()
        self._tools.shutdown()
        self._loop.close()

    # ---- loop thread -------------------------------------------------------------------------
    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.create_task(self._epoch_loop())
        self._loop.run_forever()

    def _stop(self) -> None:
        for task in asyncio.all_tasks(self._loop):
            task.cancel()
        self._loop.call_soon(self._loop.stop)

    @staticmethod
    async def _call(fn: Any) -> None:
        fn()

    def _record(self, call: LLMCall | ToolCall, kind: Any, model: str) -> None:
        rec = CallRecord(
            call.call_id, kind, _uid(call), call.node, model=model, submitted_s=self.now()
        )
        self.graph.add(rec)

    def _set_live(self, uid: int, live: bool) -> None:
        self._instances.set_live(uid, live)
        if not live and self._instances.outstanding(uid):
            self._orphaned(uid)
        if not live and self.optimizer.config.critical_path:
            self.tool_time_ahead.learn(self.graph.of_instance(uid))
        self._changed.set()

    def _orphaned(self, uid: int) -> None:
        """Instance ``uid`` ended with calls outstanding (cancelled while a thread of it still
        waits, e.g. a sync node under a cancelled ``ainvoke``): cancel them, so that thread
        stops waiting and engine requests nobody else waits for are aborted."""
        waiting = [f for c, f in self._pending if _uid(c) == uid]
        waiting += [f for ws in self._works.values() for c, f in ws if _uid(c) == uid]
        for f in waiting:
            f.cancel()

    def _wait(self, call: LLMCall | ToolCall, delta: int) -> None:
        self._instances.wait(_uid(call), delta)
        self._changed.set()

    def _admit(self, call: LLMCall | ToolCall, fut: concurrent.futures.Future[Any]) -> bool:
        """Let the optimizer serve a new call (memo / identical call in flight); True if so, or
        if its caller gave up already (the call is dropped)."""
        rec = self.graph.records[call.call_id]
        if fut.cancelled():
            rec.error, rec.finished_s = "cancelled", self.now()
            return True
        found = self.optimizer.admit(call)
        if found is None:
            return False
        rec.merged_into = found.source
        if isinstance(found, Served):
            rec.dispatched_s = rec.finished_s = self.now()
            if fut.set_running_or_notify_cancel():  # else cancelled since the check above
                fut.set_result(found.value)
            else:
                rec.error = "cancelled"
        elif isinstance(found, Joined):
            self._works[found.source].append((call, fut))
            self._wait(call, +1)
        return True

    def _enqueue_llm(self, call: LLMCall, fut: concurrent.futures.Future[Any]) -> None:
        if self._admit(call, fut):
            return
        self._wait(call, +1)
        self._load.arrived(time.perf_counter())
        if not self._pending:
            self._pending_since = time.perf_counter()
        self._pending.append((call, fut))
        self._changed.set()

    def _queue(self) -> QueueState:
        now = time.perf_counter()
        return QueueState(
            len(self._pending),
            now - self._pending_since,
            len(self._instances.live),
            self._instances.blocked,
            self._in_flight,
            self._load.backlog_s(now),
            self._load.arrival_rate(now),
        )

    async def _epoch_loop(self) -> None:
        while True:
            self._changed.clear()
            if not self._pending:
                await self._changed.wait()
                continue
            while self._pending and (wait := self.scheduler.wait_s(self._queue())) > 0:
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), wait)
            if not self._pending:  # its calls were all cancelled while it was open
                continue
            t0 = time.perf_counter()
            batch = self._pending
            try:
                plan = self.scheduler.schedule([call for call, _ in batch])
                batch, self._pending = batch[: plan.calls], batch[plan.calls :]
                self._pending_since = time.perf_counter()
                self._carry_out(plan, {call.call_id: fut for call, fut in batch})
            except Exception as e:  # a bug here must fail its calls, not hang them
                log.exception("an epoch failed")
                if batch is self._pending:  # failed before taking its calls: fail them all
                    self._pending = []
                self._fail(batch, e)
            finally:
                self.plan_s += time.perf_counter() - t0

    def _fail(
        self, batch: list[tuple[LLMCall, concurrent.futures.Future[Any]]], error: Exception
    ) -> None:
        """Fail the calls of an epoch that broke, with what they held: the executions it
        registered (their joined waiters, the memo's in-flight keys), their instances' waits and
        their records (finished, so a bounded graph can drop them)."""
        for call, _ in batch:
            if call.call_id in self._works:
                self._finish(call, error)
        for call, fut in batch:
            if not fut.done():  # not part of an execution yet
                self._works[call.call_id] = [(call, fut)]
                self._finish(call, error)

    def _carry_out(
        self, plan: EpochPlan, futs: Mapping[int, concurrent.futures.Future[Any]]
    ) -> None:
        """Record the plan in the graph, register its executions, send what goes now; fail the
        callers of requests their engine would not take."""
        for r, error in plan.failed:
            self._works[r.id] = [(c, futs[c.call_id]) for c in r.callers]
            for c in r.callers:
                self.graph.records[c.call_id].epoch = plan.epoch
            self._finish(r.rep, error)
        for r in plan.requests:
            self._works[r.id] = [(c, futs[c.call_id]) for c in r.callers]
            self._requests[r.id] = r
            self.optimizer.scheduled(r.rep)
            for c in r.callers:
                rec = self.graph.records[c.call_id]
                rec.epoch = plan.epoch
                if c is not r.rep:
                    rec.merged_into = r.id
            rec = self.graph.records[r.id]
            rec.prefix_group, rec.leader = r.group, r.leader
        for r in plan.now:
            self._dispatch(r)
        self.epoch_sizes.add(plan.calls)
        log.debug(
            "epoch %d: %d calls, %d requests, %d waiting on a leader",
            plan.epoch,
            plan.calls,
            len(plan.requests),
            len(plan.requests) - len(plan.now),
        )

    def _dispatch(self, r: Request) -> None:
        """Send one request to its engine; a leader releases its followers once it prefilled.
        A follower abandoned while it waited for its leader is not sent."""
        if r.id not in self._requests:
            return
        if (rec := self.graph.records.get(r.id)) is not None:  # its cancelled rep's may be gone
            rec.dispatched_s = self.now()
        released = False  # the scheduler hears each request's prefill once

        def on_first_token() -> None:
            nonlocal released
            if released:
                return
            released = True
            for f in self.scheduler.update(Prefilled(r)):
                self._dispatch(f)

        def on_done(result: ChatResult | BaseException) -> None:
            on_first_token()  # a failed or empty leader still releases its followers
            self._in_flight -= 1
            self._load.finished(r.id, r.model, result, time.perf_counter())
            for f in self.scheduler.update(Executed(r, result)):
                self._dispatch(f)
            self._finish(r.rep, result)

        engine = self.engines[r.model]
        self._in_flight += 1
        self._load.dispatched(r.id, r.rep, time.perf_counter())
        self._running[r.id] = on_done
        engine.submit(
            EngineRequest(str(r.id), r.rep.prompt_token_ids, r.rep.params, r.priority),
            lambda: self._call_soon(on_first_token),
            lambda result: self._call_soon(self._complete, r.id, result),
        )
        if engine.reuses_prefix_in_order:
            on_first_token()  # the engine caches the leader's blocks as it schedules them

    def _complete(self, request_id: int, result: ChatResult | BaseException) -> None:
        """An engine's answer to a request (ignored once the request was aborted)."""
        done = self._running.pop(request_id, None)
        if done is not None:
            done(result)

    def _cancelled(self, call: LLMCall, fut: concurrent.futures.Future[Any]) -> None:
        """A caller gave up: drop its call from the queue, or its waiter from the request it
        waits on (nothing to do if it was answered meanwhile); a request left without waiters
        is abandoned."""
        for i, (_, f) in enumerate(self._pending):
            if f is fut:
                del self._pending[i]
                self._dropped(call)
                return
        rec = self.graph.records.get(call.call_id)
        if rec is None:  # answered, and its record dropped since
            return
        source = rec.merged_into if rec.merged_into is not None else call.call_id
        waiters = self._works.get(source, [])
        for i, (_, f) in enumerate(waiters):
            if f is fut:
                del waiters[i]
                self._dropped(call)
                if not waiters:
                    self._abandon(source)
                return

    def _dropped(self, call: LLMCall) -> None:
        rec = self.graph.records[call.call_id]
        rec.error, rec.finished_s = "cancelled", self.now()
        self._wait(call, -1)

    def _abandon(self, source: int) -> None:
        """No caller waits for request ``source`` any more: abort it if its engine runs it
        (completed as cancelled: followers waiting for its prefill go on their own), else it
        is never sent. Either way later identical calls do not join it."""
        r = self._requests[source]
        error = concurrent.futures.CancelledError("no caller waits for this request")
        done = self._running.pop(source, None)
        if done is None:  # a follower still waiting for its leader's prefill
            self._finish(r.rep, error)
            return
        self.engines[r.model].abort([str(source)])
        if (rec := self.graph.records.get(source)) is not None:
            rec.error = "cancelled: aborted on its engine"
        done(error)

    def _call_soon(self, fn: Any, *args: Any) -> None:
        """Hand an engine/tool completion to the loop (dropped once the session closed)."""
        with contextlib.suppress(RuntimeError):  # loop closed: close() failed every waiter
            self._loop.call_soon_threadsafe(fn, *args)

    def _finish(self, source: LLMCall | ToolCall, result: Any) -> None:
        """Resolve every waiter of one execution with its own copy (or its own error)."""
        waiters = self._works.pop(source.call_id, [])
        self._requests.pop(source.call_id, None)
        self.optimizer.finished(source, result)
        ok = not isinstance(result, BaseException)
        if ok and isinstance(source, LLMCall):
            for observe in self.observers:
                observe(source, result)
        t = self.now()
        if isinstance(source, ToolCall):
            started = self.graph.records[source.call_id].dispatched_s
            self.tool_latency.observe(source.name, t - (started if started is not None else t))
        for i, (call, fut) in enumerate(waiters):
            rec = self.graph.records[call.call_id]
            rec.finished_s = t
            self._wait(call, -1)
            if not fut.set_running_or_notify_cancel():  # its caller gave up just now
                rec.error = "cancelled"
                continue
            if not ok:
                rec.error = f"{type(result).__name__}: {result}"
                err = _error(call, result)
                # the call that ran gets the very exception raised; each merged one its own twin
                err.__cause__ = result if i == 0 else exception_copy(result)
                fut.set_exception(err)
            else:
                if isinstance(result, ChatResult) and i == 0:
                    rec.prompt_tokens = result.prompt_tokens
                    rec.cached_tokens = result.cached_tokens
                    rec.output_tokens = result.output_tokens
                fut.set_result(result if len(waiters) == 1 else independent_copy(result))

    def _enqueue_tool(self, call: ToolCall, fut: concurrent.futures.Future[Any]) -> None:
        if self._admit(call, fut):
            return
        self._wait(call, +1)
        self._works[call.call_id] = [(call, fut)]
        self.optimizer.scheduled(call)
        self.graph.records[call.call_id].dispatched_s = self.now()
        self._tools.run(call, lambda result: self._call_soon(self._finish, call, result))


def _error(call: LLMCall | ToolCall, reason: BaseException | str) -> LLMCallError | ToolCallError:
    err = LLMCallError if isinstance(call, LLMCall) else ToolCallError
    return err(_idx(call), call.node, reason)


def _uid(call: LLMCall | ToolCall) -> int | None:
    return call.instance.uid if call.instance is not None else None


def _idx(call: LLMCall | ToolCall) -> int | None:
    return call.instance.index if call.instance is not None else None
