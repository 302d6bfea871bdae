"""Workloads W1-W3 (IMDb-Diamond, IMDb-TripleChain, FineWiki-LongChain) as plain LangGraph code.

No engine: the graphs run with a fake chat model (:class:`EchoChatModel`) against the real
benchmark database (built small, without TPC-H) and the real HTTP service without delays. Each
test checks one property the paper's workload table fixes: the DAG shape, LLM and tool operator
counts per instance, which model size serves which node, where the tools sit, deterministic
inputs that repeat entities, pure tools, and prompts that fit a 2,048-token context.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from benchmarks.suite import tools
from benchmarks.suite.data import build_database
from benchmarks.suite.http_service import HTTPService
from benchmarks.suite.workloads import WORKLOADS, _shared, all_names, get
from benchmarks.suite.workloads._shared import (
    TOOL_CHARS,
    EchoChatModel,
    clip,
    count_operators,
    fake_models,
    pool_size,
    run_counted,
)

N = 8
NAMES = ("W1", "W2", "W3")

#: The paper's Fig. 5 shapes, written out independently of the workload modules: every edge
#: of the compiled graph (a join appears as one edge per source).
EDGES: dict[str, set[tuple[str, str]]] = {
    "W1": {
        ("__start__", "keyword_planner"),
        ("keyword_planner", "movie_agent"),
        ("keyword_planner", "people_agent"),
        ("keyword_planner", "aka_agent"),
        ("movie_agent", "hub_movie_people"),
        ("people_agent", "hub_movie_people"),
        ("hub_movie_people", "hub_full_context"),
        ("aka_agent", "hub_full_context"),
        ("hub_full_context", "tail_focus"),
        ("hub_full_context", "final_answer"),
        ("tail_focus", "final_answer"),
        ("final_answer", "__end__"),
    },
    "W2": {
        ("__start__", "keyword_planner"),
        ("__start__", "sanity_check"),
        ("keyword_planner", "movie_overview"),
        ("keyword_planner", "people_overview"),
        ("keyword_planner", "crew_overview"),
        ("movie_overview", "movie_final_notes"),
        ("people_overview", "people_final_notes"),
        ("crew_overview", "crew_insights"),
        ("crew_insights", "crew_final_notes"),
        ("movie_final_notes", "final_answer"),
        ("people_final_notes", "final_answer"),
        ("crew_final_notes", "final_answer"),
        ("sanity_check", "final_answer"),
        ("final_answer", "__end__"),
    },
    "W3": {
        ("__start__", "topic_expander"),
        ("__start__", "category_overview"),
        ("__start__", "outbound_link_view"),
        ("__start__", "query_rewriter"),
        ("topic_expander", "timeline_refiner_1"),
        ("timeline_refiner_1", "timeline_refiner_2"),
        ("category_overview", "category_drilldown"),
        ("outbound_link_view", "inbound_link_view"),
        ("topic_expander", "inbound_link_view"),
        ("topic_expander", "final_summarizer"),
        ("timeline_refiner_2", "final_summarizer"),
        ("category_drilldown", "final_summarizer"),
        ("outbound_link_view", "final_summarizer"),
        ("inbound_link_view", "final_summarizer"),
        ("query_rewriter", "final_summarizer"),
        ("final_summarizer", "__end__"),
    },
}

#: Model size per LLM node (the paper's S / M / L).
MODELS: dict[str, dict[str, str]] = {
    "W1": {
        "keyword_planner": "M",
        "movie_agent": "S",
        "people_agent": "M",
        "aka_agent": "L",
        "hub_movie_people": "M",
        "hub_full_context": "S",
        "tail_focus": "L",
        "final_answer": "M",
    },
    "W2": {
        "keyword_planner": "M",
        "movie_overview": "L",
        "movie_final_notes": "L",
        "people_overview": "M",
        "people_final_notes": "M",
        "crew_overview": "S",
        "crew_insights": "S",
        "crew_final_notes": "S",
        "sanity_check": "L",
        "final_answer": "S",
    },
    "W3": {
        "topic_expander": "M",
        "timeline_refiner_1": "M",
        "timeline_refiner_2": "M",
        "category_overview": "L",
        "category_drilldown": "L",
        "outbound_link_view": "S",
        "inbound_link_view": "S",
        "query_rewriter": "M",
        "final_summarizer": "S",
    },
}

#: Tool calls per instance, by graph node and by tool (SQL = run_sql, the rest are HTTP).
TOOLS_BY_NODE: dict[str, dict[str, int]] = {
    "W1": {
        "movie_agent": 2,
        "people_agent": 2,
        "aka_agent": 2,
        "hub_movie_people": 1,
        "hub_full_context": 1,
        "final_answer": 1,
    },
    "W2": {"movie_overview": 1, "people_overview": 1, "crew_overview": 1},
    "W3": {
        "topic_expander": 2,
        "timeline_refiner_1": 1,
        "category_overview": 1,
        "outbound_link_view": 1,
        "final_summarizer": 1,
    },
}
TOOLS_BY_NAME: dict[str, dict[str, int]] = {
    "W1": {"run_sql": 7, "movie_api": 1, "person_api": 1},
    "W2": {"run_sql": 2, "person_api": 1},
    "W3": {"run_sql": 4, "category_api": 1, "links_api": 1},
}

#: The input field that names each query's entity (what repeats across a batch).
ENTITY: dict[str, str] = {"W1": "movie", "W2": "keyword", "W3": "topic"}

#: Longest prompt (system + user characters) any call may send, with upstream outputs at their
#: longest: about 1,500 tokens at the ~2.9 characters per token of these prompts.
PROMPT_CHARS = 4300


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The real database (IMDb-like and wiki-like tables; no TPC-H, which W1-W3 do not use)
    and the real HTTP service without delays, configured for the tools."""
    prior = tools.settings()
    db = build_database(tmp_path_factory.mktemp("suite") / "db.duckdb", tpch_scale=0)
    with HTTPService(scale=0) as url:
        tools.configure(db, url)
        try:
            yield db
        finally:
            if prior.db_path is not None:
                tools.configure(prior.db_path, prior.http_url)


