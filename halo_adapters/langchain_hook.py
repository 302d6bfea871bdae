"""Route LangChain chat-model and tool calls through a Halo session while a binding is active.

The hook points (class-level, installed at import, inert outside a binding):

* ``BaseChatModel._generate_with_cache`` / ``_agenerate_with_cache``: ``generate()`` opens the
  callback run (``on_chat_model_start``) before it calls them and closes it (``on_llm_end`` /
  ``on_llm_error``) after, so callbacks, tracing and ``run_manager`` stay outside Halo. The LLM
  cache lookup/update (which lives *inside* ``_generate_with_cache``) is redone here, so caches keep
  working; the rate limiter is skipped (Halo schedules the engine itself).
* ``BaseChatModel.stream`` / ``astream`` (for models that inherit them): under a binding they fall
  back to one ``invoke``, as LangChain does for models without streaming, so a direct ``.stream()``
  cannot slip past Halo to the model's own endpoint.
* ``BaseTool.run`` / ``arun`` mark the call; the concrete tool class's ``_run`` is wrapped (once, on
  first use) so that only the tool body runs on Halo's tool pool via ``Session.tool``. Callbacks
  (``on_tool_start`` / ``on_tool_end`` / ``on_tool_error``), input validation, error handling
  (``handle_tool_error``) and the ``ToolMessage`` formatting (with each caller's own
  ``tool_call_id``) stay in the caller, so merged pure calls still look like separate calls.

Known gaps of this first cut: bound ``tools`` are passed to the engine's chat template but the
output is not parsed into ``tool_calls`` (a warning says so); ``response_format`` / structured
output raises :class:`NotImplementedError`; async-native tools (a ``coroutine`` or own ``_arun``)
run natively, not on Halo's pool; the v2 streaming protocol is not emulated (a v1 streaming
handler gets the whole answer as one token).
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import functools
import logging
import threading
import warnings
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import langchain_core
from langchain_core.caches import BaseCache
from langchain_core.globals import get_llm_cache
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.load import dumps
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    convert_to_openai_messages,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables.config import var_child_runnable_config
from langchain_core.tools import BaseTool, StructuredTool, Tool

from halo_core.calls import SAMPLING_KEYS
from halo_core.calls import ChatResult as HaloChatResult
from halo_core.errors import ConfigError, HaloError, ToolCallError

log = logging.getLogger("halo.langchain")

__all__ = [
    "Binding",
    "UnmappedModelError",
    "active",
    "bind",
    "install",
    "installed",
    "pure",
    "uninstall",
]


class UnmappedModelError(HaloError, LookupError):
    """A chat model whose model id the binding's ``models`` mapping does not name."""


# ---- the binding -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Binding:
    """An active session plus how user model ids map to the session's engine keys.

    ``models=None`` sends every model to the session's default engine.
    """

    session: Any  # halo_core.Session (duck-typed: chat / achat / tool / engines / config)
    models: Mapping[str, str] | None = None

    def engine_for(self, model_id: str | None) -> str | None:
        """The engine key for a LangChain model id (``None``: the session's default)."""
        if self.models is None:
            return None
        if model_id in self.models:
            return self.models[model_id]
        raise UnmappedModelError(
            f"chat model {model_id!r} is not in the Halo binding's models mapping "
            f"{sorted(self.models)}; add it, e.g. models={{{model_id!r}: "
            f"{next(iter(self.models.values()), 'engine key')!r}}}"
        )


# Instance threads of Session.run do not inherit the caller's contextvars, so the binding is
# process-wide (a stack, for nesting). The contextvar override exists for the import self-test.
_stack: list[Binding] = []
_stack_lock = threading.Lock()
_override: contextvars.ContextVar[Binding | None] = contextvars.ContextVar(
    "halo_lc_override", default=None
)
_in_tool_pool: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "halo_lc_in_tool_pool", default=False
)


def active() -> Binding | None:
    """The binding LangChain calls are routed through right now, if any."""
    b = _override.get()
    if b is not None:
        return b
    return _stack[-1] if _stack else None


