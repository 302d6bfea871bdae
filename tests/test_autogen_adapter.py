"""The AutoGen AgentChat drop-in (halo_adapters._autogen_hook / halo_adapters.autogen).

Unit tests: AutoGen's own client against an in-process OpenAI endpoint (an httpx mock transport)
is the reference for what Halo must receive and answer; a fake session or a fake engine stands in
for vLLM. ``engine`` tests: unchanged teams on the tiny model, against a real ``vllm serve``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import subprocess
import sys
import time
import tracemalloc
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx2
import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.base import TaskResult
from autogen_agentchat.teams import RoundRobinGroupChat, SelectorGroupChat
from autogen_core import CancellationToken, FunctionCall, SingleThreadedAgentRuntime
from autogen_core.models import CreateResult, LLMMessage, SystemMessage, UserMessage
from autogen_core.tools import FunctionTool
from autogen_ext.models.openai import OpenAIChatCompletionClient
from pydantic import BaseModel

import halo_adapters
from halo_adapters import _autogen_hook as autogen_hook
from halo_adapters import autogen as halo_ag
from halo_core import ChatResult, EngineConfig, Session, SessionConfig
from halo_core.backends import registry
from halo_core.backends.base import EngineRequest, PreparedChat
from halo_core.calls import ChatRequest
from halo_core.spi import InstanceRef, current_instance, enter_instance
from halo_core.testing.fake_engine import FakeEngine

INFO: Any = {
    "vision": False,
    "function_calling": True,
    "json_output": True,
    "structured_output": True,
    "family": "unknown",
}


# ---- a deterministic fake model, served over HTTP (the reference) and as a Halo engine ------


def reply(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The fake model's answer: a call of the first tool on the last user message's text when
    tools are offered after a user turn, else a short text."""
    last = messages[-1]
    if tools and last["role"] == "user":
        args = json.dumps({"x": last["content"]})
        call_id = f"call_{zlib.crc32(json.dumps(messages).encode())}"
        function = {"name": tools[0]["function"]["name"], "arguments": args}
        call = {"id": call_id, "type": "function", "function": function}
        return {"content": None, "tool_calls": [call], "finish_reason": "tool_calls"}
    return {"content": f"seen {len(messages)}", "tool_calls": [], "finish_reason": "stop"}


def _prompt_ids(messages: list[dict[str, Any]]) -> list[int]:
    return list(json.dumps(messages).encode())


class ReplyEngine(FakeEngine):
    """A Halo engine answering with :func:`reply` at once (scheduling only, no model)."""

    max_model_len = 10_000_000

    def sampled(self, request: ChatRequest) -> bool:
        t = request.sampling.get("temperature")
        return (t is None or t > 0) and request.sampling.get("seed") is None

    def prepare(self, requests: Sequence[ChatRequest]) -> list[PreparedChat | Exception]:
        return [PreparedChat(_prompt_ids(r.messages), r) for r in requests]

    def submit(
        self,
        request: EngineRequest,
        on_first_token: Callable[[], None],
        on_done: Callable[[ChatResult | BaseException], None],
    ) -> None:
        self.requests.append(EngineRequest(request.request_id, [], None))  # counted, not kept
        r = reply(request.params.messages, request.params.tools)
        on_first_token()
        n = len(request.prompt_token_ids)
        content, calls = r["content"], r["tool_calls"]
        result = ChatResult(content or "", n, 1, 0, r["finish_reason"], [1], content, calls)
        on_done(result)


@pytest.fixture
def fake_halo(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Session]]:
    """Sessions whose engine ``"m"`` is a :class:`ReplyEngine`."""
    made: list[Session] = []
    reply = registry.Backend(registry.one_by_one(lambda k, c: ReplyEngine()), registry.NoSettings)
    monkeypatch.setitem(registry.BACKENDS, "reply", reply)

    def make(**kw: Any) -> Session:
        engine = EngineConfig(model="fake", backend="reply", calibrate=False)
        made.append(Session(SessionConfig(engines={"m": engine}, **kw)))
        return made[-1]

    yield make
    for s in made:
        s.close()


