"""The LangGraph adapter: an unchanged graph, run through Halo, gives what it gives without Halo."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Any, TypedDict

import pytest
from langchain_core.caches import InMemoryCache
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    convert_to_openai_messages,
)
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import BaseTool, tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from pydantic import ConfigDict

import halo_adapters
import halo_adapters.langgraph as halo_lg
from halo_adapters.binding import active
from halo_core import ChatResult as HaloChatResult
from halo_core import ConfigError, OptimizerConfig, Session
from tests.callbacks import CountingHandler

SYSTEM = (
    "You are a careful research assistant. You answer one question at a time, you cite the facts "
    "you were given and nothing else, and you keep every answer short and plain. "
) * 4
N = 32
FAILING = 5
QUESTIONS = ["Question boom" if i == FAILING else f"Question about topic {i % 8}" for i in range(N)]


# ---- the workflow under test: unchanged LangGraph / LangChain code ---------------------------


class EngineChat(BaseChatModel):
    """A chat model whose own ``_generate`` calls the engine directly (the "without Halo" path)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    model_name: str = "tiny-chat"
    max_tokens: int = 8
    temperature: float | None = None
    engine: Any = None  # the Session whose engine the model calls when Halo is not bound

    @property
    def _llm_type(self) -> str:
        return "engine-chat"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        r = self.engine.chat(
            convert_to_openai_messages(messages),  # type: ignore[arg-type]
            max_tokens=self.max_tokens,
            temperature=self.temperature or 0.0,
        )
        return ChatResult(generations=[ChatGeneration(message=AIMessage(r.text))])


@halo_adapters.pure
@tool
def lookup_facts(topic: str) -> str:
    """Look up facts about a topic."""
    if "boom" in topic:
        raise ConnectionError("facts service unreachable")
    return f"facts about {topic}: it is blue"


class State(TypedDict, total=False):
    q: str
    draft: str
    facts: str
    answer: str


def build_graph(model: BaseChatModel, facts: BaseTool, *, use_async: bool, saver: Any = None):
    def prompt(s: State, final: bool) -> list[BaseMessage]:
        user = f"{s['q']}\nDraft: {s['draft']}\nFacts: {s['facts']}" if final else s["q"]
        return [SystemMessage(SYSTEM), HumanMessage(user)]

    def draft(s: State) -> State:
        return {"draft": model.invoke(prompt(s, False)).content}  # type: ignore[typeddict-item]

    def lookup(s: State) -> State:
        return {"facts": facts.invoke({"topic": s["q"]})}

    def answer(s: State) -> State:
        return {"answer": model.invoke(prompt(s, True)).content}  # type: ignore[typeddict-item]

    async def adraft(s: State) -> State:
        return {"draft": (await model.ainvoke(prompt(s, False))).content}  # type: ignore

    async def alookup(s: State) -> State:
        return {"facts": await facts.ainvoke({"topic": s["q"]})}

    async def aanswer(s: State) -> State:
        return {"answer": (await model.ainvoke(prompt(s, True))).content}  # type: ignore

    g = StateGraph(State)
    g.add_node("draft", adraft if use_async else draft)
    g.add_node("lookup", alookup if use_async else lookup)
    g.add_node("answer", aanswer if use_async else answer)
    g.add_edge(START, "draft")
    g.add_edge("draft", "lookup")
    g.add_edge("lookup", "answer")
    g.add_edge("answer", END)
    return g.compile(checkpointer=saver)


def _invoke_alone(graph: Any, q: str, config: dict[str, Any]) -> Any:
    try:
        return graph.invoke({"q": q}, config)
    except Exception as e:
        return e


@pytest.fixture(scope="module")
def reference(engine_session: Session) -> tuple[list[Any], Counter[str]]:
    """Each input through plain ``graph.invoke``, no binding: the model calls the engine itself,
    one call at a time (no optimizer rules, cold cache)."""
    engine_session.reset()
    handler = CountingHandler()
    graph = build_graph(EngineChat(engine=engine_session), lookup_facts, use_async=False)
    with engine_session.optimizing(OptimizerConfig.direct()):
        results = [_invoke_alone(graph, q, {"callbacks": [handler]}) for q in QUESTIONS]
    engine_session.reset()
    return results, handler.counts


def _same(got: list[Any], expected: list[Any]) -> None:
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        if isinstance(e, Exception):
            assert type(g) is type(e) and str(e) in str(g), (i, g, e)
        else:
            assert g == e, (i, g, e)


