"""Route LangChain chat-model and tool calls through the active Halo binding.

Bind with :func:`halo_adapters.bind`; the hook points (class-level, installed at import and on
entering a binding, inert outside one):

* ``BaseChatModel._generate_with_cache`` / ``_agenerate_with_cache``: ``generate()`` opens the
  callback run (``on_chat_model_start``) before it calls them and closes it (``on_llm_end`` /
  ``on_llm_error``) after, so callbacks, tracing and ``run_manager`` stay outside Halo. The LLM
  cache lookup/update (which lives *inside* ``_generate_with_cache``) is redone here, so caches keep
  working; the rate limiter is skipped (Halo schedules the engine itself).
* ``BaseChatModel.stream`` / ``astream`` (for models that inherit them): under a binding they fall
  back to one ``invoke`` yielding one chunk, as LangChain does for models without streaming, so a
  direct ``.stream()`` cannot slip past Halo to the model's own endpoint.
* ``BaseChatModel._iter_v2_events`` / ``_aiter_v2_events``: the v2 event path (``stream_events(
  version="v3")`` and invokes with a v2 streaming handler) gets the events of Halo's answer.
* ``BaseTool.run`` / ``arun`` mark the call; the concrete tool class's ``_run`` (and, for an
  async-native tool, its ``_arun``) is wrapped (once, on first use) so that only the tool body runs
  through Halo via ``Session.call_tool`` / ``acall_tool`` (sync bodies on the tool pool, async ones
  on the caller's loop), raising the very exception the tool raised. Callbacks
  (``on_tool_start`` / ``on_tool_end`` / ``on_tool_error``), input validation, error handling
  (``handle_tool_error``) and the ``ToolMessage`` formatting (with each caller's own
  ``tool_call_id``) stay in the caller, so merged pure calls still look like separate calls.

A model the binding does not serve (``unmapped="passthrough"``) runs LangChain's own code for
each of these paths, wrapped in ``Session.passthrough`` / ``passthrough_stream`` (and their async
twins) so the session's graph records the call; its streams stream chunk by chunk, and stop when
their consumer does (chat models it calls run unhooked).

Requests and results are built by :mod:`halo_adapters._langchain_requests` (for ``ChatOpenAI``:
its own request payload and result parsing, so tool calls and structured output come back as
from ``vllm serve``). Known gap: a served model's stream is one chunk carrying the whole answer
(Halo answers whole).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import langchain_core
from langchain_core.caches import BaseCache
from langchain_core.globals import get_llm_cache
from langchain_core.language_models._compat_bridge import chunks_to_events
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.load import dumps
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import BaseTool, StructuredTool, Tool

from halo_adapters._hooking import (
    Patches,
    PatchSpec,
    ProbeSession,
    astepped,
    name_body,
    own_error,
    set_var,
    stepped,
)
from halo_adapters._langchain_requests import (
    as_chunk,
    build_request,
    build_result,
    graph_node,
    model_id,
    one_chunk,
)
from halo_adapters._pure import marked_pure
from halo_adapters.binding import Binding, active, in_context
from halo_core import ToolCallError
from halo_core.runtime.retry import RetryPolicy, policy_of

__all__ = ["install", "installed", "self_test", "uninstall"]

T = TypeVar("T")


_in_tool_pool: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "halo_lc_in_tool_pool", default=False
)
#: inside a passed-through call: the model's own LangChain code runs unhooked
_passing: contextvars.ContextVar[bool] = contextvars.ContextVar("halo_lc_passing", default=False)


def _binding() -> Binding | None:
    """The active binding, unless a passed-through model's own code is running."""
    return None if _passing.get() else active()


def _wants_stream(model: BaseChatModel, async_api: bool, run_manager: Any, kw: Any) -> bool:
    try:
        return bool(model._should_stream(async_api=async_api, run_manager=run_manager, **kw))
    except Exception:  # private API drift: streaming handlers just get no token
        return False


