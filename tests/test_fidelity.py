"""Drop-in fidelity: tools, errors, streams and warnings behave under a binding as without Halo.

Each test runs the same code with and without a binding (a real Session on the fake engine:
tool bodies run on Halo's tool pool, unserved models pass through to their own code)."""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx2
import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.tools import AgentTool
from autogen_core import CancellationToken
from autogen_core.models import UserMessage
from autogen_core.tools import FunctionTool, StaticStreamWorkbench, StaticWorkbench
from autogen_ext.models.openai import OpenAIChatCompletionClient
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from pydantic import Field

import halo_adapters
from halo_core import Session, ToolCallError
from tests.test_autogen_adapter import INFO

MakeSession = Callable[..., Session]


@pytest.fixture
def s(fake_session: MakeSession) -> Session:
    return fake_session(epoch_window_s=0.01)


def _both(s: Session, run: Callable[[], Any]) -> tuple[Any, Any]:
    """``run()`` without Halo, then under a binding that passes every model through."""
    alone = run()
    with halo_adapters.bind(s, unmapped="passthrough"):
        bound = run()
    return alone, bound


# ---- tool arguments stay apart from Halo's options ----------------------------------------


@tool
def place(node: str, pure: bool, retry: int, fn: str) -> str:
    """Place a node."""
    return f"{node}/{pure}/{retry}/{fn}"


def test_a_tool_with_parameters_named_like_halos_options_runs_in_a_toolnode(s: Session) -> None:
    args = {"node": "n1", "pure": True, "retry": 2, "fn": "f"}
    call = {"name": "place", "args": args, "id": "call-1", "type": "tool_call"}
    graph = StateGraph(MessagesState)
    graph.add_node("tools", ToolNode([place]))
    graph.add_edge(START, "tools")
    graph.add_edge("tools", END)
    app = graph.compile()
    alone, bound = _both(s, lambda: app.invoke({"messages": [AIMessage("", tool_calls=[call])]}))
    assert bound["messages"][-1].content == alone["messages"][-1].content == "n1/True/2/f"
    assert [r.kind for r in s.graph.records.values()] == ["tool"]  # it went through Halo


# ---- the caller gets the very exception the tool raised ------------------------------------


class NotFound(Exception):
    """Formats its argument in ``__init__``: re-running it would change the message."""

    def __init__(self, key: str):
        super().__init__(f"{key!r} not found")
        self.key = key


def _raising() -> tuple[NotFound, ValueError]:
    cause = ValueError("the index is stale")
    err = NotFound("x")
    err.__cause__ = cause
    return err, cause


def _raised(run: Callable[[], Any]) -> BaseException:
    with pytest.raises(Exception) as info:
        run()
    return info.value


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_langchain_tool_error_is_the_very_exception_raised(s: Session, kind: str) -> None:
    err, cause = _raising()

    def lookup(key: str) -> str:
        raise err

    async def alookup(key: str) -> str:
        raise err

    from langchain_core.tools import StructuredTool

    t = (
        StructuredTool.from_function(lookup, name="lookup", description="Look up.")
        if kind == "sync"
        else StructuredTool.from_function(coroutine=alookup, name="lookup", description="Look.")
    )

    def run() -> Any:
        return t.invoke({"key": "x"}) if kind == "sync" else asyncio.run(t.ainvoke({"key": "x"}))

    alone, bound = _both(s, lambda: _raised(run))
    assert alone is err and bound is err
    assert bound.__cause__ is cause and not getattr(bound, "__notes__", None)
    assert str(bound) == "'x' not found"
    frames = []
    tb = bound.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    assert ("lookup" if kind == "sync" else "alookup") in frames  # the tool's own frame
    assert len(s.graph.records) == 1  # the bound call went through Halo


def test_an_autogen_tool_error_is_the_very_exception_and_reads_the_same(s: Session) -> None:
    err, cause = _raising()

    def lookup(key: str) -> str:
        raise err

    t = FunctionTool(lookup, description="Look an entry up.")

    async def main() -> tuple[BaseException, str]:
        with pytest.raises(NotFound) as info:
            await t.run_json({"key": "x"}, CancellationToken())
        result = await StaticWorkbench([t]).call_tool("lookup", {"key": "x"})
        return info.value, result.to_text()  # the text the model reads

    def run() -> tuple[BaseException, str]:
        with s.instance():
            return asyncio.run(main())

    (alone, alone_text), (bound, bound_text) = _both(s, run)
    assert alone is err and bound is err and bound.__cause__ is cause
    assert bound_text == alone_text and "'x' not found" in bound_text
    assert "not found not found" not in bound_text
    assert sum(r.kind == "tool" for r in s.graph.records.values()) == 2