# ---- with the engine --------------------------------------------------------------------------


@pytest.mark.engine
def test_batch_equals_plain_invoke_and_merges_identical_calls(
    halo: Session, reference: tuple[list[Any], Counter[str]]
) -> None:
    expected, expected_counts = reference
    assert isinstance(expected[FAILING], ConnectionError)
    assert all(isinstance(r, dict) and r["answer"] for i, r in enumerate(expected) if i != FAILING)
    handler = CountingHandler()
    saver = InMemorySaver()
    graph = build_graph(EngineChat(engine=None), lookup_facts, use_async=False, saver=saver)
    report = halo_lg.batch(
        graph, [{"q": q} for q in QUESTIONS], session=halo, config={"callbacks": [handler]}
    )
    _same(report.results, expected)
    assert report.failed == 1
    assert "facts service unreachable" in str(report.results[FAILING])
    assert handler.counts == expected_counts  # callbacks fire as often as without Halo
    assert expected_counts["chat_model_start"] == 2 * N - 1
    assert expected_counts["tool_error"] == 1
    s = report.summary
    assert s.llm_calls == 2 * N - 1 and s.tool_calls == N
    assert s.llm_executed < s.llm_calls  # identical drafts across instances were merged
    assert s.tool_executed < s.tool_calls  # the pure tool was merged too
    nodes = {r.node for r in halo.graph}
    assert {"draft", "answer", "lookup:lookup_facts"} <= nodes
    threads = {c.config["configurable"]["thread_id"] for c in saver.list(None)}
    assert len(threads) == N  # every instance had its own checkpointer thread


@pytest.mark.engine
def test_graph_batch_under_a_session_goes_through_halo(
    halo: Session, reference: tuple[list[Any], Counter[str]]
) -> None:
    expected, _ = reference
    graph = build_graph(EngineChat(engine=None), lookup_facts, use_async=False)
    inputs = [{"q": q} for q in QUESTIONS[:8]]
    with halo_adapters.bind(halo):
        got = graph.batch(inputs, return_exceptions=True)
        with pytest.raises(ConnectionError):
            graph.batch(inputs)
    _same(got, expected[:8])
    assert halo.graph.summary().llm_calls == 2 * (2 * 8 - 1)