class _Cache:
    """The LLM-cache lookup/update ``_generate_with_cache`` does, redone around Halo's call."""

    def __init__(self, model: BaseChatModel, messages: list[BaseMessage], stop: Any, kw: Any):
        self.model = model
        self.cache: Any = model.cache if isinstance(model.cache, BaseCache) else get_llm_cache()
        self.on = model.cache is not False and self.cache is not None
        if model.cache is not False and model.cache is not None and self.cache is None:
            raise ValueError("Asked to cache, but no cache found at `langchain.cache`.")
        if self.on:
            self.llm_string = model._get_llm_string(stop=stop, **kw)
            normalized = [
                m.model_copy(update={"id": None}) if getattr(m, "id", None) is not None else m
                for m in messages
            ]
            self.prompt = dumps(normalized)

    def lookup(self) -> ChatResult | None:
        if not self.on:
            return None
        hit = self.cache.lookup(self.prompt, self.llm_string)
        if isinstance(hit, list):
            return ChatResult(generations=self.model._convert_cached_generations(hit))
        return None

    async def alookup(self) -> ChatResult | None:
        if not self.on:
            return None
        hit = await self.cache.alookup(self.prompt, self.llm_string)
        if isinstance(hit, list):
            return ChatResult(generations=self.model._convert_cached_generations(hit))
        return None

    def update(self, result: ChatResult) -> None:
        if self.on:
            self.cache.update(self.prompt, self.llm_string, result.generations)

    async def aupdate(self, result: ChatResult) -> None:
        if self.on:
            await self.cache.aupdate(self.prompt, self.llm_string, result.generations)


# ---- the chat-model hooks --------------------------------------------------------------------


def _wants_protocol_stream(
    model: BaseChatModel, async_api: bool, run_manager: Any, kw: Any
) -> bool:
    fn = getattr(model, "_should_use_protocol_streaming", None)
    try:
        return fn is not None and bool(fn(async_api=async_api, run_manager=run_manager, **kw))
    except Exception:  # private API drift: v2 handlers just get no events
        return False


def _passthrough(b: Binding, model: BaseChatModel, node: str | None, fn: Callable[[], T]) -> T:
    """``fn()`` (LangChain's own code for a model Halo does not serve), recorded by the session."""
    with _passing_scope():
        return b.session.passthrough(fn, model=_label(model), node=node)


async def _apassthrough(
    b: Binding, model: BaseChatModel, node: str | None, afn: Callable[[], Awaitable[T]]
) -> T:
    """Async :func:`_passthrough`."""
    with _passing_scope():
        return await b.session.apassthrough(afn, model=_label(model), node=node)


def _label(model: BaseChatModel) -> str:
    return model_id(model) or type(model).__name__


def _passing_scope() -> contextlib.AbstractContextManager[None]:
    return set_var(_passing, True)


def _passthrough_stream(
    b: Binding, model: BaseChatModel, node: str | None, own: Iterator[T]
) -> Iterator[T]:
    """A passed-through stream, item by item (the model's own code runs unhooked)."""
    items = stepped(own, _passing_scope)
    return b.session.passthrough_stream(items, model=_label(model), node=node)


def _apassthrough_stream(
    b: Binding, model: BaseChatModel, node: str | None, own: AsyncIterator[T]
) -> AsyncIterator[T]:
    """Async :func:`_passthrough_stream` (close it: ``contextlib.aclosing``)."""
    items = astepped(own, _passing_scope)
    return b.session.apassthrough_stream(items, model=_label(model), node=node)


def _halo_chat(
    b: Binding, model: BaseChatModel, messages: list[BaseMessage], stop: Any, rm: Any, kw: Any
) -> ChatResult:
    engine = b.engine_for(model_id(model), type(model).__name__)
    req = build_request(engine, model, messages, stop, rm, kw)
    return build_result(model, req, b.session.chat(req.messages, **req.send_kwargs()), rm)


async def _ahalo_chat(
    b: Binding, model: BaseChatModel, messages: list[BaseMessage], stop: Any, rm: Any, kw: Any
) -> ChatResult:
    engine = b.engine_for(model_id(model), type(model).__name__)
    req = build_request(engine, model, messages, stop, rm, kw)
    return build_result(model, req, await b.session.achat(req.messages, **req.send_kwargs()), rm)


