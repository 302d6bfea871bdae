"""Drop-in LangGraph adapter: run a compiled graph over many inputs as Halo workflow instances.

>>> import halo_adapters                                                  # doctest: +SKIP
>>> with halo_adapters.bind(s):                                           # doctest: +SKIP
...     results = graph.batch(rows)                               # unchanged call, routed via Halo
>>> report = halo_adapters.langgraph.batch(graph, rows, session=s)      # doctest: +SKIP
>>> report.results, print(report.format())                        # doctest: +SKIP

Every chat model and tool call the graph's nodes make goes through the session (see
:mod:`halo_adapters._langchain_hook`). :func:`batch` / :func:`abatch` and, under a binding,
``graph.batch`` / ``graph.abatch`` of any compiled graph share one runner: one Halo instance per
input, all live at once (which lifts ``graph.batch``'s thread-pool cap, langgraph #3329) unless
the config's ``max_concurrency`` caps them, and with a checkpointer a distinct ``thread_id`` per
instance unless the caller gave one config per input. Inside a running Halo instance (a subgraph
batched from a node) ``graph.batch`` keeps LangGraph's own behaviour.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import threading
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from langchain_core.runnables import Runnable
from langchain_core.runnables.config import RunnableConfig, get_config_list
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.pregel import Pregel

from halo_adapters._langgraph_plan import explain, plan_of
from halo_adapters.binding import Binding, Unmapped, active, bind
from halo_adapters.journal_codecs import register_langchain
from halo_core import Journal, RunReport, Session
from halo_core.spi import current_instance, enter_instance

__all__ = ["abatch", "batch", "explain", "install", "plan_of"]

P = ParamSpec("P")
F = TypeVar("F", bound=Callable[..., Any])

Configs = RunnableConfig | Sequence[RunnableConfig] | None


# ---- the one runner ---------------------------------------------------------------------------


def _configs(graph: Any, config: Configs, n: int) -> list[RunnableConfig]:
    """One config per input; with a checkpointer, a distinct ``thread_id`` for each instance
    unless the caller gave one config per input."""
    per_input = isinstance(config, Sequence) and not isinstance(config, Mapping)
    configs = get_config_list(config, n)
    if isinstance(getattr(graph, "checkpointer", None), BaseCheckpointSaver) and not per_input:
        base = (configs[0].get("configurable") or {}).get("thread_id") if configs else None
        base = base or f"halo-{uuid.uuid4().hex[:8]}"
        for i, cfg in enumerate(configs):
            cfg["configurable"] = {**(cfg.get("configurable") or {}), "thread_id": f"{base}-{i}"}
    return configs


class _Batch:
    """Inputs of one graph, run as Halo instances of a session: the one runner behind
    :func:`batch` / :func:`abatch` and the patched ``graph.batch`` / ``graph.abatch``."""

    def __init__(
        self, graph: Runnable, inputs: Sequence[Any], config: Configs, kwargs: dict[str, Any]
    ):
        self.graph, self.items, self.kwargs = graph, list(inputs), kwargs
        self.configs = _configs(graph, config, len(self.items))
        # read from the first config, as Runnable.batch does
        self.cap = self.configs[0].get("max_concurrency") if self.configs else None

    def run(
        self,
        session: Session,
        progress: bool | None,
        journal: Journal | None = None,
        keys: Sequence[Any] | None = None,
    ) -> RunReport:
        """``graph.invoke`` per input, each in a copy of the caller's context (tracing, parent
        runnable config) with Halo's instance set, as a LangGraph thread-pool task would."""
        contexts = [contextvars.copy_context() for _ in self.items]

        def one(pair: tuple[int, Any]) -> Any:
            i = pair[0]
            inst = current_instance()

            def inner() -> Any:
                enter_instance(inst)
                return self.graph.invoke(self.items[i], self.configs[i], **self.kwargs)

            return contexts[i].run(inner)

        return session.run(one, self._pairs(journal), **self._options(progress, journal, keys))

    async def arun(
        self,
        session: Session,
        progress: bool | None,
        journal: Journal | None = None,
        keys: Sequence[Any] | None = None,
    ) -> RunReport:
        """``await graph.ainvoke`` per input."""

        async def one(pair: tuple[int, Any]) -> Any:
            i = pair[0]
            return await self.graph.ainvoke(self.items[i], self.configs[i], **self.kwargs)

        return await session.arun(
            one, self._pairs(journal), **self._options(progress, journal, keys)
        )

    def _options(
        self, progress: bool | None, journal: Journal | None, keys: Sequence[Any] | None
    ) -> dict[str, Any]:
        return {
            "max_concurrency": self.cap,
            "progress": progress,
            "desc": "langgraph",
            "journal": journal,
            "keys": keys,
        }

    def _pairs(self, journal: Journal | None) -> list[tuple[int, Any]]:
        """(position, input) per instance: the journal hashes the input, the runner reads the
        position."""
        if journal is not None:
            register_langchain()
        return list(enumerate(self.items))