class Endpoint:
    """An OpenAI-compatible endpoint in process: records each request body and answers with
    ``answer(body)`` (a message dict as :func:`reply` gives), or with ``stream(body)`` (chunk
    dicts) when the request streams."""

    def __init__(
        self,
        answer: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        stream: Callable[[dict[str, Any]], list[dict[str, Any]]] | None = None,
    ):
        self.bodies: list[dict[str, Any]] = []
        self.answer = answer or (lambda body: reply(body["messages"], body.get("tools")))
        self.stream = stream

    def _handle(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        if body.get("stream"):
            assert self.stream is not None
            sse = "".join(f"data: {json.dumps(c)}\n\n" for c in self.stream(body))
            return httpx2.Response(
                200,
                headers={"content-type": "text/event-stream"},
                content=(sse + "data: [DONE]\n\n").encode(),
            )
        r = self.answer(body)
        message = {"role": "assistant", "content": r["content"], "tool_calls": r["tool_calls"]}
        prompt = len(_prompt_ids(body["messages"]))
        return httpx2.Response(
            200,
            json={
                "id": "chatcmpl-ref",
                "object": "chat.completion",
                "created": 1,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": r["finish_reason"],
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": 1,
                    "total_tokens": prompt + 1,
                },
            },
        )

    def client(self, model: str = "tiny-chat", **config: Any) -> OpenAIChatCompletionClient:
        http = httpx2.AsyncClient(transport=httpx2.MockTransport(self._handle))
        options: dict[str, Any] = {"http_client": http, "max_retries": 0, **config}
        return OpenAIChatCompletionClient(
            model=model,
            base_url="http://endpoint.test/v1",
            api_key="x",
            model_info=INFO,
            **options,
        )


class FakeSession:
    """Records what the hooks send to a session; answers every chat with ``result``."""

    def __init__(self, result: ChatResult):
        self.engines = {"tiny": object()}
        self.result = result
        self.sent: list[tuple[list[dict[str, Any]], dict[str, Any]]] = []
        self.passed: list[tuple[str, str | None]] = []

    async def achat(self, messages: list[dict[str, Any]], **kw: Any) -> ChatResult:
        self.sent.append((messages, kw))
        return self.result

    async def apassthrough(self, fn: Callable[[], Any], *, model: str, node: str | None) -> Any:
        self.passed.append((model, node))
        return await fn()

    async def apassthrough_stream(
        self, stream: AsyncIterator[Any], *, model: str, node: str | None
    ) -> AsyncIterator[Any]:
        self.passed.append((model, node))
        async for item in stream:
            yield item


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


CALL = {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}}
TOOL_ANSWER = {"content": "let me add", "tool_calls": [CALL], "finish_reason": "tool_calls"}


def _result(answer: dict[str, Any], prompt: int) -> ChatResult:
    return ChatResult(
        "raw",
        prompt,
        1,
        0,
        answer["finish_reason"],
        [1],
        content=answer["content"],
        tool_calls=answer["tool_calls"],
    )


MESSAGES: list[LLMMessage] = [
    SystemMessage(content="sys"),
    UserMessage(content="add 1", source="user"),
]


def _sampling(kw: dict[str, Any]) -> dict[str, Any]:
    fields = ("model", "node", "tools", "tool_choice", "response_format")
    return {k: v for k, v in kw.items() if k not in fields}


# ---- unit: the request Halo receives, the result AutoGen builds -------------------------------