@pytest.fixture(params=NAMES)
def workload(request: pytest.FixtureRequest) -> ModuleType:
    return get(request.param)


def edges_of(graph: Any) -> set[tuple[str, str]]:
    return {(e.source, e.target) for e in graph.get_graph().edges}


# ---- registry and module surface ---------------------------------------------------------------


def test_registry_names_and_lazy_lookup() -> None:
    assert all_names() == ["W1", "W2", "W3", "W4", "W5", "W6"]
    assert list(WORKLOADS) == all_names() and len(WORKLOADS) == 6
    for name in NAMES:
        assert WORKLOADS[name] is get(name) is get(name.lower())
    with pytest.raises(KeyError, match="W7"):
        get("W7")


def test_module_surface(workload: ModuleType) -> None:
    paper = {
        "W1": ("IMDb-Diamond", 8, 9),
        "W2": ("IMDb-TripleChain", 10, 3),
        "W3": ("FineWiki-LongChain", 9, 6),
    }
    surface = (workload.TITLE, workload.LLM_OPS, workload.TOOL_OPS)
    assert surface == paper[workload.NAME]
    for attr in ("build_graph", "make_inputs", "answer"):
        assert callable(getattr(workload, attr))
    node_models: dict[str, str] = workload.NODE_MODELS
    assert node_models == MODELS[workload.NAME]


def test_workload_code_imports_no_halo() -> None:
    folder = Path(_shared.__file__).parent
    for file in ("__init__.py", "_shared.py", *(get(n).__file__ for n in NAMES)):
        text = (folder / Path(str(file)).name).read_text()
        assert not re.search(r"^\s*(from|import)\s+halo", text, re.MULTILINE), file


# ---- graph shape -------------------------------------------------------------------------------


def test_graph_shape(workload: ModuleType) -> None:
    graph = workload.build_graph(fake_models())
    nodes = set(graph.get_graph().nodes)
    assert nodes == {"__start__", "__end__", *MODELS[workload.NAME]}
    edges = edges_of(graph)
    assert edges == EDGES[workload.NAME]
    out_degree = Counter(src for src, _ in edges)
    in_degree = Counter(dst for _, dst in edges)
    if workload.NAME == "W1":  # planner fans out to three entries; two hubs and the final join
        assert out_degree["keyword_planner"] == 3
        assert in_degree["hub_movie_people"] == in_degree["hub_full_context"] == 2
        assert in_degree["final_answer"] == 2
    elif workload.NAME == "W2":  # three chains from the planner; the head joins four branches
        assert out_degree["keyword_planner"] == 3 and out_degree["__start__"] == 2
        assert in_degree["final_answer"] == 4
    else:  # four roots; the final summarizer joins six branches
        assert out_degree["__start__"] == 4
        assert in_degree["inbound_link_view"] == 2 and in_degree["final_summarizer"] == 6


# ---- operator counts ---------------------------------------------------------------------------


def test_operator_counts_per_instance(suite: Path, workload: ModuleType) -> None:
    """Exactly LLM_OPS LLM calls and TOOL_OPS tool calls per instance, each LLM node once per
    instance on its model size, each tool where the paper puts it."""
    models = fake_models()
    graph = workload.build_graph(models)
    inputs = workload.make_inputs(N)
    results, counter = run_counted(graph, inputs)
    assert len(results) == N
    assert counter.llm_calls == N * workload.LLM_OPS
    assert counter.tool_calls == N * workload.TOOL_OPS
    assert sum(m.calls for m in models.values()) == N * workload.LLM_OPS
    node_models = MODELS[workload.NAME]
    assert dict(counter.llm_by_node) == {node: N for node in node_models}
    assert counter.models_by_node == {n: {f"fake-{s}"} for n, s in node_models.items()}
    assert dict(counter.tools_by_node) == {
        n: N * k for n, k in TOOLS_BY_NODE[workload.NAME].items()
    }
    assert dict(counter.tools_by_name) == {
        t: N * k for t, k in TOOLS_BY_NAME[workload.NAME].items()
    }


