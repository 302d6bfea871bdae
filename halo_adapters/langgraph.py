"""Drop-in LangGraph adapter: run a compiled graph over many inputs as Halo workflow instances.

>>> import halo_adapters.langgraph as halo                        # doctest: +SKIP
>>> with halo.session(s):                                         # doctest: +SKIP
...     results = graph.batch(rows)                               # unchanged call, routed via Halo
>>> report = halo.batch(graph, rows, session=s)                   # doctest: +SKIP
>>> report.results, print(report.format())                        # doctest: +SKIP

Every chat model and tool call the graph's nodes make goes through the session (see
:mod:`halo_adapters.langchain_hook`). :func:`batch` runs one Halo instance per input, all live at
once, which lifts ``graph.batch``'s thread-pool cap (langgraph #3329); under :func:`session`,
``graph.batch`` / ``graph.abatch`` of any compiled graph take the same path (``max_concurrency``
in the config still caps them). Inside a running Halo instance (a subgraph batched from a node)
``batch`` keeps LangGraph's own behaviour.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from langchain_core.runnables import Runnable
from langchain_core.runnables.config import RunnableConfig, get_config_list
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.pregel import Pregel

from halo_adapters import langchain_hook
from halo_core.session import RunReport, Session, current_instance, enter_instance

__all__ = ["abatch", "batch", "session"]


@contextlib.contextmanager
def session(halo_session: Session, models: Mapping[str, str] | None = None) -> Iterator[Session]:
    """Route every LangChain / LangGraph call in the block through ``halo_session``.

    ``models`` maps LangChain model ids (``ChatOpenAI(model=...)``) to the session's engine keys;
    ``None`` sends every model to the session's default engine.
    """
    _install_batch_patch()
    with langchain_hook.bind(halo_session, models):
        yield halo_session


def _has_checkpointer(graph: Any) -> bool:
    return isinstance(getattr(graph, "checkpointer", None), BaseCheckpointSaver)


def _configs(
    graph: Any, config: RunnableConfig | Sequence[RunnableConfig] | None, n: int
) -> list[RunnableConfig]:
    """One config per input; with a checkpointer, a distinct ``thread_id`` for each instance
    unless the caller gave one config per input."""
    per_input = isinstance(config, Sequence) and not isinstance(config, Mapping)
    configs = get_config_list(config, n)  # type: ignore[arg-type]
    if _has_checkpointer(graph) and not per_input:
        base = (configs[0].get("configurable") or {}).get("thread_id") if configs else None
        base = base or f"halo-{uuid.uuid4().hex[:8]}"
        for i, cfg in enumerate(configs):
            cfg["configurable"] = {**(cfg.get("configurable") or {}), "thread_id": f"{base}-{i}"}
    return configs


def _instance_fn(
    call: Any, items: list[Any], configs: list[RunnableConfig], kwargs: dict[str, Any]
) -> Any:
    """``fn(i)`` for Session.run: invoke input i in a copy of the caller's context (tracing,
    parent runnable config) with Halo's instance set, as a LangGraph thread-pool task would."""
    contexts = [contextvars.copy_context() for _ in items]

    def one(i: int) -> Any:
        inst = current_instance()

        def inner() -> Any:
            enter_instance(inst)
            return call(items[i], configs[i], **kwargs)

        return contexts[i].run(inner)

    return one


def batch(
    graph: Runnable,
    inputs: Sequence[Any],
    *,
    session: Session,
    config: RunnableConfig | Sequence[RunnableConfig] | None = None,
    models: Mapping[str, str] | None = None,
    progress: bool | None = False,
    **kwargs: Any,
) -> RunReport:
    """Run ``graph.invoke(x, config)`` for every input as a Halo instance; return the run report.

    ``report.results[i]`` is input i's output, or its exception (a failed instance fails alone).
    ``kwargs`` go to ``graph.invoke`` (e.g. ``stream_mode``).
    """
    items = list(inputs)
    configs = _configs(graph, config, len(items))
    with langchain_hook.bind(session, models):
        fn = _instance_fn(graph.invoke, items, configs, kwargs)
        return session.run(fn, range(len(items)), progress=progress, desc="langgraph")