def _generate_with_cache(
    self: BaseChatModel,
    messages: list[BaseMessage],
    stop: list[str] | None = None,
    run_manager: Any = None,
    **kwargs: Any,
) -> ChatResult:
    b = _binding()

    def own() -> ChatResult:
        return _originals["gen"](self, messages, stop=stop, run_manager=run_manager, **kwargs)

    if b is not None and not b.serves(model_id(self)):
        return _passthrough(b, self, graph_node(run_manager), own)
    if b is None or _wants_protocol_stream(self, False, run_manager, kwargs):
        # unbound, or v2 event streaming: LangChain's own path (its events come from the hooked
        # _iter_v2_events below, so the answer still comes from Halo)
        return own()
    cache = _Cache(self, messages, stop, kwargs)
    hit = cache.lookup()
    if hit is not None:
        return hit
    result = _halo_chat(b, self, messages, stop, run_manager, kwargs)
    if run_manager is not None and _wants_stream(self, False, run_manager, kwargs):
        chunk = one_chunk(result)
        run_manager.on_llm_new_token(chunk.text, chunk=chunk)
    cache.update(result)
    return result


async def _agenerate_with_cache(
    self: BaseChatModel,
    messages: list[BaseMessage],
    stop: list[str] | None = None,
    run_manager: Any = None,
    **kwargs: Any,
) -> ChatResult:
    b = _binding()

    async def own() -> ChatResult:
        return await _originals["agen"](
            self, messages, stop=stop, run_manager=run_manager, **kwargs
        )

    if b is not None and not b.serves(model_id(self)):
        return await _apassthrough(b, self, graph_node(run_manager), own)
    if b is None or _wants_protocol_stream(self, True, run_manager, kwargs):
        return await own()
    cache = _Cache(self, messages, stop, kwargs)
    hit = await cache.alookup()
    if hit is not None:
        return hit
    result = await _ahalo_chat(b, self, messages, stop, run_manager, kwargs)
    if run_manager is not None and _wants_stream(self, True, run_manager, kwargs):
        chunk = one_chunk(result)
        await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
    await cache.aupdate(result)
    return result


def _iter_v2_events(
    self: BaseChatModel,
    messages: list[BaseMessage],
    *,
    run_manager: Any,
    stream: Any,
    stop: list[str] | None = None,
    **kwargs: Any,
) -> Iterator[Any]:
    """The v2 event path (``stream_events(version="v3")``, v2 handlers): events of Halo's answer,
    dispatched as LangChain's ``_stream`` bridge would dispatch them."""
    b = _binding()

    def own() -> Iterator[Any]:
        return _originals["v2"](
            self, messages, run_manager=run_manager, stream=stream, stop=stop, **kwargs
        )

    if b is None:
        yield from own()
        return
    if not b.serves(model_id(self)):
        yield from _passthrough_stream(b, self, graph_node(run_manager), own())
        return
    chunk = one_chunk(_halo_chat(b, self, messages, stop, run_manager, kwargs))
    for event in chunks_to_events(
        iter([chunk]), message_id=stream.message_id, generation_info=stream._generation_info
    ):
        stream.dispatch(event)
        run_manager.on_stream_event(event)
        yield event


async def _aiter_v2_events(
    self: BaseChatModel,
    messages: list[BaseMessage],
    *,
    run_manager: Any,
    stream: Any,
    stop: list[str] | None = None,
    **kwargs: Any,
) -> AsyncIterator[Any]:
    """Async :func:`_iter_v2_events`."""
    b = _binding()

    def own() -> AsyncIterator[Any]:
        return _originals["av2"](
            self, messages, run_manager=run_manager, stream=stream, stop=stop, **kwargs
        )

    if b is None:
        async for e in own():
            yield e
        return
    if not b.serves(model_id(self)):
        events = _apassthrough_stream(b, self, graph_node(run_manager), own())
        async with contextlib.aclosing(events):
            async for e in events:
                yield e
        return
    chunk = one_chunk(await _ahalo_chat(b, self, messages, stop, run_manager, kwargs))
    for event in chunks_to_events(
        iter([chunk]), message_id=stream.message_id, generation_info=stream._generation_info
    ):
        stream.dispatch(event)
        await run_manager.on_stream_event(event)
        yield event


def _stream(
    self: BaseChatModel, input: Any, config: Any = None, *, stop: Any = None, **kwargs: Any
) -> Iterator[Any]:
    b = _binding()

    def own() -> Iterator[Any]:
        return _originals["stream"](self, input, config, stop=stop, **kwargs)

    if b is None:
        yield from own()
    elif not b.serves(model_id(self)):
        yield from _passthrough_stream(b, self, graph_node(None, config), own())
    else:
        yield as_chunk(self.invoke(input, config=config, stop=stop, **kwargs))