def test_halo_gets_the_wire_request_and_autogen_builds_the_same_result() -> None:
    config: dict[str, Any] = {"temperature": 0, "max_tokens": 8, "seed": 3, "stop": ["\n"]}
    endpoint = Endpoint(answer=lambda body: TOOL_ANSWER)
    tools = [FunctionTool(add, description="Add two numbers.")]

    async def create(client: OpenAIChatCompletionClient) -> CreateResult:
        extra = {"top_p": 0.5}
        return await client.create(
            MESSAGES, tools=tools, tool_choice="auto", extra_create_args=extra
        )

    reference = asyncio.run(create(endpoint.client(**config)))
    body = endpoint.bodies[0]
    fake = FakeSession(_result(TOOL_ANSWER, len(_prompt_ids(body["messages"]))))
    with halo_adapters.bind(fake, {"tiny-chat": "tiny"}):
        got = asyncio.run(create(endpoint.client(**config)))
    assert len(endpoint.bodies) == 1  # nothing reached the endpoint under the binding
    messages, kw = fake.sent[0]
    assert messages == body["messages"]
    assert kw["tools"] == body["tools"] and kw["tool_choice"] == body["tool_choice"] == "auto"
    assert kw["model"] == "tiny" and kw["node"] is None and kw.get("response_format") is None
    assert _sampling(kw) == {
        "temperature": 0,
        "max_tokens": 8,
        "seed": 3,
        "stop": ["\n"],
        "top_p": 0.5,
    }
    assert got == reference
    assert got.content == [FunctionCall(id="call_1", arguments='{"a": 1}', name="add")]
    assert (got.finish_reason, got.thought) == ("function_calls", "let me add")


