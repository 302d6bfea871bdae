"""The user-facing session: engines, processor and tool pool, and the calls that go through them."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
import itertools
import logging
import time
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tqdm.auto import tqdm

from halo_core.backends import Engine, EngineCounters, make_engine
from halo_core.calls import (
    ChatRequest,
    ChatResult,
    InstanceRef,
    LLMCall,
    ToolCall,
    validate_messages,
    validate_sampling,
)
from halo_core.config import EngineConfig, OptimizerConfig, SessionConfig, check_priorities
from halo_core.errors import ConfigError, HaloError, LLMCallError, MalformedCallError
from halo_core.graph import CallRecord, ConsolidatedGraph, GraphSummary
from halo_core.journal import (
    MISS,
    InstanceJournal,
    InterruptedCallError,
    Journal,
    JournalCounts,
    JournalMismatchError,
    Ticket,
)
from halo_core.logs import configure_engine_logs
from halo_core.runtime import (
    Observer,
    Processor,
    current_instance,
    enter_instance,
    leave_instance,
)
from halo_core.runtime.retry import RetryPolicy, policy_of
from halo_core.scheduler.calibration import load_or_calibrate
from halo_core.scheduler.cost_model import (
    EngineWork,
    StepCost,
    ToolLatency,
    Work,
)
from halo_core.scheduler.critical_path import ToolTimeAhead
from halo_core.scheduler.forecast import calls_of, forecast, simulate_shared

log = logging.getLogger("halo")
T = TypeVar("T")

#: Steps an engine must have run before :meth:`Session.step_cost` refits from them.
MIN_FIT_STEPS = 32


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
    """What one :meth:`Session.run` did. ``results[i]`` is input i's result or its exception;
    ``records`` are this run's calls in the consolidated graph; ``engine`` the counter deltas;
    ``plan_s`` the time spent planning epochs (scheduling, optimizer rules, dispatch);
    ``instance_uids[i]`` the uid that input i's records carry as their ``instance`` (-1 for an
    instance the journal returned without running it)."""

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
                f"wall time        {self.wall_s:.2f} s",
            ]
        )


class Session:
    """Owns the engines, the processor thread and the tool pool; a context manager.

    >>> with Session(model="smollm2") as s:                  # doctest: +SKIP
    ...     s.chat([{"role": "user", "content": "Hi"}]).text
    """

    def __init__(
        self, config: SessionConfig | None = None, *, model: str | None = None, **engine: Any
    ):
        if (config is None) == (model is None):
            raise ConfigError(
                "give either a SessionConfig or model='...' (e.g. Session(model='smollm2'))"
            )
        if config is None:
            config = SessionConfig(engines={"default": EngineConfig(model=model, **engine)})
        self.config = config
        self.engines: dict[str, Engine] = {}
        configure_engine_logs(config.engine_log_level)
        #: Each engine's calibrated step cost (engines with ``calibrate=True``).
        self.calibrated: dict[str, StepCost] = {}
        try:
            for key, cfg in config.engines.items():
                self.engines[key] = make_engine(key, cfg)
                if cfg.calibrate and (cost := load_or_calibrate(self.engines[key])):
                    self.calibrated[key] = cost
        except BaseException:
            self.close()
            raise
        #: What calibration runs counted, left out of :meth:`counters`.
        self._calibration_counts = {k: e.counters() for k, e in self.engines.items()}
        self._processor = Processor(self.engines, config, self.calibrated)
        self._ids = itertools.count()
        self._instance_ids = itertools.count()

    # ---- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the processor and release every engine, also after errors; idempotent."""
        processor = getattr(self, "_processor", None)
        if processor is not None:
            processor.close()
        for engine in self.engines.values():
            engine.shutdown()
        self.engines.clear()

    @property
    def graph(self) -> ConsolidatedGraph:
        """The consolidated graph of every call made in this session."""
        return self._processor.graph

    def counters(self) -> dict[str, EngineCounters]:
        """Each engine's own counters (requests, prompt tokens, prefix-cache queries / hits,
        steps) since the session started, calibration runs left out."""
        return {k: e.counters() - self._calibration_counts[k] for k, e in self.engines.items()}

    @contextmanager
    def optimizing(self, config: OptimizerConfig) -> Iterator[None]:
        """Run the block with another optimizer configuration (e.g.
        ``OptimizerConfig.direct()``: the baseline, every call straight to its engine)."""
        try:
            check_priorities(config, self.config.engines)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        before = self._processor.optimizer.config
        self._processor.configure(config)
        try:
            yield
        finally:
            self._processor.configure(before)

    @contextmanager
    def observe(self, observer: Observer) -> Iterator[None]:
        """Call ``observer(call, result)`` for every LLM request the engines run inside the block
        (on Halo's loop thread: keep it short), e.g. to keep what a replay needs."""
        self._processor.observers.append(observer)
        try:
            yield
        finally:
            self._processor.observers.remove(observer)

    def step_cost(self, model: str | None = None) -> StepCost | None:
        """The engine's step cost: refitted from its latest steps once it has run
        ``MIN_FIT_STEPS``, else its calibration (``None`` before either)."""
        key = model or self.config.default_model
        records = self.engines[key].step_records()
        if len(records) >= MIN_FIT_STEPS:
            return StepCost.fit(records)
        return self.calibrated.get(key)

    @property
    def tool_time_ahead(self) -> ToolTimeAhead:
        """Tool time expected ahead of each plan node's calls (what ``critical_path`` orders
        requests by), learned from finished instances while the decision is on."""
        return self._processor.tool_time_ahead

    @property
    def tool_latency(self) -> ToolLatency:
        """Each tool's run time, a moving average (by the tool's qualified name)."""
        return self._processor.tool_latency

    def reset(self) -> None:
        """Forget the dedup memo, the graph and every engine's prefix cache."""
        self._processor.forget()
        for e in self.engines.values():
            e.reset_prefix_cache()

    # ---- calls -------------------------------------------------------------------------------
    def _node(self, inst: InstanceRef | None, node: str | None, default: str) -> str:
        if node is not None:
            return node
        return f"{default}{inst.next_call_index()}" if inst is not None else default

    def _chat_call(
        self,
        messages: Any,
        model: str | None,
        node: str | None,
        tools: list[dict[str, Any]] | None,
        tool_choice: Any,
        response_format: dict[str, Any] | None,
        sampling: dict[str, Any],
    ) -> concurrent.futures.Future[ChatResult]:
        inst = current_instance()
        label = self._node(inst, node, "llm")
        index = inst.index if inst is not None else None
        key = model or self.config.default_model
        try:
            engine = self.engines.get(key)
            if engine is None:
                raise MalformedCallError(
                    f"unknown model {key!r}; this session serves {sorted(self.engines)}"
                )
            request = ChatRequest(
                validate_messages(messages),
                validate_sampling(sampling, self.config.default_max_tokens),
                tools,
                tool_choice,
                response_format,
            )
        except Exception as e:
            raise LLMCallError(index, label, e) from e
        journal = inst.journal if inst is not None else None
        if journal is not None:
            ticket, value = journal.lookup(label, request.key(key), "llm", side_effect=False)
            if value is not MISS:
                return _done(value)
        try:
            prepared = engine.prepare(request)
        except Exception as e:
            if journal is not None:
                journal.settle(ticket, None, ok=False)
            raise LLMCallError(index, label, e) from e
        call = LLMCall(
            next(self._ids),
            key,
            request,
            prepared.prompt_token_ids,
            prepared.params,
            prepared.sampled,
            inst,
            label,
        )
        fut = self._processor.submit_llm(call)
        return fut if journal is None else _journaled(journal, ticket, fut)

    def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        model: str | None = None,
        node: str | None = None,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: Any = None,
        response_format: dict[str, Any] | None = None,
        **sampling: Any,
    ) -> ChatResult:
        """One chat call, deferred and coalesced with other instances' calls; blocks until done.

        Greedy (``temperature=0``) unless ``sampling`` says otherwise; a parameter set to
        ``None`` takes the engine's default as ``vllm serve`` would. ``tools`` / ``tool_choice`` /
        ``response_format`` follow the OpenAI chat API (tool calls need the engine's
        ``tool_call_parser``); the result carries the parsed ``content`` and ``tool_calls``.
        ``node`` labels the call in the plan (default: ``llm<call index>``).
        """
        fut = self._chat_call(messages, model, node, tools, tool_choice, response_format, sampling)
        return fut.result()

    async def achat(
        self,
        messages: list[dict[str, Any]],
        *,
        model: str | None = None,
        node: str | None = None,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: Any = None,
        response_format: dict[str, Any] | None = None,
        **sampling: Any,
    ) -> ChatResult:
        """Awaitable :meth:`chat`, for async workflows on any event loop."""
        fut = self._chat_call(messages, model, node, tools, tool_choice, response_format, sampling)
        return await asyncio.wrap_future(fut)

    def _tool_call(
        self,
        fn: Callable[..., Any],
        args: Sequence[Any],
        kwargs: Mapping[str, Any] | None,
        pure: bool,
        node: str | None,
        retry: RetryPolicy | None,
        on_loop: bool,
    ) -> concurrent.futures.Future[Any]:
        inst = current_instance()
        label = self._node(inst, node, getattr(fn, "__name__", "tool"))
        policy = retry or policy_of(fn)
        call = ToolCall(
            next(self._ids), fn, tuple(args), dict(kwargs or {}), pure, inst, label, policy
        )
        if on_loop and inspect.iscoroutinefunction(fn):
            call.loop, call.context = asyncio.get_running_loop(), contextvars.copy_context()
        journal = inst.journal if inst is not None else None
        if journal is None:
            return self._processor.submit_tool(call)
        ticket, value = journal.lookup(label, call.key, "tool", side_effect=not pure)
        if value is not MISS:
            return _done(value)
        if not pure:  # journaled where it runs, before and after
            call.fn = journal.around(ticket, fn)
            return self._processor.submit_tool(call)
        return _journaled(journal, ticket, self._processor.submit_tool(call))

    def call_tool(
        self,
        fn: Callable[..., Any],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        pure: bool = False,
        node: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> Any:
        """Run ``fn(*args, **kwargs)`` on the tool pool; ``pure`` calls are merged across instances.

        A merged result reaches each caller as its own deep copy. Exceptions come back as
        :class:`~halo_core.errors.ToolCallError` naming the instance and the tool; its
        ``__cause__`` is the very exception the tool raised (a merged caller gets an equal one,
        made without running its ``__init__`` again). ``retry`` (default: the policy declared with
        :func:`halo_core.retry`, else none) tries it again on the errors it names. The tool's own
        arguments stay in ``args`` / ``kwargs``, apart from Halo's.
        """
        return self._tool_call(fn, args, kwargs, pure, node, retry, False).result()

    async def acall_tool(
        self,
        fn: Callable[..., Any],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        pure: bool = False,
        node: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> Any:
        """Awaitable :meth:`call_tool`. An ``async def`` tool runs as a task on the caller's loop,
        in the caller's context (it may use the loop's clients and make Halo calls itself)."""
        fut = self._tool_call(fn, args, kwargs, pure, node, retry, True)
        return await asyncio.wrap_future(fut)

    def tool(
        self,
        fn: Callable[..., Any],
        /,
        *args: Any,
        pure: bool = False,
        node: str | None = None,
        retry: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> Any:
        """:meth:`call_tool` written as a call: ``s.tool(fn, x, y=1, pure=True)``. A tool with
        parameters named ``pure``, ``node`` or ``retry`` goes through :meth:`call_tool`."""
        return self.call_tool(fn, args, kwargs, pure=pure, node=node, retry=retry)

    async def atool(
        self,
        fn: Callable[..., Any],
        /,
        *args: Any,
        pure: bool = False,
        node: str | None = None,
        retry: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> Any:
        """Awaitable :meth:`tool`."""
        return await self.acall_tool(fn, args, kwargs, pure=pure, node=node, retry=retry)

    @contextmanager
    def _outside(self, model: str, node: str | None) -> Iterator[None]:
        inst = current_instance()
        label = self._node(inst, node, "llm")
        rec = self._processor.record_passthrough(next(self._ids), inst, label, model)
        try:
            yield
        except Exception as e:
            rec.error = f"{type(e).__name__}: {e}"
            raise
        finally:
            rec.finished_s = self._processor.now()

    def passthrough(self, fn: Callable[[], Any], *, model: str, node: str | None = None) -> Any:
        """Run ``fn()`` now, in the caller, for a call Halo does not serve (a model the adapter's
        binding leaves to its own client); the graph records it with ``passthrough=True``."""
        with self._outside(model, node):
            return fn()

    async def apassthrough(
        self, fn: Callable[[], Awaitable[Any]], *, model: str, node: str | None = None
    ) -> Any:
        """Awaitable :meth:`passthrough`."""
        with self._outside(model, node):
            return await fn()

    def passthrough_stream(
        self, stream: Iterable[T], *, model: str, node: str | None = None
    ) -> Iterator[T]:
        """``stream``'s items as they come, for a stream Halo does not serve, recorded as one
        passthrough call from the first item asked for to its end (closing this closes it)."""
        with self._outside(model, node):
            yield from stream

    async def apassthrough_stream(
        self, stream: AsyncIterator[T], *, model: str, node: str | None = None
    ) -> AsyncGenerator[T, None]:
        """Async :meth:`passthrough_stream`: cancelling or closing it closes ``stream``."""
        with self._outside(model, node):
            try:
                async for item in stream:
                    yield item
            finally:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    await aclose()

    # ---- batches -----------------------------------------------------------------------------
    def _instances(
        self, indices: list[int], width: int, journals: Sequence[InstanceJournal | None]
    ) -> list[InstanceRef]:
        """New instances for the inputs at ``indices`` (with their journals); the first
        ``width`` (those that start at once) live from now, so epochs wait for them until they
        block on Halo or end, even before their threads run. The others become live as they
        start, when a running one ends."""
        refs = [InstanceRef(next(self._instance_ids), i, journal=journals[i]) for i in indices]
        for ref in refs[:width]:
            self._processor.instance_started(ref.uid)
        return refs

    @contextmanager
    def instance(self) -> Iterator[InstanceRef]:
        """Run the block as one workflow instance, live until the block ends (for adapters
        whose framework starts instances itself, e.g. each ``team.run`` of an AutoGen
        ``asyncio.gather``): its calls coalesce with those of every other live instance. The
        instance's ``index`` is its ``uid``; exceptions propagate."""
        ref = InstanceRef(next(self._instance_ids), 0)
        ref.index = ref.uid
        self._processor.instance_started(ref.uid)
        token = enter_instance(ref)
        try:
            yield ref
        finally:
            with suppress(ValueError):  # left from another context (async generator)
                leave_instance(token)
            self._processor.instance_finished(ref.uid)

    def _run_sync_instance(self, fn: Callable[[Any], Any], inst: InstanceRef, x: Any) -> Any:
        self._processor.instance_started(inst.uid)
        token = enter_instance(inst)
        try:
            while True:
                try:
                    result = fn(x)
                except Exception as e:  # the instance fails alone; its exception is its result
                    if _restarts(inst, e):
                        continue
                    log.info("instance %d failed: %s", inst.index, e)
                    result = e
                return _finished(inst, result)
        finally:
            leave_instance(token)
            self._processor.instance_finished(inst.uid)

    async def _run_async_instance(
        self, fn: Callable[[Any], Awaitable[Any]], inst: InstanceRef, x: Any, sem: asyncio.Semaphore
    ) -> Any:
        async with sem:
            self._processor.instance_started(inst.uid)
            enter_instance(inst)  # this task's own context
            try:
                while True:
                    try:
                        result = await fn(x)
                    except Exception as e:
                        if _restarts(inst, e):
                            continue
                        log.info("instance %d failed: %s", inst.index, e)
                        result = e
                    return _finished(inst, result)
            finally:
                self._processor.instance_finished(inst.uid)

    @staticmethod
    def _start(
        items: list[Any], journal: Journal | None, keys: Sequence[Any] | None
    ) -> tuple[list[Any], list[int], list[InstanceJournal | None]]:
        """Results known before running (from the journal), the inputs left to run and
        each input's instance journal."""
        if journal is None:
            if keys is not None:
                raise ConfigError("keys= name the instances of a journal: give journal= too")
            return [None] * len(items), list(range(len(items))), [None] * len(items)
        starts = journal.begin(items, keys)
        results = [None if st.result is MISS else st.result for st in starts]
        todo = [i for i, st in enumerate(starts) if st.result is MISS]
        return results, todo, [st.journal for st in starts]

    def run(
        self,
        fn: Callable[[Any], Any],
        inputs: Iterable[Any],
        *,
        max_concurrency: int | None = None,
        progress: bool | None = None,
        desc: str = "halo",
        journal: Journal | None = None,
        keys: Sequence[Any] | None = None,
    ) -> RunReport:
        """Run ``fn(x)`` for every input concurrently, as workflow instances; return a report.

        Sync ``fn`` runs one thread per instance, up to ``max_concurrency`` at once (default:
        ``SessionConfig.max_live_instances``);
        ``async def fn`` runs as tasks on a fresh event loop (use :meth:`arun` inside a loop).
        A failed instance's exception becomes its result; the others go on. With a
        ``journal``, finished instances come from it and completed calls are answered from
        it (see :class:`~halo_core.journal.Journal`); ``keys`` name the instances (row ids;
        default: position and a hash of the input).
        """
        if inspect.iscoroutinefunction(fn):
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return asyncio.run(
                    self.arun(
                        fn,
                        inputs,
                        max_concurrency=max_concurrency,
                        progress=progress,
                        desc=desc,
                        journal=journal,
                        keys=keys,
                    )
                )
            raise HaloError(
                "Session.run was called inside a running event loop: use `await session.arun(...)`"
            )
        items = list(inputs)
        before, since, t0 = self._marks()
        results, todo, journals = self._start(items, journal, keys)
        workers = self._live_width(len(todo), max_concurrency)
        with (
            concurrent.futures.ThreadPoolExecutor(
                workers, thread_name_prefix="halo-instance"
            ) as pool,
            _Progress(len(items), results, todo, desc, progress) as bar,
        ):
            refs = self._instances(todo, workers, journals)
            futs = {pool.submit(self._run_sync_instance, fn, r, items[r.index]): r for r in refs}
            for f in concurrent.futures.as_completed(futs):
                results[futs[f].index] = f.result()
                bar.landed(f.result())
        return self._report(results, refs, t0, before, since, journal)

    async def arun(
        self,
        fn: Callable[[Any], Awaitable[Any]],
        inputs: Iterable[Any],
        *,
        max_concurrency: int | None = None,
        progress: bool | None = None,
        desc: str = "halo",
        journal: Journal | None = None,
        keys: Sequence[Any] | None = None,
    ) -> RunReport:
        """Async :meth:`run` for ``async def`` workflows.

        Sync code that the instances hand to the loop's default executor (LangGraph runs sync
        nodes there) gets one thread per running instance: the loop's default executor is
        enlarged to the instances running at once (``max_concurrency``, default
        ``SessionConfig.max_live_instances``) threads, created as needed. asyncio's own
        default, ``min(32, cpus + 4)`` threads, would let only a handful of instances run.
        """
        items = list(inputs)
        before, since, t0 = self._marks()
        results, todo, journals = self._start(items, journal, keys)
        width = self._live_width(len(todo), max_concurrency)
        _widen_default_executor(asyncio.get_running_loop(), width)
        sem = asyncio.Semaphore(width)
        refs = self._instances(todo, width, journals)
        tasks = [
            asyncio.ensure_future(self._run_async_instance(fn, r, items[r.index], sem))
            for r in refs
        ]
        with _Progress(len(items), results, todo, desc, progress) as bar:
            for t in tasks:
                t.add_done_callback(lambda t: bar.landed(t.result()))
            for r, result in zip(refs, await asyncio.gather(*tasks), strict=True):
                results[r.index] = result
        return self._report(results, refs, t0, before, since, journal)

    def _live_width(self, n: int, max_concurrency: int | None) -> int:
        """How many of ``n`` instances run at once: ``max_concurrency`` if given, else
        ``SessionConfig.max_live_instances``."""
        cap = max_concurrency or self.config.max_live_instances
        if cap == "auto":
            cap = sum(e.max_num_seqs for e in self.engines.values())
        return max(1, min(n, cap or n))

    def map(self, fn: Callable[[Any], Any], inputs: Iterable[Any], **kw: Any) -> list[Any]:
        """:meth:`run`'s results in input order (a failed instance's exception as its result)."""
        return self.run(fn, inputs, **kw).results

    async def amap(
        self, fn: Callable[[Any], Awaitable[Any]], inputs: Iterable[Any], **kw: Any
    ) -> list[Any]:
        """Async :meth:`map`."""
        return (await self.arun(fn, inputs, **kw)).results

    def _marks(self) -> tuple[_Marks, int, float]:
        costs = {k: self.step_cost(k) for k in self.engines}
        return (
            (self.counters(), self._processor.plan_s, costs),
            self.graph.next_call_id(),
            time.perf_counter(),
        )

    def _predicted_s(
        self, costs: dict[str, StepCost | None], records: list[CallRecord]
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
            engine = self.engines[key]
            specs[key] = EngineWork(work, cost, engine.max_num_batched_tokens, engine.max_num_seqs)
        return {k: sim.busy_s for k, sim in simulate_shared(specs).items()}

    def _makespan(
        self, costs: dict[str, StepCost | None], records: list[CallRecord]
    ) -> Predicted | None:
        """The run's calls' makespan (first submission to last end) and its closed-loop
        forecast; None without calls or when an engine the run used has no cost model."""
        ran = [r for r in records if r.finished_s is not None and not r.passthrough]
        used = {r.model for r in ran if r.kind == "llm" and r.executed}
        if not ran or any(costs.get(k) is None for k in used):
            return None
        measured = max(r.finished_s or 0.0 for r in ran) - min(r.submitted_s for r in ran)
        engines = {
            k: EngineWork(
                (), c, self.engines[k].max_num_batched_tokens, self.engines[k].max_num_seqs
            )
            for k, c in costs.items()
            if c is not None
        }
        return Predicted(measured, forecast(calls_of(ran), engines).makespan_s)

    def _report(
        self,
        results: list[Any],
        refs: list[InstanceRef],
        t0: float,
        before: _Marks,
        since: int,
        journal: Journal | None = None,
    ) -> RunReport:
        wall = time.perf_counter() - t0
        counters, plan_s, costs = before
        after = self.counters()
        delta = {k: after[k] - counters[k] for k in after}
        records = [r for r in self.graph if r.call_id >= since]
        summary = self.graph.summary(since)
        plan_s = self._processor.plan_s - plan_s
        uids = [-1] * len(results)  # -1: an instance returned from the journal
        for r in refs:
            uids[r.index] = r.uid
        predicted = self._predicted_s(costs, records)
        times = {k: Predicted(d.step_s, predicted.get(k)) for k, d in delta.items() if d.steps}
        return RunReport(
            results,
            wall,
            summary,
            delta,
            records,
            plan_s,
            uids,
            times,
            self._makespan(costs, records),
            journal.counts() if journal is not None else None,
        )


#: A run's starting marks: engine counters, planning time so far, each engine's step cost.
_Marks = tuple[dict[str, EngineCounters], float, dict[str, StepCost | None]]

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


def _restarts(inst: InstanceRef, error: Exception) -> bool:
    """Whether a failed journaled instance runs again from scratch: it differed from its
    journal, which says to discard it then (once)."""
    journal = inst.journal
    cause = error if isinstance(error, _DISCARDABLE) else error.__cause__
    if journal is None or not journal.discard_on_mismatch or journal.restarted:
        return False
    if not isinstance(cause, _DISCARDABLE):
        return False
    log.info("instance %d: %s; its journal is discarded, it runs again", inst.index, cause)
    inst.journal = journal.restart()
    inst.calls_made = 0  # its calls are numbered from the start again
    return True


def _finished(inst: InstanceRef, result: Any) -> Any:
    """An instance's result, written to its journal first."""
    if inst.journal is not None:
        inst.journal.finish(inst.index, result)
    return result


class _Progress:
    """The run's progress bar: done / failed, and how many came from the journal."""

    def __init__(
        self, total: int, known: list[Any], todo: list[int], desc: str, progress: bool | None
    ):
        skipped = set(range(total)) - set(todo)
        self.resumed = len(skipped)
        self.failed = sum(isinstance(known[i], BaseException) for i in skipped)
        self.done = self.resumed - self.failed
        self.bar = tqdm(total=total, initial=self.resumed, desc=desc, disable=_no_bar(progress))
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


#: Errors after which ``on_mismatch="discard"`` runs an instance again from scratch.
_DISCARDABLE = (JournalMismatchError, InterruptedCallError)


def _done(value: Any) -> concurrent.futures.Future[Any]:
    fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
    fut.set_result(value)
    return fut


def _journaled(
    journal: InstanceJournal, ticket: Ticket, fut: concurrent.futures.Future[Any]
) -> concurrent.futures.Future[Any]:
    """The caller's future for a journaled call: resolved only after the call's result is
    written (a failure is not written), so nothing the caller does next can precede it."""
    out: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def settle(done: concurrent.futures.Future[Any]) -> None:
        error = done.exception()
        try:
            journal.settle(ticket, done.result() if error is None else None, ok=error is None)
        finally:
            if error is None:
                out.set_result(done.result())
            else:
                out.set_exception(error)

    fut.add_done_callback(settle)
    return out


def _no_bar(progress: bool | None) -> bool | None:
    return None if progress is None else not progress
