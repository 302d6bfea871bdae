"""Workloads W4-W6 (FineWiki-Bridge, TPCH-Trident, TPCH-Fanout) as plain LangGraph code.

No engine: the graphs run with a fake chat model (:class:`EchoChatModel`) against the real
benchmark database (built small, with a small TPC-H) and the real HTTP service without delays.
Each test checks one property the paper's workload table fixes: the DAG shape, LLM and tool
operator counts per instance, which model size serves which node, where the tools sit, the
regex rule of the TPC-H workloads, deterministic inputs that repeat, pure tools, and prompts
that fit a 2,048-token context.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler

from benchmarks.suite import tools
from benchmarks.suite.data import build_database
from benchmarks.suite.http_service import HTTPService
from benchmarks.suite.workloads import WORKLOADS, _shared, get
from benchmarks.suite.workloads._shared import (
    TOOL_CHARS,
    OperatorCounter,
    clip,
    count_operators,
    extract_tpch_params,
    fake_models,
    pool_size,
    run_counted,
)

N = 8
NAMES = ("W4", "W5", "W6")
TPCH_SCALE = 0.002

#: The paper's Fig. 5 shapes, written out independently of the workload modules: every edge
#: of the compiled graph (a join appears as one edge per source).
STAGE1 = ("s1_q5_pack", "s1_q3_pack", "s1_q1_pack", "s1_hypotheses", "s1_alt_angles")
STAGE2 = ("s2_q5_pack", "s2_q1_pack", "s2_narrative")
EDGES: dict[str, set[tuple[str, str]]] = {
    "W4": {
        ("__start__", "global_pass"),
        ("__start__", "category_lookup"),
        ("global_pass", "outline"),
        ("global_pass", "language_bridge"),
        ("outline", "narrative"),
        ("outline", "category_bridge"),
        ("category_lookup", "category_bridge"),
        ("category_bridge", "category_subtopics"),
        ("language_bridge", "language_insights"),
        ("narrative", "light_sampler"),
        ("category_subtopics", "light_sampler"),
        ("language_insights", "light_sampler"),
        ("narrative", "final_head"),
        ("light_sampler", "final_head"),
        ("final_head", "__end__"),
    },
    "W5": {
        ("__start__", "extract_params"),
        ("extract_params", "entry_lineitem"),
        ("extract_params", "entry_revenue"),
        ("extract_params", "entry_supply"),
        ("extract_params", "shipmode_report"),
        ("extract_params", "promo_report"),
        ("entry_lineitem", "hub_ops"),
        ("entry_revenue", "hub_ops"),
        ("shipmode_report", "hub_ops"),
        ("hub_ops", "hub_full_context"),
        ("entry_supply", "hub_full_context"),
        ("promo_report", "hub_full_context"),
        ("hub_full_context", "tail_focus"),
        ("hub_full_context", "final_answer"),
        ("tail_focus", "final_answer"),
        ("final_answer", "__end__"),
    },
    "W6": {
        ("__start__", "extract_params"),
        *(("extract_params", s1) for s1 in STAGE1),
        *itertools.product(STAGE1, STAGE2),  # every stage-1 brief feeds every stage-2 agent
        *((s2, "final_merge") for s2 in STAGE2),
        ("final_merge", "__end__"),
    },
}

#: Model size per LLM node (the paper's S / M / L).
MODELS: dict[str, dict[str, str]] = {
    "W4": {
        "global_pass": "M",
        "outline": "M",
        "narrative": "M",
        "category_bridge": "L",
        "category_subtopics": "L",
        "language_bridge": "S",
        "language_insights": "S",
        "light_sampler": "S",
        "final_head": "S",
    },
    "W5": {
        "entry_lineitem": "S",
        "entry_revenue": "M",
        "entry_supply": "L",
        "hub_ops": "M",
        "hub_full_context": "S",
        "tail_focus": "L",
        "final_answer": "M",
    },
    "W6": {
        "s1_q5_pack": "L",
        "s1_q3_pack": "S",
        "s1_q1_pack": "M",
        "s1_hypotheses": "L",
        "s1_alt_angles": "L",
        "s2_q5_pack": "L",
        "s2_q1_pack": "M",
        "s2_narrative": "L",
        "final_merge": "L",
    },
}

#: Graph nodes that call tools but no LLM (the rule and HTTP prefetches).
TOOL_NODES: dict[str, tuple[str, ...]] = {
    "W4": ("category_lookup",),
    "W5": ("extract_params", "shipmode_report", "promo_report"),
    "W6": ("extract_params",),
}

#: Tool calls per instance, by graph node and by tool (run_sql / tpch_query are SQL,
#: category_api / tpch_report_api HTTP, extract_tpch_params the rule).
TOOLS_BY_NODE: dict[str, dict[str, int]] = {
    "W4": {"global_pass": 1, "category_lookup": 1, "language_bridge": 1},
    "W5": {
        "extract_params": 1,
        "shipmode_report": 1,
        "promo_report": 1,
        "entry_lineitem": 2,
        "entry_revenue": 2,
        "entry_supply": 2,
        "final_answer": 1,
    },
    "W6": {
        "extract_params": 1,
        "s1_q5_pack": 4,
        "s1_q3_pack": 2,
        "s1_q1_pack": 1,
        "s2_q5_pack": 4,
        "s2_q1_pack": 1,
    },
}
TOOLS_BY_NAME: dict[str, dict[str, int]] = {
    "W4": {"run_sql": 2, "category_api": 1},
    "W5": {"tpch_query": 7, "tpch_report_api": 2, "extract_tpch_params": 1},
    "W6": {"run_sql": 10, "tpch_report_api": 2, "extract_tpch_params": 1},
}

#: Longest prompt (system + user characters) any call may send, with upstream outputs at their
#: longest: about 1,500 tokens at the ~2.4-2.9 characters per token of these number-heavy
#: prompts (digits are single tokens).
PROMPT_CHARS = 3800


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The real database (wiki-like tables and a small TPC-H) and the real HTTP service without
    delays, configured for the tools."""
    prior = tools.settings()
    db = build_database(tmp_path_factory.mktemp("suite") / "db.duckdb", tpch_scale=TPCH_SCALE)
    with HTTPService(scale=0, db_path=db) as url:
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