def _stream_reference(body: dict[str, Any]) -> list[dict[str, Any]]:
    """What vllm serve streams for TOOL_ANSWER: text and tool-call arguments in pieces."""
    head = {"id": "chatcmpl-ref", "object": "chat.completion.chunk", "created": 1, "model": "m"}

    def delta(d: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": d, "logprobs": None, "finish_reason": finish}
        return {**head, "choices": [choice]}

    name = {"name": "add", "arguments": ""}
    prompt = len(_prompt_ids(body["messages"]))
    return [
        delta({"role": "assistant", "content": ""}),
        delta({"content": "let me"}),
        delta({"content": " add"}),
        delta({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": name}]}),
        delta({"tool_calls": [{"index": 0, "function": {"arguments": '{"a": '}}]}),
        delta({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
        delta({}, "tool_calls"),
        {**head, "choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": 1}},
    ]


async def _collect(client: OpenAIChatCompletionClient, **kw: Any) -> tuple[str, Any]:
    items = [x async for x in client.create_stream(MESSAGES, **kw)]
    assert all(isinstance(x, str) for x in items[:-1])
    return "".join(str(x) for x in items[:-1]), items[-1]


def test_create_stream_ends_as_the_real_stream() -> None:
    endpoint = Endpoint(stream=_stream_reference)
    tools = [FunctionTool(add, description="Add two numbers.")]
    reference = asyncio.run(_collect(endpoint.client(), tools=tools, include_usage=True))
    body = endpoint.bodies[0]
    assert body["stream_options"] == {"include_usage": True}
    fake = FakeSession(_result(TOOL_ANSWER, len(_prompt_ids(body["messages"]))))
    with halo_adapters.bind(fake, {"tiny-chat": "tiny"}):
        got = asyncio.run(_collect(endpoint.client(), tools=tools, include_usage=True))
    assert fake.sent[0][0] == body["messages"] and fake.sent[0][1]["tools"] == body["tools"]
    assert got == reference
    assert got[1].usage.prompt_tokens > 0 and got[1].finish_reason == "function_calls"


class Verdict(BaseModel):
    answer: str


def test_structured_output_goes_the_parse_and_stream_paths() -> None:
    text = {"content": '{"answer": "yes"}', "tool_calls": [], "finish_reason": "stop"}

    def sse(body: dict[str, Any]) -> list[dict[str, Any]]:
        head = {"id": "r", "object": "chat.completion.chunk", "created": 1, "model": "m"}
        return [
            {**head, "choices": [{"index": 0, "delta": d, "finish_reason": f}]}
            for d, f in (({"role": "assistant", "content": text["content"]}, None), ({}, "stop"))
        ]

    endpoint = Endpoint(answer=lambda body: text, stream=sse)

    async def both(client: OpenAIChatCompletionClient) -> tuple[Any, Any]:
        one = await client.create(MESSAGES, json_output=Verdict)
        return one, await _collect(client, json_output=Verdict)

    reference = asyncio.run(both(endpoint.client()))
    fake = FakeSession(_result(text, len(_prompt_ids(endpoint.bodies[0]["messages"]))))
    with halo_adapters.bind(fake, {"tiny-chat": "tiny"}):
        got = asyncio.run(both(endpoint.client()))
    assert got[0] == reference[0] and got[1][0] == reference[1][0]
    assert got[1][1].content == reference[1][1].content == text["content"]
    wire = endpoint.bodies[0]["response_format"]
    assert [kw["response_format"] for _, kw in fake.sent] == [wire, wire]
    assert wire["type"] == "json_schema" and wire["json_schema"]["name"] == "Verdict"


def test_an_unserved_model_passes_through_and_is_recorded() -> None:
    def sse(body: dict[str, Any]) -> list[dict[str, Any]]:
        choice = {"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}
        head = {"id": "r", "object": "chat.completion.chunk", "created": 1, "model": "judge"}
        return [{**head, "choices": [choice]}]

    endpoint = Endpoint(stream=sse)
    fake = FakeSession(_result(TOOL_ANSWER, 1))

    async def run() -> tuple[Any, Any]:
        client = endpoint.client(model="judge")
        return await client.create(MESSAGES), await _collect(client)

    with halo_adapters.bind(fake, {"tiny-chat": "tiny"}, unmapped="passthrough"):
        one, (text, last) = asyncio.run(run())
    assert one.content == "seen 2" and (text, last.content) == ("hi", "hi")
    assert fake.sent == [] and fake.passed == [("judge", None), ("judge", None)]
    assert len(endpoint.bodies) == 2


def test_an_unmapped_model_fails_naming_it() -> None:
    fake = FakeSession(_result(TOOL_ANSWER, 1))
    with (
        halo_adapters.bind(fake, {"tiny-chat": "tiny"}),
        pytest.raises(halo_adapters.UnmappedModelError, match="'judge'"),
    ):
        asyncio.run(Endpoint().client(model="judge").create(MESSAGES))


# ---- unit: hooks, self-test, install -----------------------------------------------------------


def test_self_test_passes_and_fails_loudly_when_a_hook_misses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    autogen_hook.uninstall()
    autogen_hook.self_test()
    assert not autogen_hook.installed()  # the self-test leaves no hooks behind
    spec = autogen_hook._spec
    no_sdk = [autogen_hook._sdk_create, autogen_hook._sdk_parse]
    monkeypatch.setattr(
        autogen_hook._patches,
        "_spec",
        lambda: {k: p for k, p in spec().items() if p[2] not in no_sdk},
    )
    with pytest.raises(ImportError, match=r"autogen-ext 0\.7\.5 and openai \d"):
        autogen_hook.self_test()
    assert not autogen_hook.installed()


def test_importing_the_hook_installs_nothing_until_bound() -> None:
    code = """
import halo_adapters, halo_adapters._autogen_hook as h
from autogen_core.tools import BaseTool
own = BaseTool.run_json
assert not h.installed()
class S:
    pass
with halo_adapters.bind(S()):
    assert h.installed() and BaseTool.run_json is not own
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


# ---- unit: instances, nodes and tools on a fake engine ---------------------------------------


def lookup(x: str) -> str:
    """Look an entry up."""
    if x == "boom":
        raise ValueError(f"no entry {x!r}")
    return x.upper()


def _team(client: OpenAIChatCompletionClient, tool: Any = None, **team: Any) -> Any:
    tools = [tool or FunctionTool(lookup, description="Look an entry up.")]
    a = AssistantAgent("a", client, tools=tools)
    return RoundRobinGroupChat([a, AssistantAgent("b", client)], max_turns=2, **team)


def _outline(result: Any) -> Any:
    """A TaskResult without ids, timestamps and usage."""
    if isinstance(result, BaseException):
        return ("raised", type(result).__name__, str(result))

    def content(m: Any) -> Any:
        c = getattr(m, "content", None)
        if isinstance(c, list):  # FunctionCall (a dataclass) / FunctionExecutionResult
            return [{k: v for k, v in vars(x).items() if k not in ("id", "call_id")} for x in c]
        return c

    messages = [(type(m).__name__, m.source, content(m)) for m in result.messages]
    return messages, result.stop_reason


TASKS = ["alpha", "boom", "gamma", "alpha"]


def test_teams_with_tools_match_the_reference_and_a_raising_tool_fails_alone(
    fake_halo: Callable[..., Session],
) -> None:
    """The fake model calls the tool on every task; "boom" makes it raise: that team's tool
    result is the error, as AutoGen reports it without Halo, and every team finishes."""
    endpoint = Endpoint()

    async def gather(client: OpenAIChatCompletionClient, tool: Any = None) -> list[Any]:
        teams = [_team(client, tool) for _ in TASKS]
        return list(
            await asyncio.gather(*(t.run(task=x) for t, x in zip(teams, TASKS, strict=True)))
        )

    reference = asyncio.run(gather(endpoint.client(temperature=0)))
    s = fake_halo(epoch_window_s=3600)
    with halo_adapters.bind(s, {"tiny-chat": "m"}):
        got = asyncio.run(gather(endpoint.client(temperature=0)))
    assert len(endpoint.bodies) == 2 * len(TASKS)  # the reference's calls only
    assert [_outline(r) for r in got] == [_outline(r) for r in reference]
    error = got[1].messages[2].content[0]
    assert (error.content, error.is_error) == ("no entry 'boom'", True)
    tools = [r for r in s.graph if r.kind == "tool"]
    assert {r.node for r in tools} == {"a:lookup"} and len(tools) == len(TASKS)
    assert sum(r.error is not None for r in tools) == 1
    assert {r.node for r in s.graph if r.kind == "llm"} == {"a", "b"}
    assert len({r.epoch for r in s.graph if r.node == "a"}) == 1  # every team's first turn
    assert len({r.instance for r in s.graph}) == len(TASKS)

    merged = fake_halo(epoch_window_s=3600)
    with halo_adapters.bind(merged, {"tiny-chat": "m"}):
        pure_tool = halo_adapters.pure(FunctionTool(lookup, description="Look an entry up."))
        again = asyncio.run(gather(endpoint.client(temperature=0), pure_tool))
    assert [_outline(r) for r in again] == [_outline(r) for r in reference]
    tools = [r for r in merged.graph if r.kind == "tool"]
    assert sum(r.merged_into is not None for r in tools) == 1  # the two "alpha" calls


def test_abatch_runs_teams_as_instances_and_reports(fake_halo: Callable[..., Session]) -> None:
    s = fake_halo()
    client = Endpoint().client(temperature=0)
    report = asyncio.run(
        halo_ag.abatch(lambda: _team(client), TASKS, session=s, models={"tiny-chat": "m"})
    )
    assert all(isinstance(r, TaskResult) for r in report.results)
    assert report.summary.llm_calls == 2 * len(TASKS) and report.summary.tool_calls == len(TASKS)
    assert len(report.instance_uids) == len(TASKS)
    assert {r.instance for r in report.records} == set(report.instance_uids)

    teams = [_team(client) for _ in TASKS[:2]]
    with pytest.raises(ValueError, match="2 teams for 4 tasks"):
        halo_ag.batch(teams, TASKS, session=s, models={"tiny-chat": "m"})
    sync = halo_ag.batch(teams, TASKS[:2], session=s, models={"tiny-chat": "m"})
    assert [_outline(r) for r in sync.results] == [_outline(r) for r in report.results[:2]]


def test_selector_calls_are_labelled_selector(fake_halo: Callable[..., Session]) -> None:
    s = fake_halo()
    client = Endpoint().client(temperature=0)

    def team() -> SelectorGroupChat:
        a = AssistantAgent("a", client, description="first")
        b = AssistantAgent("b", client, description="second")
        return SelectorGroupChat([a, b], client, max_turns=2)

    report = halo_ag.batch(team, ["x", "x"], session=s, models={"tiny-chat": "m"})
    assert all(isinstance(r, TaskResult) for r in report.results), report.results
    nodes = {r.node for r in report.records}
    assert "selector" in nodes and nodes <= {"selector", "a", "b"}
    assert report.summary.llm_executed < report.summary.llm_calls  # the two teams' calls merged


def test_a_lone_agent_run_is_an_instance_named_after_the_agent(
    fake_halo: Callable[..., Session],
) -> None:
    s = fake_halo()
    client = Endpoint().client(temperature=0)

    async def main() -> list[Any]:
        agents = [AssistantAgent("solo", client) for _ in range(3)]
        streamed = [x async for x in AssistantAgent("streamer", client).run_stream(task="y")]
        return [*(await asyncio.gather(*(a.run(task="x") for a in agents))), streamed[-1]]

    with halo_adapters.bind(s, {"tiny-chat": "m"}):
        results = asyncio.run(main())
        assert current_instance() is None
    assert [r.messages[-1].content for r in results] == ["seen 2"] * 4
    assert sorted(r.node for r in s.graph) == ["solo"] * 3 + ["streamer"]
    assert len({r.instance for r in s.graph}) == 4 and None not in {r.instance for r in s.graph}


def test_runs_inside_an_instance_stay_in_it(fake_halo: Callable[..., Session]) -> None:
    s = fake_halo()
    client = Endpoint().client(temperature=0)
    outer = InstanceRef(10_000, 0)

    async def main() -> Any:
        enter_instance(outer)
        return await _team(client).run(task="alpha")

    with halo_adapters.bind(s, {"tiny-chat": "m"}):
        asyncio.run(main())
    assert {r.instance for r in s.graph} == {outer.uid}


def test_a_team_on_its_own_runtime_still_runs_and_warns_once(
    fake_halo: Callable[..., Session], caplog: pytest.LogCaptureFixture
) -> None:
    s = fake_halo()
    client = Endpoint().client(temperature=0)
    autogen_hook._warn_own_runtime.cache_clear()

    async def main() -> list[Any]:
        runtime = SingleThreadedAgentRuntime()
        runtime.start()
        teams = [_team(client, runtime=runtime) for _ in range(2)]
        try:
            return [await t.run(task="alpha") for t in teams]
        finally:
            await runtime.stop_when_idle()

    with caplog.at_level(logging.WARNING, "halo"), halo_adapters.bind(s, {"tiny-chat": "m"}):
        results = asyncio.run(main())
    assert [_outline(r) for r in results] == [_outline(results[0])] * 2
    assert sum("runtime of its own" in r.message for r in caplog.records) == 1
    assert {r.instance for r in s.graph} == {None}


def test_a_cancelled_tool_call_is_cancelled() -> None:
    """Cancelling the token cancels the awaited pool call, as it cancels AutoGen's executor."""
    started = asyncio.Event()

    class Slow:
        async def acall_tool(self, fn: Any, args: Any, **kw: Any) -> Any:
            started.set()
            await asyncio.sleep(60)

    async def main() -> None:
        token = CancellationToken()
        tool = FunctionTool(lookup, description="Look an entry up.")
        enter_instance(InstanceRef(1, 0))
        run = asyncio.ensure_future(tool.run_json({"x": "a"}, token))
        await started.wait()
        token.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run

    with halo_adapters.bind(Slow()):
        asyncio.run(main())


@pytest.mark.slow  # about two minutes (tracemalloc doubles AutoGen's own time)
@pytest.mark.engine
@pytest.mark.timeout(900)
def test_a_thousand_teams_live_at_once(halo: Session) -> None:
    """1,000 RoundRobin teams of two agents in one asyncio.gather on the real engine: every team
    finishes; prints the run's peak memory (traced Python heap and RSS growth)."""
    n = 1000
    client = _tiny_client("http://127.0.0.1:9/v1", temperature=0, max_tokens=8)  # Halo serves

    def team() -> RoundRobinGroupChat:
        agents: list[Any] = [AssistantAgent(name, client) for name in ("a", "b")]
        return RoundRobinGroupChat(agents, max_turns=2)

    async def main() -> list[Any]:
        teams = [team() for _ in range(n)]
        return list(await asyncio.gather(*(t.run(task=f"task {i}") for i, t in enumerate(teams))))

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with halo_adapters.bind(halo, {"tiny-chat": "tiny"}):
            results = asyncio.run(main())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    wall = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0
    print(
        f"\n{n} teams: {wall:.1f} s, traced peak {peak / 2**20:.0f} MiB "
        f"({peak / n / 1024:.0f} KiB/team), peak RSS growth {rss / 1024:.0f} MiB, "
        f"{halo.graph.summary().epochs} epochs"
    )
    assert all(isinstance(r, TaskResult) and len(r.messages) == 3 for r in results)
    llm = [r for r in halo.graph if r.kind == "llm"]
    assert len(llm) == 2 * n and all(r.error is None for r in llm)
    assert len({r.instance for r in llm}) == n  # each team its own instance


# ---- engine: unchanged teams on the tiny model, against vllm serve ----------------------------


def _tiny_client(url: str, **config: Any) -> OpenAIChatCompletionClient:
    return OpenAIChatCompletionClient(
        model="tiny-chat", base_url=url, api_key="x", model_info=INFO, **config
    )


def _round_robin(client: OpenAIChatCompletionClient) -> RoundRobinGroupChat:
    a = AssistantAgent("a", client, system_message="You are a.")
    b = AssistantAgent("b", client, system_message="You are b.")
    return RoundRobinGroupChat([a, b], max_turns=3)


@pytest.mark.engine
def test_gathered_teams_equal_vllm_serve_and_coalesce(halo: Session, vllm_server: str) -> None:
    tasks = [f"Write about topic {i}." for i in range(8)]

    async def gather() -> list[Any]:
        client = _tiny_client(vllm_server, temperature=0, max_tokens=8)
        teams = [_round_robin(client) for _ in tasks]
        return list(
            await asyncio.gather(*(t.run(task=x) for t, x in zip(teams, tasks, strict=True)))
        )

    reference = asyncio.run(gather())
    first = halo.graph.next_call_id()
    with halo_adapters.bind(halo, models={"tiny-chat": "tiny"}):
        got = asyncio.run(gather())
    assert [_outline(r) for r in got] == [_outline(r) for r in reference]
    records = [r for r in halo.graph if r.call_id >= first]
    assert len(records) == 3 * len(tasks) and {r.node for r in records} == {"a", "b"}
    epochs = Counter(r.epoch for r in records)
    print(f"\n{len(records)} calls in {len(epochs)} epochs: {sorted(epochs.values())}")
    # the teams' calls coalesce: their first calls wait for one another (all eight are live
    # from the start) unless the 20 ms epoch window runs out first on a busy machine; each team
    # goes on when its own answer is in (exact epochs: the fake-engine tests above)
    assert len({r.instance for r in records}) == len(tasks)
    assert len(epochs) <= len(records) // 2


@pytest.mark.engine
@pytest.mark.parametrize("temperature", [0.0, 0.7])
def test_identical_selector_calls_run_once_sampled_ones_never_merge(
    halo: Session, temperature: float
) -> None:
    tasks = ["Plan a trip.", "Fix a bug."] * 3
    unused = "http://127.0.0.1:9/v1"  # served by Halo
    agents_client = _tiny_client(unused, temperature=0, max_tokens=8)
    selector_client = _tiny_client(unused, temperature=temperature, max_tokens=8)

    def team() -> SelectorGroupChat:
        agents: list[Any] = [
            AssistantAgent(n, agents_client, description=f"agent {n}", system_message=f"I am {n}.")
            for n in ("a", "b", "c")
        ]
        return SelectorGroupChat(agents, selector_client, max_turns=2)

    before = halo.counters()["tiny"].requests
    report = halo_ag.batch(team, tasks, session=halo, models={"tiny-chat": "tiny"})
    assert all(isinstance(r, TaskResult) for r in report.results), report.results
    selector = [r for r in report.records if r.node == "selector"]
    merged = [r for r in selector if r.merged_into is not None]
    requests = halo.counters()["tiny"].requests - before
    print(f"\nselector calls {len(selector)}, merged {len(merged)}; engine requests {requests}")
    assert selector and requests == report.summary.llm_executed
    if temperature == 0:
        assert len(merged) >= len(tasks) - 2  # the first selection: two distinct tasks
        assert report.summary.llm_executed < report.summary.llm_calls
    else:
        assert merged == []


def test_rows_through_a_team_factory_resume_from_the_journal(
    fake_halo: Callable[..., Session], tmp_path: Path
) -> None:
    """``halo batch``'s AutoGen path: a team factory over rows with a ``task`` column, durable."""
    from halo_adapters.rows import run_rows
    from halo_core import Journal

    s = fake_halo()
    client = _tiny_client("http://127.0.0.1:9/v1", temperature=0)

    def factory() -> RoundRobinGroupChat:
        agents: list[Any] = [AssistantAgent(name, client) for name in ("a", "b")]
        return RoundRobinGroupChat(agents, max_turns=2)

    rows = [{"task": f"task {i}"} for i in range(6)]
    engine: Any = s.engines["m"]
    with Journal(tmp_path / "j.db") as j:
        first = run_rows(factory, rows, session=s, journal=j)
        requests = len(engine.requests)
        again = run_rows(factory, rows, session=s, journal=j)
    assert all(isinstance(r, TaskResult) and len(r.messages) == 3 for r in first.results)
    assert [[m.dump()["content"] for m in r.messages] for r in again.results] == [
        [m.dump()["content"] for m in r.messages] for r in first.results
    ]
    assert again.journal is not None and again.journal.resumed == 6
    assert len(engine.requests) == requests  # nothing ran again


def test_request_bodies_of_plain_arguments_equal_the_sdks_transform() -> None:
    """Arguments that are JSON data already skip the openai SDK's transform; the body is the
    one the transform gives (omitted arguments dropped, extra_body merged)."""
    from openai import NOT_GIVEN, omit
    from openai._utils import maybe_transform
    from openai.types.chat import completion_create_params

    from halo_adapters import _openai_wire

    kwargs: dict[str, Any] = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "42"},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
        "response_format": {"type": "json_object"},
        "temperature": 0.0,
        "stop": ("a", "b"),
        "seed": None,
        "stream": False,
        "top_p": NOT_GIVEN,
        "n": omit,
        "extra_body": {"top_k": 1},
        "timeout": 3.0,
    }
    sdk = maybe_transform(
        {k: v for k, v in kwargs.items() if k not in ("extra_body", "timeout")},
        completion_create_params.CompletionCreateParams,
    )
    body = _openai_wire.request_body(kwargs)
    assert json.dumps(body, sort_keys=True) == json.dumps({**sdk, "top_k": 1}, sort_keys=True)
