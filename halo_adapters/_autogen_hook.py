"""Route AutoGen AgentChat's model-client calls, tool calls and runs through the active binding.

Bind with :func:`halo_adapters.bind`, which installs these class-level hooks (inert outside a
binding; importing this module leaves nothing installed: its :func:`self_test` takes its probe's
hooks out again):

* ``BaseOpenAIChatCompletionClient.create`` / ``create_stream``: for a model the binding serves
  (``self._create_args["model"]``), AutoGen's own method runs with the call's route set, so
  AutoGen builds the request and parses the answer exactly as against ``vllm serve``; the
  ``openai`` SDK's ``AsyncCompletions.create`` / ``parse`` (``.stream`` calls ``create``) answer
  the routed wire request through ``Session.achat``: a ``ChatCompletion``, a
  ``ParsedChatCompletion`` or a stream of chunks ending as the real one does
  (:mod:`halo_adapters._openai_wire`). A model the binding does not serve runs against its own
  server inside ``Session.apassthrough`` / ``apassthrough_stream`` (its streams stream chunk by
  chunk, and a cancelled stream stops).
* ``BaseTool.run_json`` / ``BaseStreamTool.run_json_stream`` mark a call made inside a Halo
  instance; ``FunctionTool.run`` then runs the tool function through ``Session.acall_tool`` (a sync
  one on Halo's tool pool, an async one on the caller's loop), and ``TaskRunnerTool.run`` /
  ``run_stream`` (``AgentTool``, ``TeamTool``) run their agent or team the same way (a stream's
  items pass on as they come); merged across instances only when declared pure
  (:func:`halo_adapters.pure`). The caller gets the very exception the tool raised. AutoGen's
  tracing span, ``ToolCallEvent`` and error reporting (a raising tool is an ``is_error`` result
  to the model) stay around it.
* ``BaseGroupChat.run_stream`` (what ``team.run`` consumes) and ``BaseChatAgent.run`` /
  ``run_stream``: a run started outside any Halo instance is one (``Session.instance()``), so an
  unchanged ``asyncio.gather`` of N teams coalesces. The instance is current only while the run's
  own code runs, from before the team's embedded runtime starts (its tasks inherit it).

Node labels: an LLM call's node is the calling agent's name (a team participant's from
``MessageHandlerContext.agent_id()``, a lone agent's from its ``run``), ``"selector"`` for a
``SelectorGroupChat``'s speaker selection; a tool call's is ``"<agent>:<tool>"``.

Known gaps: only OpenAI-family clients are served (others call their own servers, unrecorded);
a served stream carries the whole answer in one content chunk (Halo answers whole); other tool
classes (MCP tools) run natively; a team on a runtime the user created (``runtime=...``) is no
instance of its own, so its calls coalesce only by the epoch window.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import threading
from collections.abc import AsyncGenerator, Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, TypeVar

import openai
from autogen_agentchat.agents import BaseChatAgent
from autogen_agentchat.teams import BaseGroupChat
from autogen_agentchat.tools._task_runner_tool import TaskRunnerTool
from autogen_core import AgentId, CancellationToken, MessageHandlerContext
from autogen_core.models import UserMessage
from autogen_core.tools import BaseStreamTool, BaseTool, FunctionTool
from autogen_ext.models.openai import BaseOpenAIChatCompletionClient, OpenAIChatCompletionClient

from halo_adapters import _openai_wire as openai_wire
from halo_adapters._hooking import (
    Hook,
    Patches,
    PatchSpec,
    ProbeSession,
    astepped,
    name_body,
    own_error,
)
from halo_adapters._hooking import set_var as _set
from halo_adapters._pure import marked_pure
from halo_adapters.binding import Binding, active, in_context
from halo_core import ToolCallError
from halo_core.runtime.retry import policy_of
from halo_core.spi import InstanceRef, current_instance, enter_instance, leave_instance

__all__ = ["install", "installed", "self_test", "uninstall"]

T = TypeVar("T")

log = logging.getLogger("halo")

#: the node of a group-chat manager's own LLM calls, by the manager's name
_MANAGER_NODES = {"SelectorGroupChatManager": "selector"}


# ---- who is calling ------------------------------------------------------------------------

#: a lone agent's run: its name and the message handler it was started from (if any)
_agent: contextvars.ContextVar[tuple[str, AgentId | None] | None] = contextvars.ContextVar(
    "halo_ag_agent", default=None
)


def _handler() -> AgentId | None:
    try:
        return MessageHandlerContext.agent_id()
    except RuntimeError:  # not inside a runtime's message handler
        return None


def _caller() -> str | None:
    """The name of the agent calling now (``"selector"`` for speaker selection), if any."""
    handler = _handler()
    own = _agent.get()
    if own is not None and own[1] == handler:  # a lone run started in this very handler
        return own[0]
    if handler is None:
        return None
    name = handler.type.removesuffix(f"_{handler.key}")  # types are "{name}_{team id}"
    return _MANAGER_NODES.get(name, name)


@contextlib.contextmanager
def _as(inst: InstanceRef | None, agent: str | None) -> Iterator[None]:
    """Run as Halo instance ``inst`` and as agent ``agent`` (each only when given)."""
    token = enter_instance(inst) if inst is not None else None
    try:
        with _set(_agent, (agent, _handler())) if agent is not None else contextlib.nullcontext():
            yield
    finally:
        if token is not None:
            leave_instance(token)


# ---- model clients ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Route:
    """Where the SDK request of one served ``create`` goes."""

    binding: Binding
    engine: str | None
    node: str | None
    who: str  # the client class, for error messages


_llm_route: contextvars.ContextVar[_Route | None] = contextvars.ContextVar(
    "halo_ag_llm_route", default=None
)


def _served(client: Any) -> tuple[Binding, str | None, str | None, str] | None:
    """(binding, model id, node, client class) of a call under a binding."""
    b = active()
    if b is None:
        return None
    model = client._create_args.get("model")
    return b, model if isinstance(model, str) else None, _caller(), type(client).__name__


def _client_create(original: Hook) -> Hook:
    async def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        own = functools.partial(original, self, *args, **kwargs)
        call = _served(self)
        if call is None:
            return await own()
        b, model, node, who = call
        if not b.serves(model):
            return await b.session.apassthrough(own, model=model or who, node=node)
        with _set(_llm_route, _Route(b, b.engine_for(model, who), node, who)):
            return await own()

    return create


def _client_create_stream(original: Hook) -> Hook:
    async def create_stream(self: Any, *args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
        own = original(self, *args, **kwargs)
        call = _served(self)
        route = None
        if call is not None:
            b, model, node, who = call
            if not b.serves(model):
                items = b.session.apassthrough_stream(own, model=model or who, node=node)
                async with contextlib.aclosing(items):
                    async for item in items:
                        yield item
                return
            route = _Route(b, b.engine_for(model, who), node, who)
        async with contextlib.aclosing(astepped(own, lambda: _set(_llm_route, route))) as items:
            async for item in items:
                yield item

    return create_stream


async def _answer(route: _Route, body: Mapping[str, Any]) -> dict[str, Any]:
    """The chat.completion body ``vllm serve`` would return for a request body, from Halo."""
    request = dict(body)
    messages = request.pop("messages")
    sampling, fields = openai_wire.split(request, route.who, server_defaults=True)
    r = await route.binding.session.achat(
        messages, model=route.engine, node=route.node, **fields, **sampling
    )
    return openai_wire.completion(body.get("model"), r)


def _sdk_create(original: Hook) -> Hook:
    async def create(self: Any, **kwargs: Any) -> Any:
        route = _llm_route.get()
        if route is None:
            return await original(self, **kwargs)
        body = openai_wire.request_body(kwargs)
        answer = await _answer(route, body)
        if body.get("stream"):
            usage = (body.get("stream_options") or {}).get("include_usage") is True
            return openai_wire.ChunkStream(openai_wire.chunks(answer, include_usage=usage))
        return openai_wire.chat_completion(answer)

    return create


def _sdk_parse(original: Hook) -> Hook:
    async def parse(self: Any, **kwargs: Any) -> Any:
        route = _llm_route.get()
        if route is None:
            return await original(self, **kwargs)
        body = openai_wire.parse_body(kwargs)
        chat = openai_wire.chat_completion(await _answer(route, body))
        schema = kwargs.get("response_format", openai.omit)
        return openai_wire.parsed(chat, schema, body.get("tools"))

    return parse


# ---- tools -----------------------------------------------------------------------------------


#: the binding, the tool whose ``run_json`` / ``run_json_stream`` runs now inside a Halo
#: instance, the call's node
_tool_call: contextvars.ContextVar[tuple[Binding, Any, str] | None] = contextvars.ContextVar(
    "halo_ag_tool_call", default=None
)


def _mark(tool: Any) -> tuple[Binding, Any, str] | None:
    """The mark of a tool call made now inside a Halo instance (else ``None``)."""
    b = active()
    if b is None or current_instance() is None:
        return None
    agent = _caller()
    return b, tool, f"{agent}:{tool.name}" if agent else tool.name


def _run_json(original: Hook) -> Hook:
    async def run_json(
        self: Any, args: Mapping[str, Any], cancellation_token: Any, call_id: str | None = None
    ) -> Any:
        with _set(_tool_call, _mark(self)):
            return await original(self, args, cancellation_token, call_id=call_id)

    return run_json


def _run_json_stream(original: Hook) -> Hook:
    async def run_json_stream(
        self: Any, args: Mapping[str, Any], cancellation_token: Any, call_id: str | None = None
    ) -> AsyncGenerator[Any, None]:
        own = original(self, args, cancellation_token, call_id=call_id)
        mark = _mark(self)
        async with contextlib.aclosing(astepped(own, lambda: _set(_tool_call, mark))) as items:
            async for item in items:
                yield item

    return run_json_stream


def _routed(tool: Any) -> tuple[Binding, str] | None:
    """(binding, node) when this run of ``tool`` is the marked call."""
    call = _tool_call.get()
    return None if call is None or call[1] is not tool else (call[0], call[2])


async def _through_halo(
    tool: Any,
    route: tuple[Binding, str],
    body: Callable[[dict[str, Any]], Any],
    func: Any,
    arguments: dict[str, Any],
    cancellation_token: CancellationToken,
) -> Any:
    """``body(arguments)`` as one Halo tool call of ``tool``; raises what the tool raised."""
    name_body(body, func, type(tool), tool.name)
    b, node = route
    call = b.session.acall_tool(
        body,
        (arguments,),
        pure=marked_pure(tool, func),
        node=node,
        retry=policy_of(func),
    )
    future = asyncio.ensure_future(call)
    cancellation_token.link_future(future)
    try:
        return await future
    except ToolCallError as e:
        error = own_error(e)
    raise error


def _function_body(tool: Any, cancellation_token: CancellationToken) -> Callable[..., Any]:
    """The tool's function as one call (the token kept out of the dedup key)."""
    func = tool._func
    hidden = {"cancellation_token": cancellation_token} if tool._has_cancellation_support else {}
    if asyncio.iscoroutinefunction(func):

        async def abody(arguments: dict[str, Any]) -> Any:
            return await func(**arguments, **hidden)

        return abody

    def body(arguments: dict[str, Any]) -> Any:
        return func(**arguments, **hidden)

    return body


