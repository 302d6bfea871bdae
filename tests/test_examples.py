"""The LangGraph examples give under Halo exactly what they give without it.

"Without Halo" is the unchanged graph with ``ChatOpenAI`` talking to a stock ``vllm serve`` of the
tiny test model (``vllm_server``), run the LangGraph way: ``graph.batch(inputs,
config={"max_concurrency": 8})``. "Under Halo" is the same graph object built around a
``ChatOpenAI`` with the same settings, its calls routed through the in-process engine (``halo``),
so the HTTP endpoint is never contacted. Tool-call ids, message ids and response ids are random
per response on both sides, so results are compared after :func:`halo_adapters.testing.comparable`.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

import halo_adapters
import halo_adapters.langgraph as halo_lg
from examples import langgraph_map_reduce, langgraph_sql_agent, langgraph_supervisor
from halo_adapters.testing import comparable, mismatches
from halo_core import Session
from tests.callbacks import CountingHandler

N = 32
MODELS = {"tiny-chat": "tiny"}
ROOT = Path(__file__).resolve().parent.parent

#: Each example with the output-token cap its tests use. The SQL agent's longest conversation
#: (three tool schemas, three agent turns) must fit the test model's 1024-token context; the
#: supervisor's guided route / tool-call JSON needs more room than a chunk summary.
EXAMPLES: dict[str, tuple[ModuleType, int]] = {
    "map_reduce": (langgraph_map_reduce, 48),
    "sql_agent": (langgraph_sql_agent, 56),
    "supervisor": (langgraph_supervisor, 64),
}


def chat_model(url: str, max_tokens: int) -> Any:
    import langchain_openai

    return langchain_openai.ChatOpenAI(
        model="tiny-chat", base_url=url, api_key="unused", temperature=0, max_tokens=max_tokens
    )


# ---- comparing results -------------------------------------------------------------------------


def assert_same(got: list[Any], expected: list[Any]) -> None:
    """Results under Halo (``got``) equal the reference, instance by instance."""
    diffs = mismatches(got, expected)
    assert not diffs, f"{len(diffs)} of {len(got)} instances differ:\n" + "\n".join(
        list(diffs.values())[:5]
    )


# ---- without Halo: the reference runs against the vLLM server ------------------------------------


def run_without_halo(
    name: str, url: str, inputs: list[dict[str, Any]]
) -> tuple[list[Any], Counter[str]]:
    module, max_tokens = EXAMPLES[name]
    graph = module.build_graph(chat_model(url, max_tokens))
    handler = CountingHandler()
    results = graph.batch(
        inputs, config={"max_concurrency": 8, "callbacks": [handler]}, return_exceptions=True
    )
    return results, handler.counts


@pytest.fixture(scope="module")
def reference(vllm_server: str) -> Callable[[str], tuple[list[Any], Counter[str]]]:
    """``reference(name)``: the example over ``make_inputs(N)`` against the server (run once)."""
    cache: dict[str, tuple[list[Any], Counter[str]]] = {}

    def get(name: str) -> tuple[list[Any], Counter[str]]:
        if name not in cache:
            cache[name] = run_without_halo(name, vllm_server, EXAMPLES[name][0].make_inputs(N))
        return cache[name]

    return get


# ---- what each example's results must show (so the comparison is not vacuous) -------------------


def check_map_reduce(results: list[Any]) -> None:
    for r in results:
        assert len(r["notes"]) == len(r["chunks"]) == 3
        assert sorted(n["index"] for n in r["notes"]) == [0, 1, 2]
        assert isinstance(r["summary"], str) and r["summary"]


def check_sql_agent(results: list[Any]) -> None:
    tools = Counter(
        (m.name, m.status)
        for r in results
        for m in r["messages"]
        if isinstance(m, ToolMessage) and m.name != "get_schema"
    )
    assert sum(tools.values()) >= N  # the loop ran tools, not just LLM turns
    assert any(status == "error" for _, status in tools)  # errors went back to the model
    assert max(r["steps"] for r in results) == langgraph_sql_agent.MAX_STEPS  # several turns
    assert all(isinstance(r["answer"], str) and r["answer"] for r in results)


def check_supervisor(results: list[Any]) -> None:
    done = [r for r in results if not isinstance(r, BaseException)]
    assert len(done) >= N // 2
    assert max(r["rounds"] for r in done) >= 2  # the supervisor looped
    reports = Counter(m.name for r in done for m in r["messages"] if m.type == "ai")
    assert reports["math"] and reports["catalog"]  # both specialists were routed to


CHECKS: dict[str, Callable[[list[Any]], None]] = {
    "map_reduce": check_map_reduce,
    "sql_agent": check_sql_agent,
    "supervisor": check_supervisor,
}


# ---- with the engine ---------------------------------------------------------------------------


@pytest.mark.engine
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_example_under_halo_equals_the_server(
    name: str, halo: Session, vllm_server: str, reference: Any
) -> None:
    expected, expected_counts = reference(name)
    CHECKS[name](expected)
    module, max_tokens = EXAMPLES[name]
    graph = module.build_graph(chat_model(vllm_server, max_tokens))
    handler = CountingHandler()
    with halo_adapters.bind(halo, models=MODELS):  # the user's own graph.batch call, unchanged
        got = graph.batch(module.make_inputs(N), {"callbacks": [handler]}, return_exceptions=True)
    assert_same(got, expected)
    # callbacks fire as often as without Halo (LLM, tool and chain events)
    assert handler.counts == expected_counts
    s = halo.graph.summary()
    assert s.llm_calls == expected_counts["chat_model_start"]
    assert s.llm_executed < s.llm_calls  # inputs repeat, so identical calls ran once
    if name != "map_reduce":  # pure tools of repeated inputs merged too
        assert s.tool_executed < s.tool_calls


@pytest.mark.engine
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_plan_matches_the_graph_and_agrees_with_engine_counters(
    name: str, halo: Session, vllm_server: str
) -> None:
    from halo_adapters._langgraph_plan import plan_of

    module, max_tokens = EXAMPLES[name]
    graph = module.build_graph(chat_model(vllm_server, max_tokens))
    drawn = graph.get_graph(xray=True)
    report = halo_lg.batch(graph, module.make_inputs(N), session=halo, models=MODELS)
    plan = plan_of(graph, report)
    real = [n for n in plan.nodes if not n.synthetic]
    assert {n.name.replace("/", ":") for n in real} == set(drawn.nodes)
    assert {(e.source, e.target) for e in plan.edges} == {
        (e.source.replace(":", "/"), e.target.replace(":", "/")) for e in drawn.edges
    }
    llm, engine = plan.totals("llm"), report.engine["tiny"]
    assert llm.calls == report.summary.llm_calls and not any(n.synthetic for n in plan.nodes)
    assert llm.executed == engine.requests  # dedup figures = what the engine ran
    assert llm.merged == llm.calls - llm.executed > 0
    assert llm.prompt_tokens == engine.prompt_tokens
    assert llm.cached_tokens == engine.prefix_cache_hits  # cache figures = the engine's own
    assert "LLM" in plan.explain() or "llm" in plan.explain()


@pytest.mark.engine
def test_graph_batch_under_a_session(halo: Session, vllm_server: str, reference: Any) -> None:
    expected, _ = reference("sql_agent")
    graph = langgraph_sql_agent.build_graph(chat_model(vllm_server, EXAMPLES["sql_agent"][1]))
    inputs = langgraph_sql_agent.make_inputs(N)
    with halo_adapters.bind(halo, models=MODELS):
        got = graph.batch(inputs, config={"max_concurrency": 8}, return_exceptions=True)
    assert_same(got, expected)
    assert halo.graph.summary().llm_calls > N  # through Halo: several agent turns per input


@pytest.mark.engine
def test_graph_abatch_under_a_session(halo: Session, vllm_server: str, reference: Any) -> None:
    expected, _ = reference("supervisor")
    graph = langgraph_supervisor.build_graph(chat_model(vllm_server, EXAMPLES["supervisor"][1]))
    inputs = langgraph_supervisor.make_inputs(N)

    async def run() -> list[Any]:
        with halo_adapters.bind(halo, models=MODELS):
            return await graph.abatch(inputs, return_exceptions=True)

    got = asyncio.run(run())
    assert_same(got, expected)
    assert halo.graph.summary().llm_calls > N


@pytest.mark.engine
def test_a_failing_tool_affects_only_its_instance(
    halo: Session, vllm_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Input 2 names a missing table: ``get_schema`` raises a ToolException, which the tool turns
    into an error ToolMessage and the agent goes on. Input 5's schema lookup hits an outage (a
    ConnectionError the tool does not handle): that instance fails. The rest complete."""
    schema = langgraph_sql_agent.get_schema
    own = schema.func

    def flaky(table: str) -> str:
        if table == "suppliers":
            raise ConnectionError("schema service unreachable")
        return own(table)  # type: ignore[misc]

    monkeypatch.setattr(schema, "func", flaky)
    inputs = langgraph_sql_agent.make_inputs(8)
    inputs[2] = {**inputs[2], "tables": ["orders", "returns"]}
    inputs[5] = {**inputs[5], "tables": ["suppliers"]}
    expected, expected_counts = run_without_halo("sql_agent", vllm_server, inputs)
    assert isinstance(expected[5], ConnectionError)
    errors = [
        m for m in expected[2]["messages"] if isinstance(m, ToolMessage) and m.status == "error"
    ]
    assert "no table named 'returns'" in errors[0].content
    assert all(not isinstance(r, BaseException) for i, r in enumerate(expected) if i != 5)

    module, max_tokens = EXAMPLES["sql_agent"]
    handler = CountingHandler()
    report = halo_lg.batch(
        module.build_graph(chat_model(vllm_server, max_tokens)),
        inputs,
        session=halo,
        models=MODELS,
        config={"callbacks": [handler]},
    )
    assert_same(report.results, expected)
    assert report.failed == 1
    assert "schema service unreachable" in str(report.results[5])
    assert handler.counts == expected_counts
    assert expected_counts["tool_error"] == 1  # the outage (the ToolException was handled)