@pytest.mark.engine
def test_graph_invoke_from_many_threads_goes_through_halo(
    halo: Session, reference: tuple[list[Any], Counter[str]]
) -> None:
    expected, _ = reference
    graph = build_graph(EngineChat(engine=None), lookup_facts, use_async=False)
    got: dict[int, Any] = {}

    def caller(i: int) -> None:
        try:
            got[i] = graph.invoke({"q": QUESTIONS[i]})
        except Exception as e:
            got[i] = e

    with halo_adapters.bind(halo):
        threads = [threading.Thread(target=caller, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    _same([got[i] for i in range(16)], expected[:16])
    s = halo.graph.summary()
    assert s.llm_calls == 2 * 16 - 1  # every call of every thread went through Halo
    assert s.llm_executed < s.llm_calls and s.tool_executed < s.tool_calls  # topics repeat


@pytest.mark.engine
def test_async_graph_through_abatch(
    halo: Session, reference: tuple[list[Any], Counter[str]]
) -> None:
    expected, _ = reference
    handler = CountingHandler()
    graph = build_graph(EngineChat(engine=None), lookup_facts, use_async=True)
    report = asyncio.run(
        halo_lg.abatch(
            graph,
            [{"q": q} for q in QUESTIONS[:8]],
            session=halo,
            config={"callbacks": [handler]},
        )
    )
    _same(report.results, expected[:8])
    assert report.summary.llm_calls == 2 * 8 - 1 and report.summary.tool_calls == 8
    assert handler.counts["chat_model_start"] == handler.counts["llm_end"] == 2 * 8 - 1
    assert handler.counts["tool_start"] == 8 and handler.counts["tool_error"] == 1


@pytest.mark.engine
def test_without_a_binding_the_model_runs_its_own_code(engine_session: Session) -> None:
    model = EngineChat(engine=engine_session)
    before = engine_session.graph.summary().llm_calls
    with engine_session.optimizing(OptimizerConfig.direct()):
        out = model.invoke("hello")
    assert isinstance(out.content, str)
    assert engine_session.graph.summary().llm_calls == before + 1  # its own _generate ran
    assert active() is None


# ---- one runner behind halo.batch / halo.abatch and graph.batch / graph.abatch -----------------


class Step(TypedDict, total=False):
    i: int
    seen: int


class Gauge:
    """A node that notes how many instances are inside it at once."""

    def __init__(self) -> None:
        self.now = self.most = 0
        self.lock = threading.Lock()

    def __call__(self, s: Step) -> Step:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.05)
        with self.lock:
            self.now -= 1
        return {"seen": s["i"]}


def chain(state: type, nodes: dict[str, Any], saver: Any = None) -> Any:
    """A compiled graph running ``nodes`` one after another."""
    g: StateGraph[Any] = StateGraph(state)
    names = [START, *nodes, END]
    for name, node in nodes.items():
        g.add_node(name, node)
    for a, b in itertools.pairwise(names):
        g.add_edge(a, b)
    return g.compile(checkpointer=saver)


async def _bound_abatch(halo: Session, graph: Any, inputs: list[Any], config: Any) -> list[Any]:
    with halo_adapters.bind(halo):
        return await graph.abatch(inputs, config)


def _bound_batch(halo: Session, graph: Any, inputs: list[Any], config: Any) -> list[Any]:
    with halo_adapters.bind(halo):
        return graph.batch(inputs, config)


RUNNERS = {
    "halo.batch": lambda h, g, x, c: halo_lg.batch(g, x, session=h, config=c).results,
    "halo.abatch": lambda h, g, x, c: (
        asyncio.run(halo_lg.abatch(g, x, session=h, config=c)).results
    ),
    "graph.batch": _bound_batch,
    "graph.abatch": lambda h, g, x, c: asyncio.run(_bound_abatch(h, g, x, c)),
}


@pytest.mark.engine
@pytest.mark.parametrize("runner", list(RUNNERS))
def test_every_batch_path_honours_max_concurrency(halo: Session, runner: str) -> None:
    gauge = Gauge()
    inputs = [{"i": i} for i in range(8)]
    got = RUNNERS[runner](halo, chain(Step, {"step": gauge}), inputs, {"max_concurrency": 2})
    assert [r["seen"] for r in got] == list(range(8))
    assert gauge.most == 2


@pytest.mark.engine
@pytest.mark.parametrize("runner", list(RUNNERS))
def test_every_batch_path_gives_each_instance_its_checkpointer_thread(
    halo: Session, runner: str
) -> None:
    saver = InMemorySaver()
    graph = chain(Step, {"step": lambda s: {"seen": s["i"]}}, saver)
    got = RUNNERS[runner](halo, graph, [{"i": i} for i in range(8)], None)
    assert [r["seen"] for r in got] == list(range(8))
    assert len({c.config["configurable"]["thread_id"] for c in saver.list(None)}) == 8


class Judged(TypedDict, total=False):
    q: str
    draft: str
    verdict: str


@pytest.mark.engine
def test_a_model_halo_does_not_serve_passes_through_to_its_own_client(halo: Session) -> None:
    model = EngineChat(engine=None)  # served: "tiny-chat" is mapped
    judge = FakeListChatModel(responses=["looks right"])  # left to its own code

    def draft(s: Judged) -> Judged:
        return {"draft": str(model.invoke([SystemMessage(SYSTEM), HumanMessage(s["q"])]).content)}

    def verdict(s: Judged) -> Judged:
        return {"verdict": str(judge.invoke(f"Judge: {s['draft']}").content)}

    graph = chain(Judged, {"draft": draft, "judge": verdict})
    inputs = [{"q": q} for q in QUESTIONS[:4]]
    report = halo_lg.batch(
        graph, inputs, session=halo, models={"tiny-chat": "tiny"}, unmapped="passthrough"
    )
    assert not report.failed
    assert [r["verdict"] for r in report.results] == ["looks right"] * 4
    judged = [r for r in report.records if r.node == "judge"]
    drafted = [r for r in report.records if r.node == "draft"]
    assert [(r.passthrough, r.model, r.executed) for r in judged] == [
        (True, "FakeListChatModel", False)
    ] * 4
    assert len(drafted) == 4 and not any(r.passthrough for r in drafted)
    assert {r.model for r in drafted} == {"tiny"} and any(r.executed for r in drafted)


# ---- ChatOpenAI against a real vLLM OpenAI server as the "without Halo" reference -----


@pytest.mark.engine
def test_chat_openai_graph_matches_a_real_vllm_server(halo: Session, vllm_server: str) -> None:
    import langchain_openai as openai

    model = openai.ChatOpenAI(
        model="tiny-chat", api_key="unused", base_url=vllm_server, max_tokens=8, temperature=0
    )
    graph = build_graph(model, lookup_facts, use_async=False)
    expected = [_invoke_alone(graph, q, {}) for q in QUESTIONS]  # over HTTP, one at a time
    report = halo_lg.batch(
        graph, [{"q": q} for q in QUESTIONS], session=halo, models={"tiny-chat": "tiny"}
    )
    _same(report.results, expected)
    assert report.summary.llm_executed < report.summary.llm_calls


# ---- without the engine: the request mapping, with a stand-in session --------------------------


class FakeSession:
    """Records what the hook sends; answers 'ok'."""

    def __init__(self) -> None:
        self.sent: list[tuple[list[dict[str, Any]], dict[str, Any]]] = []
        self.engines = {"qwen": object(), "small": object()}

    def chat(self, messages: list[dict[str, Any]], **kw: Any) -> HaloChatResult:
        self.sent.append((messages, kw))
        return HaloChatResult("ok", 3, 1, 2, "stop", [7], content="ok")

    async def achat(self, messages: list[dict[str, Any]], **kw: Any) -> HaloChatResult:
        return self.chat(messages, **kw)


def _openai(**kw: Any) -> Any:
    import langchain_openai as openai

    return openai.ChatOpenAI(api_key="unused", base_url="http://127.0.0.1:9/v1", **kw)


def test_chat_openai_request_maps_to_halo_sampling() -> None:
    fake = FakeSession()
    model = _openai(
        model="Qwen/Qwen3-14B",
        max_completion_tokens=5,
        seed=3,
        extra_body={"top_k": 2, "repetition_penalty": 1.1},
    )
    with halo_adapters.bind(fake, {"Qwen/Qwen3-14B": "qwen"}):
        out = model.invoke([SystemMessage("sys"), HumanMessage("hi")], stop=["\n"])
        streamed = list(model.stream("hi"))  # no slipping past Halo to the model's endpoint
    assert out.content == "ok" and streamed[0].content == "ok"
    assert isinstance(streamed[0], AIMessageChunk) and len(streamed) == 1
    assert out.usage_metadata == {
        "input_tokens": 3,
        "output_tokens": 1,
        "total_tokens": 4,
        "input_token_details": {},  # as from vllm serve (no --enable-prompt-tokens-details)
        "output_token_details": {},
    }
    messages, kw = fake.sent[0]
    assert messages == [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}]
    assert kw["model"] == "qwen" and kw["node"] is None and kw["tools"] is None
    fields = ("model", "node", "tools", "tool_choice", "response_format")
    sampling = {k: v for k, v in kw.items() if k not in fields}
    assert sampling == {
        "temperature": None,  # unset: the engine's default, as vllm serve applies it
        "max_tokens": 5,
        "seed": 3,
        "stop": ["\n"],
        "top_k": 2,
        "repetition_penalty": 1.1,
    }
    assert len(fake.sent) == 2