class ToolLog(BaseCallbackHandler):
    """Every tool call of a run: (graph node, tool name, input text), in call order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[tuple[str, str, str]] = []

    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        node = str((metadata or {}).get("langgraph_node", "?"))
        with self._lock:
            self.calls.append((node, str((serialized or {}).get("name")), input_str))


def run_per_instance(
    graph: Any, inputs: Sequence[Mapping[str, Any]]
) -> tuple[list[Any], list[OperatorCounter], list[ToolLog]]:
    """``graph.batch(inputs)`` with one counter and one tool log per instance."""
    counters = [OperatorCounter() for _ in inputs]
    logs = [ToolLog() for _ in inputs]
    configs: Any = [{"callbacks": [c, log]} for c, log in zip(counters, logs, strict=True)]
    results = graph.batch(list(inputs), config=configs)
    return results, counters, logs


def entity(workload: ModuleType, query: Mapping[str, Any]) -> tuple[Any, ...]:
    """What repeats across a batch: W4's article, the TPC-H workloads' extracted parameters."""
    if workload.NAME == "W4":
        return (query["topic"], query["category"])
    return tuple(sorted(extract_tpch_params.invoke({"question": query["question"]}).items()))


# ---- module surface ----------------------------------------------------------------------------


def test_registry_has_w4_to_w6() -> None:
    for name in NAMES:
        assert WORKLOADS[name] is get(name) is get(name.lower())
        assert name == get(name).NAME


def test_module_surface(workload: ModuleType) -> None:
    paper = {
        "W4": ("FineWiki-Bridge", 9, 3),
        "W5": ("TPCH-Trident", 7, 10),
        "W6": ("TPCH-Fanout", 9, 13),
    }
    surface = (workload.TITLE, workload.LLM_OPS, workload.TOOL_OPS)
    assert surface == paper[workload.NAME]
    for attr in ("build_graph", "make_inputs", "answer"):
        assert callable(getattr(workload, attr))
    node_models: dict[str, str] = workload.NODE_MODELS
    assert node_models == MODELS[workload.NAME] and len(node_models) == workload.LLM_OPS
    tool_nodes = tuple(workload.TOOL_NODES)
    assert tool_nodes == TOOL_NODES[workload.NAME]
    assert sum(TOOLS_BY_NAME[workload.NAME].values()) == workload.TOOL_OPS
    assert sum(TOOLS_BY_NODE[workload.NAME].values()) == workload.TOOL_OPS


def test_workload_code_imports_no_halo() -> None:
    for name in NAMES:
        text = Path(str(get(name).__file__)).read_text()
        assert not re.search(r"^\s*(from|import)\s+halo", text, re.MULTILINE), name


# ---- graph shape -------------------------------------------------------------------------------


def test_graph_shape(workload: ModuleType) -> None:
    graph = workload.build_graph(fake_models())
    nodes = set(graph.get_graph().nodes)
    name = workload.NAME
    assert nodes == {"__start__", "__end__", *MODELS[name], *TOOL_NODES[name]}
    edges = edges_of(graph)
    assert edges == EDGES[name]
    out_degree = Counter(src for src, _ in edges)
    in_degree = Counter(dst for _, dst in edges)
    if name == "W4":  # a main chain bridged by a category and a language branch
        assert out_degree["__start__"] == 2 and out_degree["global_pass"] == 2
        assert in_degree["category_bridge"] == 2  # the outline and the category API
        assert in_degree["light_sampler"] == 3 and in_degree["final_head"] == 2
    elif name == "W5":  # rule -> three entries (+ two reports) -> two hubs -> tail -> final
        assert out_degree["extract_params"] == 5
        assert in_degree["hub_ops"] == in_degree["hub_full_context"] == 3
        assert in_degree["final_answer"] == 2
    else:  # rule -> five stage-1 agents -> (all five into each of) three stage-2 -> merger
        assert out_degree["extract_params"] == 5
        assert all(in_degree[s2] == 5 for s2 in STAGE2)
        assert all(out_degree[s1] == 3 for s1 in STAGE1)
        assert in_degree["final_merge"] == 3


# ---- operator counts ---------------------------------------------------------------------------


def test_operator_counts_per_instance(suite: Path, workload: ModuleType) -> None:
    """Exactly LLM_OPS LLM calls and TOOL_OPS tool calls in every instance, each LLM node once
    per instance on its model size, each tool where the paper puts it."""
    models = fake_models()
    graph = workload.build_graph(models)
    inputs = workload.make_inputs(N)
    results, counters, _ = run_per_instance(graph, inputs)
    assert len(results) == N
    assert sum(m.calls for m in models.values()) == N * workload.LLM_OPS
    name = workload.NAME
    for c in counters:
        assert (c.llm_calls, c.tool_calls) == (workload.LLM_OPS, workload.TOOL_OPS)
        assert dict(c.llm_by_node) == {node: 1 for node in MODELS[name]}
        assert c.models_by_node == {n: {f"fake-{s}"} for n, s in MODELS[name].items()}
        assert dict(c.tools_by_node) == TOOLS_BY_NODE[name]
        assert dict(c.tools_by_name) == TOOLS_BY_NAME[name]


def test_count_operators_helper(suite: Path, workload: ModuleType) -> None:
    inputs = workload.make_inputs(N)
    expected = (N * workload.LLM_OPS, N * workload.TOOL_OPS)
    assert count_operators(workload, inputs) == expected
    assert count_operators(workload.build_graph(fake_models()), inputs, None) == expected


def test_w6_stage2_reissues_stage1_sql(suite: Path) -> None:
    """Two stage-2 agents repeat their stage-1 counterparts' SQL exactly (what Halo dedups)."""
    w6 = get("W6")
    _, _, logs = run_per_instance(w6.build_graph(fake_models()), w6.make_inputs(4))
    for log in logs:
        by_node: dict[str, list[str]] = {}
        for node, tool, text in log.calls:
            if tool == "run_sql":
                by_node.setdefault(node, []).append(text)
        assert len(set(by_node["s1_q5_pack"])) == 4 and len(by_node["s1_q1_pack"]) == 1
        assert sorted(by_node["s2_q5_pack"]) == sorted(by_node["s1_q5_pack"])
        assert by_node["s2_q1_pack"] == by_node["s1_q1_pack"]


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