def test_count_operators_helper(suite: Path, workload: ModuleType) -> None:
    inputs = workload.make_inputs(N)
    expected = (N * workload.LLM_OPS, N * workload.TOOL_OPS)
    assert count_operators(workload, inputs) == expected
    assert count_operators(workload.build_graph(fake_models()), inputs, None) == expected


def test_answers_and_determinism(suite: Path, workload: ModuleType) -> None:
    """``answer`` is the final node's text; equal inputs give equal answers (a deterministic
    model, like greedy decoding), in one batch and across runs."""
    inputs = workload.make_inputs(N)
    first = workload.build_graph(fake_models()).batch(inputs)
    second = workload.build_graph(fake_models()).batch(inputs)
    answers = [workload.answer(r) for r in first]
    assert all(isinstance(a, str) and a for a in answers)
    assert answers == [workload.answer(r) for r in second]
    for i, j in itertools.combinations(range(N), 2):
        if inputs[i] == inputs[j]:
            assert answers[i] == answers[j]


# ---- inputs ------------------------------------------------------------------------------------


def test_inputs_deterministic_and_repeating(suite: Path, workload: ModuleType) -> None:
    inputs = workload.make_inputs(N)
    assert len(inputs) == N
    assert inputs == workload.make_inputs(N) == workload.make_inputs(N, seed=0)
    assert inputs != workload.make_inputs(N, seed=1)
    key = ENTITY[workload.NAME]
    assert all(isinstance(i["question"], str) and i[key] in i["question"] for i in inputs)
    assert 1 < len({i[key] for i in inputs}) <= pool_size(N)
    big = workload.make_inputs(64)
    assert 4 <= len({i[key] for i in big}) <= pool_size(64)  # about n / 4 entities
    assert len({tuple(sorted(i.items())) for i in big}) < 64  # some whole queries repeat too


def test_tool_calls_coincide_across_batch(suite: Path, workload: ModuleType) -> None:
    """Tool arguments come from the queries' own inputs, so a batch repeats most tool calls."""
    _, counter = run_counted(workload.build_graph(fake_models()), workload.make_inputs(32))
    assert counter.tool_calls == 32 * workload.TOOL_OPS
    assert len(counter.tool_inputs) <= counter.tool_calls / 3


def test_tools_are_pure() -> None:
    for t in (_shared.run_sql, _shared.movie_api, _shared.person_api):
        assert t.metadata == {"halo_pure": True}
    for t in (_shared.category_api, _shared.links_api):
        assert t.metadata == {"halo_pure": True}


# ---- prompts -----------------------------------------------------------------------------------


def test_prompts_fit_the_context(suite: Path, workload: ModuleType) -> None:
    """Every LLM node has its own substantial system prompt; with upstream outputs far longer
    than ``max_tokens`` allows, every prompt still stays within about 1,500 tokens."""
    models = fake_models(reply_chars=3000)
    workload.build_graph(models).batch(workload.make_inputs(N))
    prompts = [p for m in models.values() for p in m.prompts]
    assert len(prompts) == N * workload.LLM_OPS
    systems = {p[0].text for p in prompts}
    assert len(systems) == workload.LLM_OPS
    assert all(len(s) >= 700 for s in systems)
    longest = max(sum(len(m.text) for m in p) for p in prompts)
    assert longest <= PROMPT_CHARS


def test_tool_outputs_feed_prompts(suite: Path) -> None:
    """What a tool returns is what the LLM node that called it reads."""
    cases: list[tuple[str, Any, dict[str, str]]] = [
        ("W1", _shared.movie_api, {"title": "movie"}),
        ("W2", _shared.person_api, {"name": "person"}),
        ("W3", _shared.links_api, {"title": "topic"}),
    ]
    for name, tool, args in cases:
        w = get(name)
        models = fake_models()
        inputs = w.make_inputs(2)
        w.build_graph(models).batch(inputs)
        expected = clip(tool.invoke({k: inputs[0][v] for k, v in args.items()}), TOOL_CHARS)
        assert expected and not expected.startswith("No ")  # the entity exists in the data
        users = [p[-1].text for m in models.values() for p in m.prompts]
        assert any(expected in u for u in users), name
    w1 = get("W1")
    inp = w1.make_inputs(1)[0]
    rows = tools.sql(w1.KEYWORD_TOP_VOTED, [inp["keyword"]])
    assert rows.startswith("title | year | genre | rating | votes\n")
    models = fake_models()
    w1.build_graph(models).invoke(inp)
    final = [p for p in models["M"].prompts if "final answer assistant" in p[0].text]
    assert len(final) == 1 and clip(rows, TOOL_CHARS) in final[0][-1].text


def test_echo_model_counts_and_is_deterministic() -> None:
    model = EchoChatModel(model_name="m")
    a = model.invoke("hello world")
    b = model.invoke("hello world")
    c = model.invoke("something else")
    assert a.text == b.text != c.text and a.text.startswith("m-")
    assert model.calls == 3 and len(model.prompts) == 3
    long = EchoChatModel(reply_chars=500).invoke("x")
    assert len(long.text) == 500