def test_llm_cache_still_answers_and_bound_tools_pass_through() -> None:
    fake = FakeSession()
    model = _openai(model="m", cache=InMemoryCache())
    with halo_adapters.bind(fake):
        first = model.invoke("same question")
        again = model.invoke("same question")
        model.bind_tools([lookup_facts]).invoke("use the tool")
    assert first.content == again.content == "ok"
    assert len(fake.sent) == 2  # the second identical call came from LangChain's cache
    tools = fake.sent[1][1]["tools"]
    assert tools[0]["function"]["name"] == "lookup_facts"
    assert fake.sent[0][1]["model"] is None  # no mapping: the session's default engine


def test_unsupported_requests_fail_clearly() -> None:
    fake = FakeSession()
    with halo_adapters.bind(fake, {"Qwen/Qwen3-14B": "qwen"}):
        with pytest.raises(halo_adapters.UnmappedModelError, match="gpt-x"):
            _openai(model="gpt-x").invoke("hi")
        with pytest.raises(NotImplementedError, match="n=1"):
            _openai(model="Qwen/Qwen3-14B", n=2).invoke("hi")
        with pytest.raises(NotImplementedError, match="logprobs"):
            _openai(model="Qwen/Qwen3-14B", logprobs=True).invoke("hi")
    with pytest.raises(ConfigError, match="nowhere"), halo_adapters.bind(fake, {"m": "nowhere"}):
        pass
    assert fake.sent == [] and active() is None