@pytest.mark.engine
def test_main_runs_without_halo_against_a_server(
    vllm_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--n", "2", "--max-tokens", "8", "--base-url", vllm_server, "--served-model"]
    results = langgraph_map_reduce.main([*argv, "tiny-chat", "--show", "1"])
    assert len(results) == 2 and all(isinstance(r, dict) for r in results)
    assert "without Halo: 2 done, 0 failed" in capsys.readouterr().out


# ---- without the engine ------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_inputs_are_deterministic_and_repeat(name: str) -> None:
    module = EXAMPLES[name][0]
    inputs = module.make_inputs(N)
    assert inputs == module.make_inputs(N) and len(inputs) == N
    assert module.make_inputs(5) == inputs[:5]
    key = "text" if name == "map_reduce" else "question" if name == "sql_agent" else "request"
    assert len({x[key] for x in inputs}) < N  # some inputs share their data


def test_sql_tools_are_read_only_pure_and_report_errors() -> None:
    sql = langgraph_sql_agent
    assert sql.run_sql.invoke({"query": "SELECT COUNT(*) AS n FROM orders"}) == "n\n48"
    top = sql.run_sql.invoke({"query": "SELECT name FROM products ORDER BY price DESC LIMIT 1"})
    assert top == "name\nTablet"
    denied = sql.run_sql.invoke({"query": "DELETE FROM orders"})
    assert denied.startswith("Error:") and "readonly" in denied.replace(" ", "")
    assert sql.run_sql.invoke({"query": "SELECT COUNT(*) AS n FROM orders"}) == "n\n48"
    assert sql.run_sql.invoke({"query": "SELEC nonsense"}).startswith("Error:")
    assert sql.calculator.invoke({"expression": "2 * (79.99 + 4.5)"}) == "168.98"
    assert sql.calculator.invoke({"expression": "__import__('os')"}).startswith("Error:")
    assert sql.get_schema.invoke({"table": "customers"}) == (
        "customers(id INTEGER, name TEXT, city TEXT)"
    )
    assert sql.get_schema.invoke({"table": "nope"}).startswith("Error: no table named 'nope'")
    for t in (sql.get_schema, sql.run_sql, sql.calculator):
        assert t.metadata == {"halo_pure": True}
    for t in (langgraph_supervisor.lookup_product, langgraph_supervisor.calculator):
        assert t.metadata == {"halo_pure": True}


def test_map_reduce_splits_into_paragraph_chunks() -> None:
    doc = langgraph_map_reduce.make_inputs(1)[0]
    chunks = langgraph_map_reduce.split_into_chunks(doc["text"])
    assert len(chunks) == 3 and all(len(c) <= langgraph_map_reduce.CHUNK_CHARS for c in chunks)
    long = " ".join(["A sentence of several words."] * 40)
    pieces = langgraph_map_reduce.split_into_chunks(long)
    assert len(pieces) > 1 and all(len(p) <= langgraph_map_reduce.CHUNK_CHARS for p in pieces)
    assert " ".join(pieces) == long


def test_comparable_renames_ids_consistently() -> None:
    def conversation(call_id: str, msg_id: str) -> list[BaseMessage]:
        call = {"name": "f", "args": {"x": 1}, "id": call_id, "type": "tool_call"}
        return [
            AIMessage("", tool_calls=[call], id=msg_id, response_metadata={"id": msg_id}),
            ToolMessage("ok", tool_call_id=call_id, id=msg_id + "t"),
        ]

    a = comparable({"messages": conversation("chatcmpl-tool-1", "run-1")})
    assert a == comparable({"messages": conversation("chatcmpl-tool-2", "run-2")})
    assert a["messages"][0]["tool_calls"][0]["id"] == a["messages"][1]["tool_call_id"] == "id0"
    b = conversation("x", "m")
    b[1].tool_call_id = "other"
    assert comparable({"messages": b}) != a


def test_notebook_is_valid_and_ends_with_the_plan() -> None:
    nb = json.loads((ROOT / "examples" / "langgraph_plan.ipynb").read_text())
    assert nb["nbformat"] == 4
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    for source in code:
        compile(source, "<cell>", "exec")
    assert code[-3:] == ["plan = plan_of(graph, s)", "plan", "print(plan.explain())"]
    assert any("langgraph_sql_agent" in c for c in code)
    assert any("report.format()" in c for c in code)
