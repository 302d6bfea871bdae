"""The user-facing session: engines, processor and tool pool, and the calls that go through them."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
import itertools
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
from typing import Any, TypeVar

from halo_core.backends import Engine, EngineCounters, make_engines
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
from halo_core.env import scoped_env
from halo_core.errors import ConfigError, HaloError, LLMCallError, MalformedCallError
from halo_core.graph import ConsolidatedGraph, Totals
from halo_core.journal import MISS, Journal
from halo_core.journal.runs import done, journaled
from halo_core.logs import configure_engine_logs, engine_log_env
from halo_core.marks import is_pure
from halo_core.report import RunReport
from halo_core.runtime import (
    Observer,
    Processor,
    batch,
    current_instance,
    enter_instance,
    leave_instance,
)
from halo_core.runtime.retry import RetryPolicy, policy_of
from halo_core.runtime.waits import awaited, awaiting, blocking
from halo_core.scheduler.calibration import load_or_calibrate
from halo_core.scheduler.cost_model import StepCost, StepRecord, ToolLatency, refit
from halo_core.scheduler.critical_path import ToolTimeAhead
from halo_core.scheduler.registry import check_scheduling

T = TypeVar("T")

#: Steps an engine must have run before :meth:`Session.step_cost` refits from them.
MIN_FIT_STEPS = 32


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
        check_scheduling(config)
        self.engines: dict[str, Engine] = {}
        configure_engine_logs(config.engine_log_level)
        #: Each engine's calibrated step cost (engines with ``calibrate=True``).
        self.calibrated: dict[str, StepCost] = {}
        #: The steps each calibration was fitted to: every refit keeps them.
        self._calibration_steps: dict[str, tuple[StepRecord, ...]] = {}
        try:
            with scoped_env(engine_log_env(config.engine_log_level)):
                self.engines = make_engines(config.engines)
                for key, cfg in config.engines.items():
                    if cfg.calibrate and (calibration := load_or_calibrate(self.engines[key])):
                        self.calibrated[key] = calibration.cost
                        self._calibration_steps[key] = calibration.steps
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

    def totals(self) -> Totals:
        """Every call since the session started, held in :attr:`graph` or dropped from it
        (``SessionConfig.graph_max_records``), and the epochs' sizes: a long-lived session's
        running totals."""
        return self._processor.graph.totals(self._processor.epoch_sizes)

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
        check_scheduling(self.config, config)
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
        """The engine's step cost: refitted from its calibration's steps and its latest steps
        once it has run ``MIN_FIT_STEPS`` (:func:`~halo_core.scheduler.cost_model.refit`), else
        its calibration (``None`` before either)."""
        key = model or self.config.default_model
        records = self.engines[key].step_records()
        if len(records) >= MIN_FIT_STEPS:
            return refit(self._calibration_steps.get(key, ()), records)
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

    def _submit_chat(
        self,
        messages: list[dict[str, Any]],
        *,
        model: str | None = None,
        node: str | None = None,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: Any = None,
        response_format: dict[str, Any] | None = None,
        **sampling: Any,
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
                return done(value)
        call = LLMCall(next(self._ids), key, request, engine.sampled(request), inst, label)
        fut = self._processor.submit_llm(call)
        return fut if journal is None else journaled(journal, ticket, fut)

    chat = blocking(
        _submit_chat,
        "chat",
        """One chat call, deferred and coalesced with other instances' calls; blocks until done.

        Greedy (``temperature=0``) unless ``sampling`` says otherwise; a parameter set to
        ``None`` takes the engine's default as ``vllm serve`` would. ``tools`` / ``tool_choice`` /
        ``response_format`` follow the OpenAI chat API (tool calls need the engine's
        ``tool_call_parser``); the result carries the parsed ``content`` and ``tool_calls``.
        ``node`` labels the call in the plan (default: ``llm<call index>``).
        """,
    )
    achat = awaited(_submit_chat, "achat", "Awaitable :meth:`chat`.")

    def _submit_tool(
        self,
        fn: Callable[..., Any],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        pure: bool | None = None,
        node: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> concurrent.futures.Future[Any]:
        pure = is_pure(fn) if pure is None else pure
        inst = current_instance()
        label = self._node(inst, node, getattr(fn, "__name__", "tool"))
        policy = retry or policy_of(fn)
        call = ToolCall(
            next(self._ids), fn, tuple(args), dict(kwargs or {}), pure, inst, label, policy
        )
        if awaiting() and inspect.iscoroutinefunction(fn):
            call.loop, call.context = asyncio.get_running_loop(), contextvars.copy_context()
        journal = inst.journal if inst is not None else None
        if journal is None:
            return self._processor.submit_tool(call)
        ticket, value = journal.lookup(label, call.key, "tool", side_effect=not pure)
        if value is not MISS:
            return done(value)
        if not pure:  # journaled where it runs, before and after
            call.fn = journal.around(ticket, fn)
            return self._processor.submit_tool(call)
        return journaled(journal, ticket, self._processor.submit_tool(call))

    call_tool = blocking(
        _submit_tool,
        "call_tool",
        """Run ``fn(*args, **kwargs)`` on the tool pool; ``pure`` calls (default: ``fn`` declared
        with :func:`halo_core.pure`) are merged across instances.

        A merged result reaches each caller as its own deep copy. Exceptions come back as
        :class:`~halo_core.errors.ToolCallError` naming the instance and the tool; its
        ``__cause__`` is the very exception the tool raised (a merged caller gets an equal one,
        made without running its ``__init__`` again). ``retry`` (default: the policy declared with
        :func:`halo_core.retry`, else none) tries it again on the errors it names. The tool's own
        arguments stay in ``args`` / ``kwargs``, apart from Halo's.
        """,
    )
    acall_tool = awaited(
        _submit_tool,
        "acall_tool",
        """Awaitable :meth:`call_tool`. An ``async def`` tool runs as a task on the caller's loop,
        in the caller's context (it may use the loop's clients and make Halo calls itself).""",
    )

    def _submit_tool_call(
        self,
        fn: Callable[..., Any],
        /,
        *args: Any,
        pure: bool | None = None,
        node: str | None = None,
        retry: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> concurrent.futures.Future[Any]:
        return self._submit_tool(fn, args, kwargs, pure=pure, node=node, retry=retry)

    tool = blocking(
        _submit_tool_call,
        "tool",
        """:meth:`call_tool` written as a call: ``s.tool(fn, x, y=1, pure=True)``. A tool with
        parameters named ``pure``, ``node`` or ``retry`` goes through :meth:`call_tool`.""",
    )
    atool = awaited(_submit_tool_call, "atool", "Awaitable :meth:`tool`.")

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

    # ---- instances and batches ---------------------------------------------------------------
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
        options = (max_concurrency, progress, desc, journal, keys)
        if inspect.iscoroutinefunction(fn):
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                run = batch.arun(self, fn, batch.Batch(list(inputs), *options))
                return asyncio.run(run)
            raise HaloError(
                "Session.run was called inside a running event loop: use `await session.arun(...)`"
            )
        return batch.run(self, fn, batch.Batch(list(inputs), *options))

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
        options = (max_concurrency, progress, desc, journal, keys)
        return await batch.arun(self, fn, batch.Batch(list(inputs), *options))

    def map(self, fn: Callable[[Any], Any], inputs: Iterable[Any], **kw: Any) -> list[Any]:
        """:meth:`run`'s results in input order (a failed instance's exception as its result)."""
        return self.run(fn, inputs, **kw).results

    async def amap(
        self, fn: Callable[[Any], Awaitable[Any]], inputs: Iterable[Any], **kw: Any
    ) -> list[Any]:
        """Async :meth:`map`."""
        return (await self.arun(fn, inputs, **kw)).results