def test_tool_body_runs_on_the_session_pool_with_callbacks_in_the_caller() -> None:
    ran: list[tuple[Any, ...]] = []

    class PoolSession(FakeSession):
        def call_tool(
            self, fn: Any, args: Any, kw: Any, *, pure: bool, node: str | None, retry: Any
        ) -> Any:
            ran.append((fn.__qualname__, tuple(args), kw, pure, node))
            return fn(*args, **kw)

    handler = CountingHandler()
    with halo_adapters.bind(PoolSession()):
        msg = lookup_facts.invoke(
            {"type": "tool_call", "id": "call-1", "name": "lookup_facts", "args": {"topic": "x"}},
            {"callbacks": [handler]},
        )
        with pytest.raises(ConnectionError, match="unreachable"):
            lookup_facts.invoke({"topic": "boom"}, {"callbacks": [handler]})
    assert msg.tool_call_id == "call-1" and msg.content == "facts about x: it is blue"
    assert [r[1:] for r in ran] == [
        ((), {"topic": "x"}, True, "lookup_facts"),
        ((), {"topic": "boom"}, True, "lookup_facts"),
    ]
    assert ran[0][0] == "lookup_facts[lookup_facts]"  # the function behind the tool, its name
    assert handler.counts == Counter(tool_start=2, tool_end=1, tool_error=1)


class PassSession(FakeSession):
    """Also runs (and notes) the calls the binding leaves to the model's own client."""

    def __init__(self) -> None:
        super().__init__()
        self.passed: list[tuple[str, str | None]] = []

    def passthrough(self, fn: Any, *, model: str, node: str | None = None) -> Any:
        self.passed.append((model, node))
        return fn()

    async def apassthrough(self, afn: Any, *, model: str, node: str | None = None) -> Any:
        self.passed.append((model, node))
        return await afn()

    def passthrough_stream(self, it: Any, *, model: str, node: str | None = None) -> Any:
        self.passed.append((model, node))
        yield from it

    async def apassthrough_stream(self, it: Any, *, model: str, node: str | None = None) -> Any:
        self.passed.append((model, node))
        async for item in it:
            yield item


async def _collect(it: Any) -> list[Any]:
    return [c async for c in it]


def test_every_call_path_of_an_unserved_model_runs_its_own_code_once() -> None:
    fake = PassSession()
    judge = FakeListChatModel(responses=["fine"])
    with halo_adapters.bind(fake, {"Qwen/Qwen3-14B": "qwen"}, unmapped="passthrough"):
        got = [
            judge.invoke("a").content,
            asyncio.run(judge.ainvoke("b")).content,
            "".join(str(c.content) for c in judge.stream("c")),
            "".join(str(c.content) for c in asyncio.run(_collect(judge.astream("d")))),
            judge.stream_events("e", version="v3").output.text,
            _openai(model="Qwen/Qwen3-14B").invoke("f").content,
        ]
    assert got == ["fine"] * 5 + ["ok"]
    assert fake.passed == [("FakeListChatModel", None)] * 5  # each call recorded once
    assert [kw["model"] for _, kw in fake.sent] == ["qwen"]  # the mapped model went to Halo


def test_an_unmapped_model_error_names_the_model_and_the_ways_out() -> None:
    fake = FakeSession()
    with halo_adapters.bind(fake, {"Qwen/Qwen3-14B": "qwen"}):
        with pytest.raises(halo_adapters.UnmappedModelError) as err:
            FakeListChatModel(responses=["x"]).invoke("hi")
        with pytest.raises(halo_adapters.UnmappedModelError, match="gpt-x': 'qwen'}"):
            _openai(model="gpt-x").invoke("hi")
    assert str(err.value) == (
        "chat model FakeListChatModel (no model id) is not in the Halo binding's models mapping "
        "['Qwen/Qwen3-14B']; give it a model id and add it with models={...} or bind with "
        "unmapped='passthrough'"
    )
    unknown: Any = "sometimes"
    with pytest.raises(ConfigError, match="unmapped"), halo_adapters.bind(fake, unmapped=unknown):
        pass
    assert fake.sent == [] and active() is None


def test_importing_the_binding_imports_no_framework() -> None:
    code = (
        "import sys, halo_adapters; "
        "print([m for m in sys.modules if m.startswith(('langchain', 'langgraph'))])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
