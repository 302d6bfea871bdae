"""The workflow's own cost, measured apart from any LLM and from Halo: the graph on chat models
that answer at once with what an earlier run's models answered, its pure tools run once per
distinct call (as Halo runs them).

:class:`CallLog` (a LangChain callback handler) records each chat-model call of a run (the
model, the messages as the model sees them, the answer); :func:`instant_models` gives
``ChatOpenAI`` models whose ``_generate`` / ``_agenerate`` return the recorded answer without
a request; :func:`pure_tools_once` makes the suite's pure tools compute each distinct call once
(a call identical to one running waits for it); :func:`run_alone` drives the instances as Halo
drives them (``graph.ainvoke`` per input, all at once, sync nodes on a default executor as wide
as the batch); :func:`run_framework` measures a suite workload so. Its CPU seconds are the
framework's share of a Halo run (LangGraph, LangChain message handling and callbacks, the tool
bodies Halo also runs), to take off Halo's when Halo's own cost per call is wanted, and the
workflow's own CPU in the suite's bound (``benchmarks.run --framework-alone``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult, LLMResult
from langchain_core.tools import BaseTool
from langchain_openai import ChatOpenAI

from benchmarks.fleet import ROLES
from benchmarks.runners import Measured, cpu_clock
from benchmarks.suite.workloads import chat_models


def call_key(model: str, messages: Sequence[BaseMessage]) -> str:
    """A chat call's identity across runs: the model and what each message says (ids, which
    differ from run to run, left out)."""

    def said(m: BaseMessage) -> list[Any]:
        calls = [(c["name"], c["args"]) for c in getattr(m, "tool_calls", None) or []]
        return [m.type, m.content, calls, m.name]

    return json.dumps([model, [said(m) for m in messages]], sort_keys=True, default=str)


class CallLog(BaseCallbackHandler):
    """Every chat-model call of the runs it is a callback of: key → the model's answer."""

    def __init__(self) -> None:
        self.answers: dict[str, BaseMessage] = {}
        self.conflicts = 0  # keys answered differently (the replay gives the first answer)
        self._open: dict[UUID, str] = {}
        self._lock = threading.Lock()

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        **kwargs: Any,
    ) -> None:
        model = str(kwargs.get("invocation_params", {}).get("model", ""))
        with self._lock:
            self._open[run_id] = call_key(model, messages[0])

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        generation = response.generations[0][0]
        if not isinstance(generation, ChatGeneration):
            return
        with self._lock:
            key = self._open.pop(run_id, None)
            if key is None:
                return
            known = self.answers.setdefault(key, generation.message)
            if known is not generation.message and known.content != generation.message.content:
                self.conflicts += 1


class InstantChat(ChatOpenAI):
    """``ChatOpenAI`` answering from a :class:`CallLog` at once (a call it never saw raises
    ``KeyError``)."""

    log: Any = None  # the CallLog

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        answer = self.log.answers[call_key(self.model_name, messages)]
        return ChatResult(generations=[ChatGeneration(message=answer.model_copy())])

    async def _agenerate(
        self, messages: list[BaseMessage], *args: Any, **kwargs: Any
    ) -> ChatResult:
        return self._generate(messages)


def instant_models(log: CallLog, max_tokens: int) -> dict[str, Any]:
    """One instant model per suite role, configured as the suite's ``ChatOpenAI`` models are."""
    unused = dict.fromkeys(ROLES, "http://127.0.0.1:9/v1")
    return chat_models(unused, max_tokens, InstantChat, log=log)


class _Once:
    """Each distinct call of the wrapped functions computed once; its result (or exception)
    given to every identical call, one running included."""

    def __init__(self) -> None:
        self.executed = 0
        self._lock = threading.Lock()
        self._calls: dict[str, concurrent.futures.Future[Any]] = {}

    def wrap(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def once(*args: Any, **kwargs: Any) -> Any:
            key = json.dumps([name, args, kwargs], sort_keys=True, default=str)
            with self._lock:
                future = self._calls.get(key)
                mine = future is None
                if future is None:
                    future = self._calls[key] = concurrent.futures.Future()
                    self.executed += 1
            if mine:
                try:
                    future.set_result(func(*args, **kwargs))
                except BaseException as e:
                    future.set_exception(e)
            return future.result()

        return once


@contextlib.contextmanager
def pure_tools_once(tools: Sequence[BaseTool]) -> Iterator[_Once]:
    """While open, the tools among ``tools`` declared pure (``metadata["halo_pure"]``) compute
    each distinct call once; the object given out counts the executions."""
    once = _Once()
    distinct = {id(t): t for t in tools}.values()  # wrapped twice, a call would wait on itself
    pure = [t for t in distinct if (t.metadata or {}).get("halo_pure") and hasattr(t, "func")]
    saved = [t.func for t in pure]
    for t in pure:
        t.func = once.wrap(t.name, t.func)
    try:
        yield once
    finally:
        for t, func in zip(pure, saved, strict=True):
            t.func = func


async def run_alone(graph: Any, inputs: Sequence[Any]) -> list[Any]:
    """``graph.ainvoke`` per input, all at once, as Halo's runner drives a batch (each result,
    or the exception its instance raised)."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max(1, len(inputs))))
    runs = (graph.ainvoke(x) for x in inputs)
    return await asyncio.gather(*runs, return_exceptions=True)


def run_framework(
    session: Any,
    graph: Any,
    wl: Any,
    inputs: list[Any],
    models: Mapping[str, str],
    max_tokens: int,
    calls: int,
) -> Measured:
    """Suite workload ``wl``'s framework alone on ``inputs``: ``graph`` (on ``session``'s
    engines as ``models`` maps them) runs once more under Halo, unmeasured, to record the
    answers; then the workload's graph on instant models with its pure tools computed once per
    distinct call, driven as Halo drives it: the workflow's own CPU, no LLM and no Halo (whose
    pass-through hooks stay installed: one check per call). ``calls``: the LLM calls a run
    requests, for per-call figures."""
    from benchmarks.runners import run_halo
    from benchmarks.suite.workloads import _shared

    log = CallLog()
    run_halo(session, graph, inputs, wl.NAME, models, config={"callbacks": [log]})
    instant = wl.build_graph(instant_models(log, max_tokens))
    modules = (_shared, sys.modules[wl.build_graph.__module__])
    tools = [v for m in modules for v in vars(m).values() if isinstance(v, BaseTool)]
    t0 = time.perf_counter()
    with cpu_clock() as cpu, pure_tools_once(tools) as once:
        results = asyncio.run(run_alone(instant, inputs))
    return Measured(
        "framework",
        wl.NAME,
        len(inputs),
        time.perf_counter() - t0,
        llm_issued=calls,
        tool_executed=once.executed,
        failed=sum(isinstance(r, BaseException) for r in results),
        results=results,
        detail=f"pure tools run {once.executed} times",
        **cpu,
    )