def _function_run(original: Hook) -> Hook:
    async def run(self: Any, args: Any, cancellation_token: CancellationToken) -> Any:
        route = _routed(self)
        if route is None:
            return await original(self, args, cancellation_token)
        arguments = {n: getattr(args, n) for n in self._signature.parameters if hasattr(args, n)}
        body = _function_body(self, cancellation_token)
        return await _through_halo(self, route, body, self._func, arguments, cancellation_token)

    return run


def _task_run(original: Hook) -> Hook:
    """``AgentTool`` / ``TeamTool``: the agent's or team's run as one Halo tool call."""

    async def run(self: Any, args: Any, cancellation_token: CancellationToken) -> Any:
        route = _routed(self)
        if route is None:
            return await original(self, args, cancellation_token)

        async def body(arguments: dict[str, Any]) -> Any:
            return await original(self, args, cancellation_token)

        return await _through_halo(self, route, body, None, args.model_dump(), cancellation_token)

    return run


def _task_run_stream(original: Hook) -> Hook:
    """Streamed ``AgentTool`` / ``TeamTool`` runs (``AssistantAgent``'s default workbench): one
    Halo tool call whose items reach the caller as they come (a merged caller gets them all
    when the run it waits on ends)."""

    async def run_stream(
        self: Any, args: Any, cancellation_token: CancellationToken
    ) -> AsyncGenerator[Any, None]:
        route = _routed(self)
        if route is None:
            async with contextlib.aclosing(original(self, args, cancellation_token)) as items:
                async for item in items:
                    yield item
            return
        queue: asyncio.Queue[Any] = asyncio.Queue()

        async def body(arguments: dict[str, Any]) -> list[Any]:
            seen = []
            async with contextlib.aclosing(original(self, args, cancellation_token)) as items:
                async for item in items:
                    seen.append(item)
                    queue.put_nowait(item)
            return seen

        done = asyncio.ensure_future(
            _through_halo(self, route, body, None, args.model_dump(), cancellation_token)
        )
        passed = 0
        try:
            async for item in _relay(queue, done):
                passed += 1
                yield item
            for item in done.result()[passed:]:  # raises what the run raised
                yield item
        finally:
            done.cancel()

    return run_stream


