"""The processor: one asyncio loop on its own thread that defers calls into epochs and runs them.

Callers (any thread, any event loop) submit :class:`LLMCall` / :class:`ToolCall` objects and get
a :class:`concurrent.futures.Future`. LLM calls wait in ``pending`` until the epoch closes —
when every live instance is waiting on Halo, after ``epoch_window_s``, or at ``epoch_max_calls``
— then the optimizer passes run and the engine gets the result. Tool calls run at once on a
thread pool, so they overlap the engine's work. Identical deterministic calls are served from
calls in flight or already finished (the dedup memo), across epochs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import inspect
import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from halo_core import passes
from halo_core.backends.base import Engine, EngineRequest
from halo_core.calls import ChatResult, LLMCall, ToolCall
from halo_core.config import PassConfig, SessionConfig
from halo_core.errors import LLMCallError, ToolCallError
from halo_core.graph import CallRecord, ConsolidatedGraph

log = logging.getLogger("halo.processor")

_Waiter = tuple[LLMCall | ToolCall, "concurrent.futures.Future[Any]"]


class _Work:
    """One execution (an engine request or a tool run) and the calls waiting on it."""

    def __init__(self, key: str | None, waiters: list[_Waiter]):
        self.key = key
        self.waiters = waiters


def _copy(value: Any) -> Any:
    try:
        return copy.deepcopy(value)
    except Exception:  # an un-copyable tool result (a handle, a connection): share it
        return value


class Processor:
    """Defers, coalesces and dispatches the calls of all instances of a session."""

    def __init__(self, engines: Mapping[str, Engine], config: SessionConfig):
        self.engines = dict(engines)
        self.config = config
        self.passes: PassConfig = config.passes
        self.graph = ConsolidatedGraph()
        self.record_requests = False  # keep LLM calls' requests in the graph (oracle replay)
        self.plan_s = 0.0  # time spent closing epochs: passes and dispatch
        self._block_size = {k: e.block_size for k, e in self.engines.items()}
        self._tool_pool = concurrent.futures.ThreadPoolExecutor(
            config.tool_workers, thread_name_prefix="halo-tool"
        )
        self._loop = asyncio.new_event_loop()
        self._changed = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name="halo-processor", daemon=True)
        self._t0 = time.perf_counter()
        # loop-thread state
        self._pending: list[tuple[LLMCall, concurrent.futures.Future[Any]]] = []
        self._pending_since = 0.0
        self._inflight: dict[str, _Work] = {}
        self._memo: dict[str, tuple[int, Any]] = {}
        self._warm: set[bytes] = set()  # block hashes the engine has prefilled
        self._warming: dict[bytes, tuple[int, list[passes.MergedCall]]] = {}  # leader → waiting
        self._works: dict[int, _Work] = {}  # request / tool call id → its waiters, until done
        self._live: set[int] = set()
        self._outstanding: Counter[int] = Counter()
        self._blocked = 0
        self._epoch = 0
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
        return fut

    def submit_tool(self, call: ToolCall) -> concurrent.futures.Future[Any]:
        """Run a tool call on the pool (merged with identical in-flight/finished pure calls)."""
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._record(call, "tool", call.name)
        self._loop.call_soon_threadsafe(self._enqueue_tool, call, fut)
        return fut

    def instance_started(self, index: int) -> None:
        """An instance became live: epochs now wait for it to block on Halo (or the window)."""
        self._loop.call_soon_threadsafe(self._set_live, index, True)

    def instance_finished(self, index: int) -> None:
        """An instance ended: epochs no longer wait for it."""
        self._loop.call_soon_threadsafe(self._set_live, index, False)

    def set_passes(self, passes_: PassConfig) -> None:
        """Switch the optimizer passes for calls submitted from now on."""
        self._loop.call_soon_threadsafe(setattr, self, "passes", passes_)

    def forget(self) -> None:
        """Drop the dedup memo, the warm-prefix set and the graph (between benchmark runs)."""

        def _clear() -> None:
            self._memo.clear()
            self._warm.clear()
            self.graph.clear()

        asyncio.run_coroutine_threadsafe(self._call(_clear), self._loop).result()

    def close(self) -> None:
        """Stop the loop and the tool pool. Pending calls fail; idempotent."""
        if self._loop.is_closed():
            return
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop)
            self._thread.join(timeout=10)
        waiting = list(self._pending) + [w for work in self._works.values() for w in work.waiters]
        for call, fut in waiting:
            if not fut.done():
                err = LLMCallError if isinstance(call, LLMCall) else ToolCallError
                fut.set_exception(err(_idx(call), call.node, "the session closed"))
        self._pending.clear()
        self._works.clear()
        self._tool_pool.shutdown(wait=False, cancel_futures=True)
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
        if self.record_requests and isinstance(call, LLMCall):
            rec.request = (call.prompt_token_ids, call.params)
        self.graph.add(rec)

    def _set_live(self, index: int, live: bool) -> None:
        if live:
            self._live.add(index)
            self._blocked += self._outstanding[index] > 0
        elif index in self._live:
            self._live.discard(index)
            self._blocked -= self._outstanding[index] > 0
        self._changed.set()

    def _block(self, call: LLMCall | ToolCall, delta: int) -> None:
        i = _uid(call)
        if i is None:
            return
        before = self._outstanding[i]
        self._outstanding[i] += delta
        if i in self._live and (before == 0) != (self._outstanding[i] == 0):
            self._blocked += 1 if delta > 0 else -1
        if self._outstanding[i] == 0:
            del self._outstanding[i]
        self._changed.set()

    def _join_existing(self, call: LLMCall | ToolCall, fut: concurrent.futures.Future[Any]) -> bool:
        """Serve a call from the memo or an identical execution in flight; True if served."""
        key = call.key
        rec = self.graph.records[call.call_id]
        if key in self._memo:
            source, value = self._memo[key]
            rec.merged_into, rec.dispatched_s = source, self.now()
            rec.finished_s = rec.dispatched_s
            fut.set_result(_copy(value))
            return True
        work = self._inflight.get(key)
        if work is not None:
            rec.merged_into = work.waiters[0][0].call_id
            work.waiters.append((call, fut))
            self._block(call, +1)
            return True
        return False

    def _enqueue_llm(self, call: LLMCall, fut: concurrent.futures.Future[Any]) -> None:
        mergeable = self.passes.dedup and (self.passes.merge_sampled or not call.sampled)
        if mergeable and self._join_existing(call, fut):
            return
        self._block(call, +1)
        if not self._pending:
            self._pending_since = time.perf_counter()
        self._pending.append((call, fut))
        self._changed.set()

    def _epoch_ready(self) -> bool:
        if not self.passes.coalesce or len(self._pending) >= self.config.epoch_max_calls:
            return True
        return bool(self._live) and self._blocked >= len(self._live)

    async def _epoch_loop(self) -> None:
        while True:
            self._changed.clear()
            if not self._pending:
                await self._changed.wait()
                continue
            deadline = self._pending_since + self.config.epoch_window_s
            while not self._epoch_ready():
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                self._changed.clear()
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    break
            cap = self.config.epoch_max_calls
            batch, self._pending = self._pending[:cap], self._pending[cap:]
            self._pending_since = time.perf_counter()
            try:
                self._run_epoch(batch)
            except Exception as e:  # a bug here must fail its calls, not hang them
                log.exception("epoch %d failed", self._epoch)
                for call, fut in batch:
                    if not fut.done():
                        fut.set_exception(LLMCallError(_idx(call), call.node, e))

    def _run_epoch(self, batch: list[tuple[LLMCall, concurrent.futures.Future[Any]]]) -> None:
        t0 = time.perf_counter()
        try:
            self._plan_epoch(batch)
        finally:
            self.plan_s += time.perf_counter() - t0

    def _plan_epoch(self, batch: list[tuple[LLMCall, concurrent.futures.Future[Any]]]) -> None:
        self._epoch += 1
        futs = {call.call_id: fut for call, fut in batch}
        calls = [call for call, _ in batch]
        if self.passes.dedup:
            merged = passes.dedup(calls, merge_sampled=self.passes.merge_sampled)
        else:
            merged = [passes.MergedCall(c, [c]) for c in calls]
        for m in merged:
            mergeable = self.passes.dedup and (self.passes.merge_sampled or not m.rep.sampled)
            key = m.rep.key if mergeable else None
            work = _Work(key, [(c, futs[c.call_id]) for c in m.callers])
            self._works[m.rep.call_id] = work
            if key is not None:
                self._inflight[key] = work
            for c in m.callers:
                rec = self.graph.records[c.call_id]
                rec.epoch = self._epoch
                if c is not m.rep:
                    rec.merged_into = m.rep.call_id
        if self.passes.prefix_groups:
            groups = passes.prefix_groups(merged, self._block_size, self._warm, self._warming)
        else:
            groups = [passes.PrefixGroup(None, [m]) for m in merged]
        now, led = passes.dispatch_order(groups)
        for gid, g in enumerate(groups):
            group_id = (self._epoch << 20) | gid
            if g.follows is not None:
                group_id = self._warming[g.follows][0]
                self._warming[g.follows][1].extend(g.followers)
            elif g.leader is not None:  # prefix_groups never leads a prefix already warming
                self._warming[g.leader.block_hashes[0]] = (group_id, list(g.followers))
            for m in g.members:
                rec = self.graph.records[m.rep.call_id]
                rec.prefix_group = group_id if len(g.members) > 1 or g.follows else None
                rec.leader = m is g.leader
        for m in now:
            self._dispatch(m)
        log.debug(
            "epoch %d: %d calls, %d requests, %d prefix groups waiting on a leader",
            self._epoch,
            len(calls),
            len(merged),
            len(led),
        )

    def _dispatch(self, m: passes.MergedCall) -> None:
        """Send one request to its engine; a leader releases its followers once it prefilled."""
        work = self._works[m.rep.call_id]
        rec = self.graph.records[m.rep.call_id]
        rec.dispatched_s = self.now()
        released = not rec.leader

        def on_first_token() -> None:
            nonlocal released
            if released:
                return
            released = True
            self._warm.update(m.block_hashes)
            for f in self._warming.pop(m.block_hashes[0], (0, []))[1]:
                self._dispatch(f)

        def on_done(result: ChatResult | BaseException) -> None:
            on_first_token()  # a failed or empty leader still releases its followers
            self._finish(work, result)

        def first_from_engine() -> None:
            self._call_soon(on_first_token)

        def done_from_engine(result: ChatResult | BaseException) -> None:
            self._call_soon(on_done, result)

        engine = self.engines[m.model]
        request = EngineRequest(str(m.rep.call_id), m.rep.prompt_token_ids, m.rep.params)
        engine.submit(request, first_from_engine, done_from_engine)
        if engine.reuses_prefix_in_order:
            on_first_token()  # the engine caches the leader's blocks as it schedules them

    def _call_soon(self, fn: Any, *args: Any) -> None:
        """Hand an engine/tool completion to the loop (dropped once the session closed)."""
        with contextlib.suppress(RuntimeError):  # loop closed: close() failed every waiter
            self._loop.call_soon_threadsafe(fn, *args)

    def _finish(self, work: _Work, result: Any) -> None:
        """Resolve every waiter of one execution with its own copy (or its own error)."""
        self._works.pop(work.waiters[0][0].call_id, None)
        if work.key is not None:
            self._inflight.pop(work.key, None)
        ok = not isinstance(result, BaseException)
        source = work.waiters[0][0]
        if ok and work.key is not None:
            self._memo[work.key] = (source.call_id, _copy(result))
        t = self.now()
        for i, (call, fut) in enumerate(work.waiters):
            rec = self.graph.records[call.call_id]
            rec.finished_s = t
            if not ok:
                rec.error = f"{type(result).__name__}: {result}"
                err_type = LLMCallError if isinstance(call, LLMCall) else ToolCallError
                err = err_type(_idx(call), call.node, result)
                err.__cause__ = result
                fut.set_exception(err)
            else:
                if isinstance(result, ChatResult) and i == 0:
                    rec.prompt_tokens = result.prompt_tokens
                    rec.cached_tokens = result.cached_tokens
                    rec.output_tokens = result.output_tokens
                    if rec.request is not None:
                        rec.output_ids = list(result.token_ids)
                fut.set_result(result if len(work.waiters) == 1 else _copy(result))
            self._block(call, -1)

    def _enqueue_tool(self, call: ToolCall, fut: concurrent.futures.Future[Any]) -> None:
        mergeable = call.pure and self.passes.dedup
        if mergeable and self._join_existing(call, fut):
            return
        self._block(call, +1)
        work = _Work(call.key if mergeable else None, [(call, fut)])
        self._works[call.call_id] = work
        if work.key is not None:
            self._inflight[work.key] = work
        self.graph.records[call.call_id].dispatched_s = self.now()
        task = self._loop.run_in_executor(self._tool_pool, _run_tool, call)
        task.add_done_callback(
            lambda t: self._finish(work, t.exception() if t.exception() else t.result())
        )


def _run_tool(call: ToolCall) -> Any:
    if inspect.iscoroutinefunction(call.fn):
        return asyncio.run(call.fn(*call.args, **call.kwargs))
    return call.fn(*call.args, **call.kwargs)


def _uid(call: LLMCall | ToolCall) -> int | None:
    return call.instance.uid if call.instance is not None else None


def _idx(call: LLMCall | ToolCall) -> int | None:
    return call.instance.index if call.instance is not None else None