async def abatch(
    graph: Runnable,
    inputs: Sequence[Any],
    *,
    session: Session,
    config: RunnableConfig | Sequence[RunnableConfig] | None = None,
    models: Mapping[str, str] | None = None,
    progress: bool | None = False,
    **kwargs: Any,
) -> RunReport:
    """Async :func:`batch`: ``await graph.ainvoke(x, config)`` per input, as Halo instances."""
    items = list(inputs)
    configs = _configs(graph, config, len(items))

    async def one(i: int) -> Any:
        return await graph.ainvoke(items[i], configs[i], **kwargs)

    with langchain_hook.bind(session, models):
        return await session.arun(one, range(len(items)), progress=progress, desc="langgraph")


# ---- graph.batch / graph.abatch under a binding ----------------------------------------------

_patch_lock = threading.Lock()
_patched: dict[str, Any] = {}


def _routes(graph: Any, inputs: Any) -> langchain_hook.Binding | None:
    b = langchain_hook.active()
    if b is None or current_instance() is not None or len(inputs) == 0:
        return None
    if not all(hasattr(b.session, a) for a in ("run", "arun")):
        return None
    return b


def _raise_first(results: list[Any], return_exceptions: bool) -> list[Any]:
    if not return_exceptions:
        for r in results:
            if isinstance(r, Exception):
                raise r
    return results


def _pregel_batch(
    self: Pregel,
    inputs: list[Any],
    config: RunnableConfig | list[RunnableConfig] | None = None,
    *,
    return_exceptions: bool = False,
    **kwargs: Any,
) -> list[Any]:
    b = _routes(self, inputs)
    if b is None:
        return _patched["batch"](
            self, inputs, config, return_exceptions=return_exceptions, **kwargs
        )
    items = list(inputs)
    configs = get_config_list(config, len(items))
    cap = configs[0].get("max_concurrency")
    fn = _instance_fn(self.invoke, items, configs, kwargs)
    report = b.session.run(fn, range(len(items)), max_concurrency=cap, progress=False)
    return _raise_first(report.results, return_exceptions)


async def _pregel_abatch(
    self: Pregel,
    inputs: list[Any],
    config: RunnableConfig | list[RunnableConfig] | None = None,
    *,
    return_exceptions: bool = False,
    **kwargs: Any,
) -> list[Any]:
    b = _routes(self, inputs)
    if b is None:
        return await _patched["abatch"](
            self, inputs, config, return_exceptions=return_exceptions, **kwargs
        )
    items = list(inputs)
    configs = get_config_list(config, len(items))
    cap = configs[0].get("max_concurrency")

    async def one(i: int) -> Any:
        return await self.ainvoke(items[i], configs[i], **kwargs)

    report = await b.session.arun(one, range(len(items)), max_concurrency=cap, progress=False)
    return _raise_first(report.results, return_exceptions)


def _install_batch_patch() -> None:
    """Route ``Pregel.batch`` / ``abatch`` through the bound session (inert outside a binding)."""
    with _patch_lock:
        if _patched:
            return
        for name, hook in (("batch", _pregel_batch), ("abatch", _pregel_abatch)):
            original = getattr(Pregel, name)  # Runnable's (Pregel does not override it)
            _patched[name] = original
            _patched[f"own_{name}"] = Pregel.__dict__.get(name)
            setattr(Pregel, name, functools.wraps(original)(hook))


def _uninstall_batch_patch() -> None:
    with _patch_lock:
        for name in ("batch", "abatch"):
            if name in _patched:
                own = _patched.pop(f"own_{name}")
                _patched.pop(name)
                if own is None:
                    delattr(Pregel, name)
                else:
                    setattr(Pregel, name, own)


_install_batch_patch()