async def _astream(
    self: BaseChatModel, input: Any, config: Any = None, *, stop: Any = None, **kwargs: Any
) -> AsyncIterator[Any]:
    b = _binding()

    def own() -> AsyncIterator[Any]:
        return _originals["astream"](self, input, config, stop=stop, **kwargs)

    if b is None:
        async for chunk in own():
            yield chunk
    elif not b.serves(model_id(self)):
        chunks = _apassthrough_stream(b, self, graph_node(None, config), own())
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                yield chunk
    else:
        yield as_chunk(await self.ainvoke(input, config=config, stop=stop, **kwargs))


# ---- the tool hooks --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Route:
    binding: Binding
    tool: BaseTool
    node: str


_route: contextvars.ContextVar[_Route | None] = contextvars.ContextVar(
    "halo_lc_tool_route", default=None
)
_wrapped: dict[tuple[type, str], Any] = {}  # (tool class, "_run"/"_arun") -> its own, if any
_wrap_lock = threading.Lock()
_NOT_KEYED = ("run_manager", "config", "callbacks")


def _retry_of(tool: BaseTool, func: Any) -> RetryPolicy | None:
    """The tool's retry policy: ``metadata={"halo_retry": RetryPolicy(...)}`` or
    :func:`halo_core.retry` on its function; none by default."""
    policy = (tool.metadata or {}).get("halo_retry")
    return policy if isinstance(policy, RetryPolicy) else policy_of(func)


_Method = Callable[..., Any]


def _routed(cls: type, name: str, make: Callable[[_Method], _Method]) -> None:
    """Wrap ``cls.<name>`` (``_run`` or ``_arun``) once with ``make(original)``."""
    key = (cls, name)
    with _wrap_lock:
        current = getattr(cls, name)
        if getattr(current, "__halo_wrapped__", False) or key in _wrapped:
            return
        wrapper = functools.wraps(current)(make(current))
        wrapper.__halo_wrapped__ = True  # type: ignore[attr-defined]
        _wrapped[key] = cls.__dict__.get(name)
        setattr(cls, name, wrapper)


def _session_for(self: BaseTool, body: Callable[..., Any], func: Any) -> tuple[Any, dict[str, Any]]:
    """The routed call's session and Halo's options for it (``body`` named for the dedup key:
    the function behind the tool, its name, its arguments)."""
    name_body(body, func, type(self), self.name)
    route = _route.get()
    assert route is not None
    options = {"pure": marked_pure(self, func), "node": route.node, "retry": _retry_of(self, func)}
    return route.binding.session, options


def _mine(self: BaseTool) -> bool:
    """Whether this call of ``self`` is one the hooks routed (and not already in its body)."""
    route = _route.get()
    return route is not None and route.tool is self and not _in_tool_pool.get()


def _run_through_halo(original: _Method) -> _Method:
    def _run(self: BaseTool, *args: Any, **kwargs: Any) -> Any:
        if not _mine(self):
            return original(self, *args, **kwargs)
        hidden = {k: kwargs.pop(k) for k in _NOT_KEYED if k in kwargs}
        ctx = contextvars.copy_context()  # the tool sees the caller's config / tracing

        def body(*a: Any, **kw: Any) -> Any:
            def inner() -> Any:
                _in_tool_pool.set(True)
                return original(self, *a, **kw, **hidden)

            return ctx.run(inner)

        session, options = _session_for(self, body, getattr(self, "func", None))
        try:
            return session.call_tool(body, args, kwargs, **options)
        except ToolCallError as e:
            error = own_error(e)
        raise error

    return _run


def _arun_through_halo(original: _Method) -> _Method:
    async def _arun(self: BaseTool, *args: Any, **kwargs: Any) -> Any:
        if not _mine(self) or not _async_native(self):
            return await original(self, *args, **kwargs)
        hidden = {k: kwargs.pop(k) for k in _NOT_KEYED if k in kwargs}

        async def body(*a: Any, **kw: Any) -> Any:  # a task of its own, in the caller's context
            _in_tool_pool.set(True)
            return await original(self, *a, **kw, **hidden)

        session, options = _session_for(self, body, getattr(self, "coroutine", None))
        try:
            return await session.acall_tool(body, args, kwargs, **options)
        except ToolCallError as e:
            error = own_error(e)
        raise error

    return _arun


def _async_native(tool: BaseTool) -> bool:
    """Whether ``arun`` runs an async body (a ``coroutine`` or an own ``_arun``); else LangChain
    runs the sync ``_run`` in an executor."""
    if getattr(tool, "coroutine", None) is not None:
        return True
    return type(tool)._arun is not BaseTool._arun and not isinstance(tool, StructuredTool | Tool)