@contextlib.contextmanager
def bind(session: Any, models: Mapping[str, str] | None = None) -> Iterator[Binding]:
    """Route every LangChain chat-model and tool call through ``session`` inside the block.

    ``models`` maps LangChain model ids (``ChatOpenAI(model=...)``) to the session's engine keys;
    ``None`` sends every model to the default engine.
    """
    engines = getattr(session, "engines", None)
    if models is not None:
        models = dict(models)
        if engines is not None:
            bad = {k: v for k, v in models.items() if v not in engines}
            if bad:
                raise ConfigError(
                    f"models maps to engine(s) this session does not serve: {bad}; "
                    f"the session serves {sorted(engines)}"
                )
    install()
    b = Binding(session, models)
    with _stack_lock:
        _stack.append(b)
    try:
        yield b
    finally:
        with _stack_lock:
            # remove this binding (not blindly the top: bindings may close out of order)
            for i in range(len(_stack) - 1, -1, -1):
                if _stack[i] is b:
                    del _stack[i]
                    break


# ---- request building ------------------------------------------------------------------------

#: Parameters with no effect on the answer (or that Halo sets itself); dropped silently.
_IGNORED = frozenset(
    {
        "model",
        "model_name",
        "_type",
        "stream",
        "stream_options",
        "stream_usage",
        "user",
        "store",
        "service_tier",
        "metadata",
        "parallel_tool_calls",
        "timeout",
        "request_timeout",
        "max_retries",
    }
)
_RENAMED = {"max_completion_tokens": "max_tokens", "stop_sequences": "stop"}
_ATTRS = tuple(sorted(SAMPLING_KEYS | {"max_completion_tokens", "n"}))


def model_id(model: BaseChatModel) -> str | None:
    """The model id a LangChain chat model would send to its provider."""
    for attr in ("model_name", "model", "model_id"):
        v = getattr(model, attr, None)
        if isinstance(v, str) and v:
            return v
    return None


def _model_params(model: BaseChatModel) -> dict[str, Any]:
    """The model object's own request parameters (before per-call kwargs)."""
    params: dict[str, Any] = {}
    default = None
    if hasattr(type(model), "_default_params"):  # ChatOpenAI and most provider classes
        with contextlib.suppress(Exception):
            default = dict(model._default_params)  # type: ignore[attr-defined]
    if default is not None:
        params.update(default)
    else:
        fields = getattr(type(model), "model_fields", {})
        for name in _ATTRS:
            if name in fields:
                params[name] = getattr(model, name, None)
        for name in ("model_kwargs", "extra_body"):
            extra = getattr(model, name, None) if name in fields else None
            if isinstance(extra, Mapping):
                params.update(extra)
    return params