def test_merged_callers_get_equal_exceptions_made_without_init(s: Session) -> None:
    made = []

    class Boom(Exception):
        def __init__(self, code: int):
            made.append(code)
            super().__init__(f"boom {code}")
            self.code = code

    gate = threading.Barrier(2)

    def flaky(x: int) -> int:
        raise Boom(x)

    def instance(i: int) -> BaseException:
        gate.wait()
        with pytest.raises(ToolCallError) as info:
            s.tool(flaky, 2, pure=True, node="flaky")
        assert info.value.__cause__ is not None
        return info.value.__cause__

    first, second = s.map(instance, range(2), progress=False)
    assert isinstance(first, Boom) and isinstance(second, Boom)
    assert str(first) == str(second) == "boom 2" and first.code == second.code == 2
    merged = sum(r.merged_into is not None for r in s.graph.records.values())
    assert made == [2] * (2 - merged)  # one run per execution; a twin runs no __init__
    from halo_core.calls import exception_copy

    twin = exception_copy(first)
    assert type(twin) is Boom and twin is not first and str(twin) == "boom 2"
    assert twin.__traceback__ is first.__traceback__ and made.count(2) == 2 - merged


# ---- passthrough streams stream ---------------------------------------------------------------


class SlowStreamer(BaseChatModel):
    """Streams "a", then waits (up to 10 s) for its consumer to say it saw "a", then "b"."""

    seen_a: Any = None
    log: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "slow-streamer"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, **kw: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage("ab"))])

    def _stream(self, messages: list[BaseMessage], stop: Any = None, **kw: Any) -> Iterator[Any]:
        try:
            yield ChatGenerationChunk(message=AIMessageChunk(content="a"))
            self.log.append("in time" if self.seen_a.wait(10) else "buffered")
            yield ChatGenerationChunk(message=AIMessageChunk(content="b"))
            self.log.append("ended")
        finally:
            self.log.append("closed")

    async def _astream(
        self, messages: list[BaseMessage], stop: Any = None, **kw: Any
    ) -> AsyncIterator[Any]:
        try:
            yield ChatGenerationChunk(message=AIMessageChunk(content="a"))
            try:
                await asyncio.wait_for(self.seen_a.wait(), 10)
                self.log.append("in time")
            except TimeoutError:
                self.log.append("buffered")
            yield ChatGenerationChunk(message=AIMessageChunk(content="b"))
            self.log.append("ended")
        finally:
            self.log.append("closed")


def test_a_passed_through_langchain_stream_streams_and_stops(s: Session) -> None:
    def whole() -> list[str]:
        model = SlowStreamer(seen_a=threading.Event(), log=[])
        out = []
        for chunk in model.stream("hi"):
            out += [chunk.content] if chunk.content else []  # LangChain ends with an empty one
            model.seen_a.set()
        return out + model.log

    def first_only() -> list[str]:
        model = SlowStreamer(seen_a=threading.Event(), log=[])
        stream = model.stream("hi")
        first = next(stream).content
        stream.close()
        return [first, *model.log]

    assert _both(s, whole) == (["a", "b", "in time", "ended", "closed"],) * 2
    assert _both(s, first_only) == (["a", "closed"],) * 2
    assert [r.passthrough for r in s.graph.records.values()] == [True, True]


def test_a_passed_through_langchain_astream_streams_and_stops(s: Session) -> None:
    async def whole() -> list[str]:
        model = SlowStreamer(seen_a=asyncio.Event(), log=[])
        out = []
        async for chunk in model.astream("hi"):
            out += [chunk.content] if chunk.content else []
            model.seen_a.set()
        return out + model.log

    async def first_only() -> list[str]:
        model = SlowStreamer(seen_a=asyncio.Event(), log=[])
        stream = model.astream("hi")
        first = (await anext(stream)).content
        await stream.aclose()
        await asyncio.sleep(0.05)  # LangChain leaves the model's generator to its finalizer
        return [first, *model.log]

    assert _both(s, lambda: asyncio.run(whole())) == (["a", "b", "in time", "ended", "closed"],) * 2
    assert _both(s, lambda: asyncio.run(first_only())) == (["a", "closed"],) * 2


def _chunk(content: str | None, finish: str | None = None) -> dict[str, Any]:
    delta = {"role": "assistant", "content": content} if content is not None else {}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "elsewhere",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