def _tool_node(tool: BaseTool, kwargs: Mapping[str, Any]) -> str:
    node = graph_node(None, kwargs.get("config"))
    return f"{node}:{tool.name}" if node else tool.name


def _tool_run(self: BaseTool, tool_input: Any, *args: Any, **kwargs: Any) -> Any:
    b = active()
    if b is None or _in_tool_pool.get():
        return _originals["tool_run"](self, tool_input, *args, **kwargs)
    _routed(type(self), "_run", _run_through_halo)
    with set_var(_route, _Route(b, self, _tool_node(self, kwargs))):
        return _originals["tool_run"](self, tool_input, *args, **kwargs)


async def _tool_arun(self: BaseTool, tool_input: Any, *args: Any, **kwargs: Any) -> Any:
    b = active()
    if b is None or _in_tool_pool.get():
        return await _originals["tool_arun"](self, tool_input, *args, **kwargs)
    if _async_native(self):
        _routed(type(self), "_arun", _arun_through_halo)
    else:  # BaseTool._arun runs _run in an executor that copies this context
        _routed(type(self), "_run", _run_through_halo)
    with set_var(_route, _Route(b, self, _tool_node(self, kwargs))):
        return await _originals["tool_arun"](self, tool_input, *args, **kwargs)


# ---- install / uninstall / self-test ---------------------------------------------------------


def _unwrap_tools() -> None:
    """Give the tool classes their own ``_run`` / ``_arun`` back."""
    with _wrap_lock:
        for (tool_cls, name), own in _wrapped.items():
            if own is None:
                delattr(tool_cls, name)
            else:
                setattr(tool_cls, name, own)
        _wrapped.clear()


def _spec() -> PatchSpec:
    hooks = {
        "gen": (BaseChatModel, "_generate_with_cache", _generate_with_cache),
        "agen": (BaseChatModel, "_agenerate_with_cache", _agenerate_with_cache),
        "stream": (BaseChatModel, "stream", _stream),
        "astream": (BaseChatModel, "astream", _astream),
        "v2": (BaseChatModel, "_iter_v2_events", _iter_v2_events),
        "av2": (BaseChatModel, "_aiter_v2_events", _aiter_v2_events),
        "tool_run": (BaseTool, "run", _tool_run),
        "tool_arun": (BaseTool, "arun", _tool_arun),
    }  # each hook finds LangChain's own method under its key in _patches.originals
    return {key: (cls, name, lambda _, hook=hook: hook) for key, (cls, name, hook) in hooks.items()}


_patches = Patches(_spec, on_uninstall=_unwrap_tools)
_originals = _patches.originals
#: Whether the class-level hooks are in place.
installed = _patches.installed
#: Put the class-level hooks in place (idempotent; done at import).
install = _patches.install
#: Restore LangChain's own methods (also the tool classes' ``_run`` / ``_arun``).
uninstall = _patches.uninstall


def self_test() -> None:
    """Prove the hooks see a chat-model call and a tool call; raise ImportError if not."""

    class _ProbeModel(BaseChatModel):
        model_name: str = "halo-probe"

        @property
        def _llm_type(self) -> str:
            return "halo-probe"

        def _generate(
            self,
            messages: list[BaseMessage],
            stop: list[str] | None = None,
            run_manager: Any = None,
            **kw: Any,
        ) -> ChatResult:
            return ChatResult(generations=[ChatGeneration(message=AIMessage("not hooked"))])

    from langchain_core.tools import tool as make_tool

    @make_tool
    def _halo_probe_tool(x: str) -> str:
        """Echo."""
        return x

    probe = ProbeSession()
    with in_context(Binding(probe)):
        out = _ProbeModel().invoke("ping")
        tool_out = _halo_probe_tool.invoke({"x": "pong"})
    ok = (
        out.content == "probe"
        and probe.chats == [[{"role": "user", "content": "ping"}]]
        and tool_out == "pong"
        and probe.tools == ["_halo_probe_tool"]
    )
    if not ok:
        raise ImportError(
            "halo_adapters._langchain_hook: the hook on BaseChatModel._generate_with_cache / "
            f"BaseTool.run did not see a call with langchain-core {langchain_core.__version__}; "
            "this version's private call path differs from what the hook expects"
        )


install()
self_test()