# ---- inputs and the rule -----------------------------------------------------------------------


def test_inputs_deterministic_and_repeating(suite: Path, workload: ModuleType) -> None:
    inputs = workload.make_inputs(N)
    assert len(inputs) == N
    assert inputs == workload.make_inputs(N) == workload.make_inputs(N, seed=0)
    assert inputs != workload.make_inputs(N, seed=1)
    assert all(isinstance(i["question"], str) and i["question"] for i in inputs)
    if workload.NAME == "W4":
        assert all(i["topic"] in i["question"] for i in inputs)
    assert 1 < len({entity(workload, i) for i in inputs}) <= pool_size(N)
    big = workload.make_inputs(64)
    assert 4 <= len({entity(workload, i) for i in big}) <= pool_size(64)  # about n / 4
    assert len({tuple(sorted(i.items())) for i in big}) < 64  # some whole queries repeat too


def test_rule_recovers_every_parameter() -> None:
    """The regex rule reads back every parameter the TPC-H question templates write."""
    w5, w6 = get("W5"), get("W6")
    for params in w5.parameter_sets(0, 100):
        for template in w5.QUESTIONS:
            got = extract_tpch_params.invoke({"question": template.format(**params)})
            expected = {k: v for k, v in params.items() if k != "pct"}
            assert {k: got[k] for k in expected} == expected
            assert got["discount"] == params["pct"] / 100
    for params in w6.parameter_sets(0, 100):
        for template in w6.QUESTIONS:
            got = extract_tpch_params.invoke({"question": template.format(**params)})
            expected = {k: v for k, v in params.items() if k not in ("lo", "hi")}
            assert {k: got[k] for k in expected} == expected
            assert (got["discount_lo"], got["discount_hi"]) == (
                params["lo"] / 100,
                params["hi"] / 100,
            )