# ---- halo.batch / halo.abatch ----------------------------------------------------------------


@dataclass
class _Call:
    """One :func:`batch` / :func:`abatch` call: the runner, its session, the binding it runs
    in, and how (progress, journal, keys)."""

    runner: _Batch
    session: Session
    binding: Callable[[], AbstractContextManager[Binding]]
    how: tuple[bool | None, Journal | None, Sequence[Any] | None]


def _call(
    graph: Runnable,
    inputs: Sequence[Any],
    *,
    session: Session,
    config: Configs = None,
    models: Mapping[str, str] | None = None,
    unmapped: Unmapped | None = None,
    progress: bool | None = False,
    journal: Journal | None = None,
    keys: Sequence[Any] | None = None,
    **kwargs: Any,
) -> _Call:
    """The parameters of :func:`batch` and :func:`abatch`, written once."""
    binding = functools.partial(bind, session, models, unmapped=unmapped)
    return _Call(_Batch(graph, inputs, config, kwargs), session, binding, (progress, journal, keys))


def _as(fn: F, name: str, doc: str) -> F:
    """``fn`` named and documented as the public function it is, with :func:`_call`'s
    parameters."""
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    fn.__signature__ = inspect.signature(_call).replace(  # type: ignore[attr-defined]
        return_annotation="RunReport"
    )
    return fn


def _batch(call: Callable[P, _Call]) -> Callable[P, RunReport]:
    def run(*args: P.args, **kwargs: P.kwargs) -> RunReport:
        c = call(*args, **kwargs)
        with c.binding():
            return c.runner.run(c.session, *c.how)

    return run


def _abatch(call: Callable[P, _Call]) -> Callable[P, Coroutine[Any, Any, RunReport]]:
    async def run(*args: P.args, **kwargs: P.kwargs) -> RunReport:
        c = call(*args, **kwargs)
        with c.binding():
            return await c.runner.arun(c.session, *c.how)

    return run


batch = _as(
    _batch(_call),
    "batch",
    """Run ``graph.invoke(x, config)`` for every input as a Halo instance; return the run report.

    ``models`` / ``unmapped`` bind as :func:`halo_adapters.bind`. ``report.results[i]`` is input
    i's output, or its exception (a failed instance fails alone). ``journal`` makes the batch
    durable (:class:`halo_core.Journal`: a re-run resumes; ``keys`` name the instances, e.g. row
    ids). ``kwargs`` go to ``graph.invoke`` (e.g. ``stream_mode``).
    """,
)
abatch = _as(
    _abatch(_call),
    "abatch",
    "Async :func:`batch`: ``await graph.ainvoke(x, config)`` per input, as Halo instances.",
)


# ---- graph.batch / graph.abatch under a binding ----------------------------------------------

_patch_lock = threading.Lock()
_patched: dict[str, Any] = {}


def _routes(inputs: Sequence[Any]) -> Binding | None:
    b = active()
    if b is None or current_instance() is not None or len(inputs) == 0:
        return None
    if not all(hasattr(b.session, a) for a in ("run", "arun")):
        return None
    return b


def _raise_first(report: RunReport, return_exceptions: bool) -> list[Any]:
    if not return_exceptions:
        for r in report.results:
            if isinstance(r, Exception):
                raise r
    return report.results


def _pregel_batch(
    self: Pregel,
    inputs: list[Any],
    config: RunnableConfig | list[RunnableConfig] | None = None,
    *,
    return_exceptions: bool = False,
    **kwargs: Any,
) -> list[Any]:
    b = _routes(inputs)
    if b is None:
        return _patched["batch"](
            self, inputs, config, return_exceptions=return_exceptions, **kwargs
        )
    report = _Batch(self, inputs, config, kwargs).run(b.session, False)
    return _raise_first(report, return_exceptions)


async def _pregel_abatch(
    self: Pregel,
    inputs: list[Any],
    config: RunnableConfig | list[RunnableConfig] | None = None,
    *,
    return_exceptions: bool = False,
    **kwargs: Any,
) -> list[Any]:
    b = _routes(inputs)
    if b is None:
        return await _patched["abatch"](
            self, inputs, config, return_exceptions=return_exceptions, **kwargs
        )
    report = await _Batch(self, inputs, config, kwargs).arun(b.session, False)
    return _raise_first(report, return_exceptions)


def install() -> None:
    """Route ``Pregel.batch`` / ``abatch`` through the active binding (inert outside one;
    idempotent; done by :func:`halo_adapters.bind`)."""
    with _patch_lock:
        if _patched:
            return
        for name, hook in (("batch", _pregel_batch), ("abatch", _pregel_abatch)):
            original = getattr(Pregel, name)  # Runnable's (Pregel does not override it)
            _patched[name] = original
            setattr(Pregel, name, functools.wraps(original)(hook))