class HeldStream:
    """An OpenAI endpoint streaming "a", then holding the rest until ``release`` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.sent_rest = False

    async def _handle(self, request: httpx2.Request) -> httpx2.Response:
        async def sse() -> AsyncIterator[bytes]:
            yield f"data: {_json(_chunk('a'))}\n\n".encode()
            await self.release.wait()
            self.sent_rest = True
            yield f"data: {_json(_chunk('b'))}\n\n".encode()
            yield f"data: {_json(_chunk(None, 'stop'))}\n\ndata: [DONE]\n\n".encode()

        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=sse())

    def client(self) -> OpenAIChatCompletionClient:
        http = httpx2.AsyncClient(transport=httpx2.MockTransport(self._handle))
        return OpenAIChatCompletionClient(
            model="elsewhere",
            base_url="http://endpoint.test/v1",
            api_key="x",
            model_info=INFO,
            http_client=http,
            max_retries=0,
        )


def _json(obj: Any) -> str:
    import json

    return json.dumps(obj)


def test_a_passed_through_autogen_stream_streams_and_cancels(s: Session) -> None:
    async def main() -> tuple[str, bool, bool]:
        endpoint = HeldStream()
        token = CancellationToken()
        stream = endpoint.client().create_stream(
            [UserMessage(content="hi", source="user")], cancellation_token=token
        )
        first = await asyncio.wait_for(anext(stream), 10)  # before the endpoint sends the rest
        held = not endpoint.sent_rest
        token.cancel()
        try:
            async for _ in stream:
                pass
        except asyncio.CancelledError:
            return first, held, True
        return first, held, False

    def run() -> tuple[str, bool, bool]:
        with s.instance():
            return asyncio.run(main())

    alone, bound = _both(s, run)
    assert alone == bound == ("a", True, True)
    assert [r.passthrough for r in s.graph.records.values()] == [True]


# ---- async tools and AgentTool are routed, recorded and merged when pure ----------------------


def _tool_records(s: Session) -> list[Any]:
    return [r for r in s.graph.records.values() if r.kind == "tool"]


def test_a_pure_async_langchain_tool_is_merged_across_instances(s: Session) -> None:
    runs = []

    async def fetch(topic: str) -> str:
        runs.append(topic)
        await asyncio.sleep(0.3)
        return f"facts about {topic}"

    from langchain_core.tools import StructuredTool

    t = halo_adapters.pure(
        StructuredTool.from_function(coroutine=fetch, name="fetch", description=".")
    )

    async def instance(i: int) -> str:
        return await t.ainvoke({"topic": "tides"})

    with halo_adapters.bind(s):
        results = s.run(instance, range(4), progress=False).results
    assert results == ["facts about tides"] * 4 and runs == ["tides"]
    records = _tool_records(s)
    assert len(records) == 4 and sum(r.merged_into is not None for r in records) == 3


def test_a_pure_async_autogen_tool_is_merged_across_instances(s: Session) -> None:
    runs = []

    async def fetch(topic: str) -> str:
        runs.append(topic)
        await asyncio.sleep(0.3)
        return f"facts about {topic}"

    async def instance(i: int) -> Any:
        t = halo_adapters.pure(FunctionTool(fetch, description="Fetch facts."))
        return await t.run_json({"topic": "tides"}, CancellationToken())

    with halo_adapters.bind(s):
        results = s.run(instance, range(4), progress=False).results
    assert results == ["facts about tides"] * 4 and runs == ["tides"]
    assert sum(r.merged_into is not None for r in _tool_records(s)) == 3


def _helper() -> AssistantAgent:
    client = OpenAIChatCompletionClient(
        model="tiny", base_url="http://127.0.0.1:9/v1", api_key="x", model_info=INFO
    )
    return AssistantAgent("helper", client, system_message="Answer briefly.")


@pytest.mark.parametrize("path", ["run_json", "workbench stream"])
def test_a_pure_agent_tool_is_merged_across_instances(s: Session, path: str) -> None:
    async def instance(i: int) -> str:
        t = halo_adapters.pure(AgentTool(_helper()))
        if path == "run_json":
            result = await t.run_json({"task": "same question"}, CancellationToken())
            return t.return_value_as_string(result)
        items = [
            item
            async for item in StaticStreamWorkbench([t]).call_tool_stream(
                t.name, {"task": "same question"}
            )
        ]
        return items[-1].to_text()

    with halo_adapters.bind(s):
        results = s.run(instance, range(3), progress=False).results
    engine = s.engines["m"]
    assert len(set(results)) == 1 and "len=" in results[0], results
    assert len(engine.requests) == 1  # type: ignore[attr-defined]  # the agent ran once
    records = _tool_records(s)
    assert len(records) == 3 and sum(r.merged_into is not None for r in records) == 2


# ---- warnings point where they would without Halo ---------------------------------------------


class Warner(BaseChatModel):
    """Warns two frames up from ``_generate`` (LangChain's own caller of the model)."""

    @property
    def _llm_type(self) -> str:
        return "warner"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, **kw: Any) -> ChatResult:
        warnings.warn("deprecated option", DeprecationWarning, stacklevel=3)
        return ChatResult(generations=[ChatGeneration(message=AIMessage("ok"))])


def test_a_framework_warning_keeps_its_site(s: Session) -> None:
    def run() -> tuple[str, int]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            Warner().invoke("hi")
        (w,) = [w for w in caught if "deprecated option" in str(w.message)]
        return w.filename, w.lineno

    alone, bound = _both(s, run)
    assert bound == alone and "halo_" not in bound[0]


# ---- the installed environment -----------------------------------------------------------------


def test_autogen_mcp_tools_import() -> None:
    import autogen_ext.tools.mcp as mcp_tools

    assert mcp_tools.McpWorkbench is not None