def test_rule_defaults_and_normalization() -> None:
    assert extract_tpch_params.invoke({"question": "How is business?"}) == (
        _shared.TPCH_RULE_DEFAULTS
    )
    got = extract_tpch_params.invoke(
        {
            "question": "region=middle_east segment: household year=1996 date=1995-03-02 "
            "discount=0.04 qty=30 brand=Brand#42 color=ivory REG AIR vs FOB, 75-day, quarter 3"
        }
    )
    assert got["region"] == "MIDDLE EAST" and got["segment"] == "HOUSEHOLD"
    assert (got["year"], got["date"], got["discount"], got["quantity"]) == (
        1996,
        "1995-03-02",
        0.04,
        30,
    )
    assert (got["brand"], got["color"]) == ("Brand#42", "ivory")
    assert (got["delta"], got["quarter"]) == (75, 3)
    assert (got["shipmode1"], got["shipmode2"]) == ("REG AIR", "FOB")
    # lower-case words are not ship modes or part types: only the upper-case TPC-H values are
    plain = extract_tpch_params.invoke({"question": "Did the air freight by ship or mail in tin?"})
    assert (plain["shipmode1"], plain["shipmode2"], plain["type"]) == ("MAIL", "SHIP", "BRASS")


def test_tool_calls_coincide_across_batch(suite: Path, workload: ModuleType) -> None:
    """Tool arguments come from the queries' own inputs, so a batch repeats most tool calls."""
    _, counter = run_counted(workload.build_graph(fake_models()), workload.make_inputs(32))
    assert counter.tool_calls == 32 * workload.TOOL_OPS
    assert len(counter.tool_inputs) <= counter.tool_calls / 3