def sampling_for(
    model: BaseChatModel, stop: list[str] | None, kwargs: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a LangChain call into Halo sampling parameters and request extras (tools, ...).

    Unset temperature means greedy (what a vLLM server does for models whose generation config
    has no sampling defaults); unset max_tokens means the session's ``default_max_tokens``.
    Parameters Halo cannot honour raise :class:`NotImplementedError` instead of being dropped.
    """
    params = _model_params(model)
    params.update(kwargs)
    extra_body = params.pop("extra_body", None)
    if isinstance(extra_body, Mapping):
        params.update(extra_body)
    if stop is not None:
        params["stop"] = stop
    sampling: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    for key, value in params.items():
        key = _RENAMED.get(key, key)
        if value is None or key in _IGNORED:
            continue
        if key == "n":
            if value != 1:
                raise NotImplementedError(
                    f"Halo's LangChain hook supports n=1 only (got n={value})"
                )
        elif key in ("tools", "tool_choice", "functions", "function_call"):
            extras[key] = value
        elif key == "response_format":
            raise NotImplementedError(
                "structured output (response_format / with_structured_output) is not supported "
                "by Halo's LangChain hook yet"
            )
        elif key in SAMPLING_KEYS:
            sampling[key] = list(value) if key == "stop" else value
        else:
            raise NotImplementedError(
                f"Halo's LangChain hook does not support the request parameter {key!r} "
                f"(={value!r}) of {type(model).__name__} yet"
            )
    if "functions" in extras or "function_call" in extras:
        raise NotImplementedError("legacy OpenAI `functions` are not supported; bind tools")
    sampling.setdefault("temperature", 0.0)
    return sampling, extras


def _graph_node(run_manager: Any, config: Mapping[str, Any] | None = None) -> str | None:
    """The LangGraph node name of the running task, from callback or runnable-config metadata."""
    for meta in (
        getattr(run_manager, "metadata", None),
        (config or {}).get("metadata"),
        (var_child_runnable_config.get() or {}).get("metadata"),
    ):
        if isinstance(meta, Mapping) and isinstance(meta.get("langgraph_node"), str):
            return meta["langgraph_node"]
    return None


@dataclass
class _Request:
    messages: list[dict[str, Any]]
    engine: str | None
    model_id: str | None
    node: str | None
    tools: list[dict[str, Any]] | None
    tool_choice: Any
    sampling: dict[str, Any]

    def send_kwargs(self) -> dict[str, Any]:
        return {
            "model": self.engine,
            "node": self.node,
            "tools": self.tools,
            "tool_choice": self.tool_choice,
            **self.sampling,
        }


def _request(
    b: Binding,
    model: BaseChatModel,
    messages: list[BaseMessage],
    stop: list[str] | None,
    run_manager: Any,
    kwargs: Mapping[str, Any],
) -> _Request:
    mid = model_id(model)
    sampling, extras = sampling_for(model, stop, kwargs)
    tools = extras.get("tools")
    if tools:  # Python's default warning filter shows this once per call site
        warnings.warn(
            "Halo's LangChain hook passes bound tools to the model's chat template but does not "
            "parse tool calls yet: AIMessage.tool_calls stays empty",
            stacklevel=2,
        )
    return _Request(
        messages=convert_to_openai_messages(messages),  # type: ignore[arg-type]
        engine=b.engine_for(mid),
        model_id=mid,
        node=_graph_node(run_manager),
        tools=list(tools) if tools else None,
        tool_choice=extras.get("tool_choice"),
        sampling=sampling,
    )


def _lc_result(
    model: BaseChatModel, req: _Request, r: HaloChatResult, run_manager: Any
) -> ChatResult:
    """A LangChain ChatResult as ``_generate_with_cache`` would return it."""
    usage = {
        "input_tokens": r.prompt_tokens,
        "output_tokens": r.output_tokens,
        "total_tokens": r.prompt_tokens + r.output_tokens,
        "input_token_details": {"cache_read": r.cached_tokens},
    }
    gen_info = {"finish_reason": r.finish_reason}
    llm_output = {
        "token_usage": {
            "prompt_tokens": r.prompt_tokens,
            "completion_tokens": r.output_tokens,
            "total_tokens": r.prompt_tokens + r.output_tokens,
            "prompt_tokens_details": {"cached_tokens": r.cached_tokens},
        },
        "model_name": req.model_id,
        "model_provider": "halo",
    }
    msg = AIMessage(content=r.text, usage_metadata=usage)  # type: ignore[arg-type]
    if run_manager is not None:
        msg.id = f"lc_run-{run_manager.run_id}-0"
    msg.response_metadata = {**llm_output, **gen_info}
    generation = ChatGeneration(message=msg, generation_info=gen_info)
    if getattr(model, "output_version", None) == "v1":
        with contextlib.suppress(ImportError):
            from langchain_core.language_models.chat_models import (
                _update_message_content_to_blocks,
            )

            generation.message = _update_message_content_to_blocks(generation.message, "v1")
    return ChatResult(generations=[generation], llm_output=llm_output)


def _one_token_chunk(result: ChatResult) -> ChatGenerationChunk:
    msg = result.generations[0].message
    return ChatGenerationChunk(
        message=AIMessageChunk(
            content=msg.content,
            id=msg.id,
            usage_metadata=getattr(msg, "usage_metadata", None),
            response_metadata=dict(msg.response_metadata),
            chunk_position="last",
        )
    )


def _wants_stream(model: BaseChatModel, async_api: bool, run_manager: Any, kw: Any) -> bool:
    try:
        return bool(model._should_stream(async_api=async_api, run_manager=run_manager, **kw))
    except Exception:  # private API drift: streaming handlers just get no token
        return False


class _Cache:
    """The LLM-cache lookup/update ``_generate_with_cache`` does, redone around Halo's call."""

    def __init__(self, model: BaseChatModel, messages: list[BaseMessage], stop: Any, kw: Any):
        self.model = model
        self.cache = model.cache if isinstance(model.cache, BaseCache) else get_llm_cache()
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
        hit = self.cache.lookup(self.prompt, self.llm_string)  # type: ignore[union-attr]
        if isinstance(hit, list):
            return ChatResult(generations=self.model._convert_cached_generations(hit))
        return None

    async def alookup(self) -> ChatResult | None:
        if not self.on:
            return None
        hit = await self.cache.alookup(self.prompt, self.llm_string)  # type: ignore[union-attr]
        if isinstance(hit, list):
            return ChatResult(generations=self.model._convert_cached_generations(hit))
        return None

    def update(self, result: ChatResult) -> None:
        if self.on:
            self.cache.update(self.prompt, self.llm_string, result.generations)  # type: ignore

    async def aupdate(self, result: ChatResult) -> None:
        if self.on:
            await self.cache.aupdate(self.prompt, self.llm_string, result.generations)  # type: ignore


# ---- the chat-model hooks --------------------------------------------------------------------

_originals: dict[str, Any] = {}


def _generate_with_cache(
    self: BaseChatModel,
    messages: list[BaseMessage],
    stop: list[str] | None = None,
    run_manager: Any = None,
    **kwargs: Any,
) -> ChatResult:
    b = active()
    if b is None:
        return _originals["gen"](self, messages, stop=stop, run_manager=run_manager, **kwargs)
    cache = _Cache(self, messages, stop, kwargs)
    hit = cache.lookup()
    if hit is not None:
        return hit
    req = _request(b, self, messages, stop, run_manager, kwargs)
    r = b.session.chat(req.messages, **req.send_kwargs())
    result = _lc_result(self, req, r, run_manager)
    if run_manager is not None and _wants_stream(self, False, run_manager, kwargs):
        chunk = _one_token_chunk(result)
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
    b = active()
    if b is None:
        return await _originals["agen"](
            self, messages, stop=stop, run_manager=run_manager, **kwargs
        )
    cache = _Cache(self, messages, stop, kwargs)
    hit = await cache.alookup()
    if hit is not None:
        return hit
    req = _request(b, self, messages, stop, run_manager, kwargs)
    r = await b.session.achat(req.messages, **req.send_kwargs())
    result = _lc_result(self, req, r, run_manager)
    if run_manager is not None and _wants_stream(self, True, run_manager, kwargs):
        chunk = _one_token_chunk(result)
        await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
    await cache.aupdate(result)
    return result


def _stream(
    self: BaseChatModel, input: Any, config: Any = None, *, stop: Any = None, **kwargs: Any
) -> Iterator[Any]:
    if active() is None:
        yield from _originals["stream"](self, input, config, stop=stop, **kwargs)
        return
    yield self.invoke(input, config=config, stop=stop, **kwargs)


async def _astream(
    self: BaseChatModel, input: Any, config: Any = None, *, stop: Any = None, **kwargs: Any
) -> AsyncIterator[Any]:
    if active() is None:
        async for chunk in _originals["astream"](self, input, config, stop=stop, **kwargs):
            yield chunk
        return
    yield await self.ainvoke(input, config=config, stop=stop, **kwargs)


# ---- the tool hooks --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Route:
    binding: Binding
    tool: BaseTool
    node: str


_route: contextvars.ContextVar[_Route | None] = contextvars.ContextVar(
    "halo_lc_tool_route", default=None
)
_wrapped_runs: dict[type, Any] = {}  # tool class -> the _run it had before
_wrap_lock = threading.Lock()
_NOT_KEYED = ("run_manager", "config", "callbacks")


def pure(tool: BaseTool) -> BaseTool:
    """Declare a tool pure (same input, same output, no side effects): Halo may merge identical
    calls across instances. Sets ``tool.metadata["halo_pure"] = True``; returns the tool."""
    tool.metadata = {**(tool.metadata or {}), "halo_pure": True}
    return tool


def _is_pure(tool: BaseTool) -> bool:
    return bool(tool.metadata) and tool.metadata.get("halo_pure") is True  # type: ignore[union-attr]


def _reraise_original(e: ToolCallError) -> BaseException:
    """The tool's own exception (so ``handle_tool_error`` etc. behave as without Halo)."""
    cause = e.__cause__
    if not isinstance(cause, Exception):
        return e
    try:
        own = copy.copy(cause)  # merged calls share one exception object
    except Exception:
        own = cause
    if own is not cause or not getattr(own, "__notes__", None):
        own.add_note(f"(Halo: {e})")
    return own


def _wrap_run_of(cls: type) -> None:
    """Wrap ``cls._run`` (once) so a routed call runs its body on Halo's tool pool."""
    current = cls._run  # type: ignore[attr-defined]
    if getattr(current, "__halo_wrapped__", False) or cls in _wrapped_runs:
        return
    with _wrap_lock:
        current = cls._run  # type: ignore[attr-defined]
        if getattr(current, "__halo_wrapped__", False) or cls in _wrapped_runs:
            return
        original = current

        @functools.wraps(original)
        def _run(self: BaseTool, *args: Any, **kwargs: Any) -> Any:
            route = _route.get()
            if route is None or route.tool is not self or _in_tool_pool.get():
                return original(self, *args, **kwargs)
            hidden = {k: kwargs.pop(k) for k in _NOT_KEYED if k in kwargs}
            ctx = contextvars.copy_context()  # the tool sees the caller's config / tracing

            def body(*a: Any, **kw: Any) -> Any:
                def inner() -> Any:
                    _in_tool_pool.set(True)
                    _route.set(None)
                    return original(self, *a, **kw, **hidden)

                return ctx.run(inner)

            # the dedup key of a pure tool: the function behind the tool, its name, its arguments
            func = getattr(self, "func", None) or cls
            body.__module__ = getattr(func, "__module__", cls.__module__)
            body.__qualname__ = f"{getattr(func, '__qualname__', cls.__qualname__)}[{self.name}]"
            body.__name__ = self.name
            try:
                return route.binding.session.tool(
                    body, *args, pure=_is_pure(self), node=route.node, **kwargs
                )
            except ToolCallError as e:
                raise _reraise_original(e) from None

        _run.__halo_wrapped__ = True  # type: ignore[attr-defined]
        _wrapped_runs[cls] = cls.__dict__.get("_run")
        cls._run = _run  # type: ignore[attr-defined]


def _routable(tool: BaseTool, async_api: bool) -> bool:
    """Whether the call's body is the sync ``_run`` (async-native tools run natively)."""
    if not async_api:
        return True
    if getattr(tool, "coroutine", None) is not None:
        return False
    return type(tool)._arun is BaseTool._arun or isinstance(tool, StructuredTool | Tool)


def _tool_node(tool: BaseTool, kwargs: Mapping[str, Any]) -> str:
    node = _graph_node(None, kwargs.get("config"))
    return f"{node}:{tool.name}" if node else tool.name


def _tool_run(self: BaseTool, tool_input: Any, *args: Any, **kwargs: Any) -> Any:
    b = active()
    if b is None or _in_tool_pool.get() or not _routable(self, False):
        return _originals["tool_run"](self, tool_input, *args, **kwargs)
    _wrap_run_of(type(self))
    token = _route.set(_Route(b, self, _tool_node(self, kwargs)))
    try:
        return _originals["tool_run"](self, tool_input, *args, **kwargs)
    finally:
        _route.reset(token)


async def _tool_arun(self: BaseTool, tool_input: Any, *args: Any, **kwargs: Any) -> Any:
    b = active()
    if b is None or _in_tool_pool.get() or not _routable(self, True):
        return await _originals["tool_arun"](self, tool_input, *args, **kwargs)
    _wrap_run_of(type(self))
    token = _route.set(_Route(b, self, _tool_node(self, kwargs)))
    try:  # BaseTool._arun runs _run in an executor that copies this context
        return await _originals["tool_arun"](self, tool_input, *args, **kwargs)
    finally:
        _route.reset(token)


# ---- install / uninstall / self-test ---------------------------------------------------------

_PATCHES = {
    "gen": (BaseChatModel, "_generate_with_cache", _generate_with_cache),
    "agen": (BaseChatModel, "_agenerate_with_cache", _agenerate_with_cache),
    "stream": (BaseChatModel, "stream", _stream),
    "astream": (BaseChatModel, "astream", _astream),
    "tool_run": (BaseTool, "run", _tool_run),
    "tool_arun": (BaseTool, "arun", _tool_arun),
}
_install_lock = threading.Lock()


def installed() -> bool:
    """Whether the class-level hooks are in place."""
    return bool(_originals)


def install() -> None:
    """Put the class-level hooks in place (idempotent; done at import)."""
    with _install_lock:
        if _originals:
            return
        for key, (cls, name, hook) in _PATCHES.items():
            original = cls.__dict__[name]
            _originals[key] = original
            setattr(cls, name, functools.wraps(original)(hook))


def uninstall() -> None:
    """Restore LangChain's own methods (also the tool classes' ``_run``)."""
    with _install_lock:
        for key, (cls, name, _) in _PATCHES.items():
            if key in _originals:
                setattr(cls, name, _originals.pop(key))
        with _wrap_lock:
            for cls, own in _wrapped_runs.items():
                if own is None:
                    delattr(cls, "_run")
                else:
                    cls._run = own  # type: ignore[attr-defined]
            _wrapped_runs.clear()


class _ProbeSession:
    """Stands in for a Session in the import self-test."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[dict[str, Any]], dict[str, Any]]] = []
        self.tools: list[str] = []

    def chat(self, messages: list[dict[str, Any]], **kw: Any) -> HaloChatResult:
        self.calls.append((messages, kw))
        return HaloChatResult("probe", 1, 1, 0, "stop", [])

    def tool(self, fn: Any, *args: Any, **kw: Any) -> Any:
        kw.pop("pure", None)
        kw.pop("node", None)
        self.tools.append(fn.__name__)
        return fn(*args, **kw)


def self_test() -> None:
    """Prove the hooks see a chat-model call and a tool call; raise ImportError if not."""

    class _ProbeModel(BaseChatModel):
        model_name: str = "halo-probe"

        @property
        def _llm_type(self) -> str:
            return "halo-probe"

        def _generate(self, messages: Any, stop: Any = None, **kw: Any) -> ChatResult:
            return ChatResult(generations=[ChatGeneration(message=AIMessage("not hooked"))])

    from langchain_core.tools import tool as make_tool

    @make_tool
    def _halo_probe_tool(x: str) -> str:
        """Echo."""
        return x

    probe = _ProbeSession()
    token = _override.set(Binding(probe))
    try:
        out = _ProbeModel().invoke("ping")
        tool_out = _halo_probe_tool.invoke({"x": "pong"})
    finally:
        _override.reset(token)
    ok = (
        out.content == "probe"
        and len(probe.calls) == 1
        and probe.calls[0][0] == [{"role": "user", "content": "ping"}]
        and tool_out == "pong"
        and probe.tools == ["_halo_probe_tool"]
    )
    if not ok:
        raise ImportError(
            "halo_adapters.langchain_hook: the hook on BaseChatModel._generate_with_cache / "
            f"BaseTool.run did not see a call with langchain-core {langchain_core.__version__}; "
            "this version's private call path differs from what the hook expects"
        )


install()
self_test()