async def _relay(queue: asyncio.Queue[T], done: asyncio.Future[Any]) -> AsyncGenerator[T, None]:
    """The items put on ``queue`` until ``done``, then those left on it."""
    while True:
        getter = asyncio.ensure_future(queue.get())
        await asyncio.wait({getter, done}, return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            yield getter.result()
            continue
        getter.cancel()
        while not queue.empty():
            yield queue.get_nowait()
        return


# ---- runs as instances -----------------------------------------------------------------------


def _instance_session() -> Any | None:
    """The bound session, when a run starting now is to be a Halo instance of its own."""
    b = active()
    if b is None or current_instance() is not None or not hasattr(b.session, "instance"):
        return None
    return b.session


@contextlib.contextmanager
def _registered(session: Any | None) -> Iterator[InstanceRef | None]:
    """A new instance of ``session`` (``None``: no instance), live for the block but current
    nowhere yet: entered in a copy of the context, for :func:`_as` to make current."""
    if session is None:
        yield None
        return
    ctx = contextvars.copy_context()
    instance = session.instance()
    ref: InstanceRef = ctx.run(instance.__enter__)
    try:
        yield ref
    finally:
        ctx.run(instance.__exit__, None, None, None)


@functools.cache
def _warn_own_runtime() -> None:
    log.warning(
        "halo: an AutoGen team on a runtime of its own (runtime=...) is no Halo instance: its "
        "calls go through Halo but coalesce with other teams' only by the epoch window"
    )


def _team_run_stream(original: Hook) -> Hook:
    async def run_stream(self: Any, *args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
        own = original(self, *args, **kwargs)
        session = _instance_session()
        if session is not None and not getattr(self, "_embedded_runtime", True):
            _warn_own_runtime()
            session = None
        with _registered(session) as ref:
            async with contextlib.aclosing(astepped(own, lambda: _as(ref, None))) as items:
                async for item in items:
                    yield item

    return run_stream


def _agent_run(original: Hook) -> Hook:
    async def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _registered(_instance_session()) as ref, _as(ref, self.name):
            return await original(self, *args, **kwargs)

    return run


def _agent_run_stream(original: Hook) -> Hook:
    async def run_stream(self: Any, *args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
        own = original(self, *args, **kwargs)
        with _registered(_instance_session()) as ref:
            async with contextlib.aclosing(astepped(own, lambda: _as(ref, self.name))) as items:
                async for item in items:
                    yield item

    return run_stream


# ---- install / uninstall / self-test ---------------------------------------------------------


def _spec() -> PatchSpec:
    """(class, method, hook factory) for every hook; the SDK's classes as this version has them."""
    sdk = openai.AsyncOpenAI(api_key="halo", base_url="http://127.0.0.1:9/v1")
    completions = dict.fromkeys([type(sdk.chat.completions), type(sdk.beta.chat.completions)])
    sdk_hooks = {"create": _sdk_create, "parse": _sdk_parse}
    hooks = [
        (BaseOpenAIChatCompletionClient, "create", _client_create),
        (BaseOpenAIChatCompletionClient, "create_stream", _client_create_stream),
        *((c, name, h) for c in completions for name, h in sdk_hooks.items() if name in vars(c)),
        (BaseTool, "run_json", _run_json),
        (BaseStreamTool, "run_json_stream", _run_json_stream),
        (FunctionTool, "run", _function_run),
        (TaskRunnerTool, "run", _task_run),
        (TaskRunnerTool, "run_stream", _task_run_stream),
        (BaseGroupChat, "run_stream", _team_run_stream),
        (BaseChatAgent, "run", _agent_run),
        (BaseChatAgent, "run_stream", _agent_run_stream),
    ]
    return {f"{cls.__qualname__}.{name}": (cls, name, make) for cls, name, make in hooks}


_patches = Patches(_spec)
#: Whether the class-level hooks are in place.
installed = _patches.installed
#: Put the class-level hooks in place (idempotent; done by :func:`halo_adapters.bind`).
install = _patches.install
#: Restore AutoGen's and the SDK's own methods.
uninstall = _patches.uninstall


def _halo_probe_echo(x: str) -> str:
    return x


async def _probe() -> str | None:
    """What the hooks failed to see (``None``: they saw a create call and a tool call)."""
    probe = ProbeSession()
    info = {"vision": False, "function_calling": True, "json_output": True, "family": "unknown"}
    try:
        client = OpenAIChatCompletionClient(
            model="halo-probe",
            api_key="halo",
            base_url="http://127.0.0.1:9/v1",
            max_retries=0,
            model_info={**info, "structured_output": True},  # type: ignore[typeddict-item]
        )
        tool = FunctionTool(_halo_probe_echo, description="Echo.", name="halo_probe")
        with in_context(Binding(probe)), _as(InstanceRef(-1, 0), None):
            result = await client.create([UserMessage(content="ping", source="user")])
            echoed = await tool.run_json({"x": "pong"}, CancellationToken())
        await client.close()
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    if result.content != "probe" or [m[-1].get("content") for m in probe.chats] != ["ping"]:
        return "the create call did not reach the session"
    if echoed != "pong" or probe.tools != ["halo_probe"]:
        return "the tool call did not reach the session"
    return None


def _run_alone(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to its end on a fresh loop in a thread (the caller's loop may be busy)."""
    out: list[T] = []

    def main() -> None:
        out.append(asyncio.run(make()))

    thread = threading.Thread(target=main, name="halo-autogen-self-test")
    thread.start()
    thread.join()
    return out[0]


def self_test() -> None:
    """Prove the hooks see a create call and a tool call (a probe client and session, no
    network); raise ImportError naming the autogen-ext and openai versions if not. Leaves the
    hooks installed only if they were."""
    with _patches.held() as was:
        install()
        try:
            failure = _run_alone(_probe)
        finally:
            if not was:
                uninstall()
    if failure is not None:
        raise ImportError(
            "halo_adapters._autogen_hook: the hooks on BaseOpenAIChatCompletionClient.create, the "
            "openai SDK's chat.completions.create and BaseTool.run_json did not work with "
            f"autogen-ext {version('autogen-ext')} and openai {openai.__version__} ({failure}); "
            "this version's call path differs from what the hook expects"
        )


self_test()