def test_tools_are_pure(suite: Path) -> None:
    """Every tool the workloads call is declared pure and answers the same input the same way."""
    used = (
        _shared.run_sql,
        _shared.category_api,
        _shared.tpch_query,
        _shared.tpch_report_api,
        _shared.extract_tpch_params,
    )
    for t in used:
        assert t.metadata == {"halo_pure": True}, t.name
    w5, w6 = get("W5"), get("W6")
    question = w5.make_inputs(1)[0]["question"]
    params = w6.q1_pack_query(extract_tpch_params.invoke({"question": question}))
    calls: list[tuple[Any, dict[str, Any]]] = [
        (_shared.extract_tpch_params, {"question": question}),
        (_shared.tpch_query, {"query": 3, "parameters": {"SEGMENT": "MACHINERY"}}),
        (_shared.tpch_report_api, {"kind": "promo", "key": "1995-09"}),
        (_shared.run_sql, {"query": params[1], "params": params[2]}),
        (_shared.category_api, {"name": get("W4").make_inputs(1)[0]["category"]}),
    ]
    for t, args in calls:
        assert t.invoke(args) == t.invoke(args), t.name


def test_sql_of_the_tpch_workloads_returns_rows(suite: Path) -> None:
    """The workloads' own SQL is valid DuckDB and finds data for typical parameters."""
    w5, w6 = get("W5"), get("W6")
    p = extract_tpch_params.invoke({"question": w6.make_inputs(1)[0]["question"]})
    for label, sql, args in [*w6.q5_pack_queries(p), w6.q1_pack_query(p)]:
        out = tools.sql(sql, args)
        assert "(0 rows)" not in out, label
    p5 = extract_tpch_params.invoke({"question": w5.make_inputs(1)[0]["question"]})
    assert w5.quarter_start(p5).endswith("-01") and w5.year_start(p5) == f"{p5['year']}-01-01"
    for q, args in [(1, {"DELTA": p5["delta"]}), (15, {"DATE": w5.quarter_start(p5)})]:
        assert "(0 rows)" not in tools.tpch(q, **args)


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
    """What a tool returns is what the LLM node that needs it reads."""
    w4 = get("W4")
    inp = w4.make_inputs(1)[0]
    record = clip(_shared.category_api.invoke({"name": inp["category"]}), TOOL_CHARS)
    pool = clip(tools.sql(w4.TOPIC_POOL, [inp["topic"]]), TOOL_CHARS)
    assert pool.startswith("role | title") and inp["topic"] in pool
    models = fake_models()
    w4.build_graph(models).invoke(inp)
    bridge = [p for p in models["L"].prompts if "category-bridge agent" in p[0].text]
    assert len(bridge) == 1 and record in bridge[0][-1].text
    first = [p for p in models["M"].prompts if "first reader" in p[0].text]
    assert len(first) == 1 and pool in first[0][-1].text

    w5 = get("W5")
    inp = w5.make_inputs(1)[0]
    p = extract_tpch_params.invoke({"question": inp["question"]})
    q3 = tools.tpch(3, SEGMENT=p["segment"], DATE=p["date"])
    assert q3.startswith("l_orderkey | revenue")
    models = fake_models()
    result = w5.build_graph(models).invoke(inp)
    assert result["params"] == p
    revenue = [u for u in models["M"].prompts if "entry agent B" in u[0].text]
    assert len(revenue) == 1 and clip(q3, w5.PAIR_TOOL_CHARS) in revenue[0][-1].text
    hub2 = [u for u in models["S"].prompts if "hub 2 (full context)" in u[0].text]
    assert len(hub2) == 1 and clip(result["promo_report"], TOOL_CHARS) in hub2[0][-1].text

    w6 = get("W6")
    inp = w6.make_inputs(1)[0]
    p = extract_tpch_params.invoke({"question": inp["question"]})
    _, sql, args = w6.q1_pack_query(p)
    rows = tools.sql(sql, args)
    models = fake_models()
    w6.build_graph(models).invoke(inp)
    q1 = [u for u in models["M"].prompts if "stage 1, Q1 pack" in u[0].text]
    assert len(q1) == 1 and clip(rows, w6.RESULT_CHARS) in q1[0][-1].text
