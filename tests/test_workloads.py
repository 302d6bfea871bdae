"""The seven workloads W1-W7 (``benchmarks/suite/workloads``) as plain LangGraph code.

No engine: the graphs run with a fake chat model (:class:`EchoChatModel`) against the real
benchmark database (built small, with a small TPC-H) and the real HTTP service without delays.
Each test checks one property the paper's workload table fixes: the DAG shape, LLM and tool
operator counts per instance, which model size serves which node, where the tools sit, the
regex rule of the TPC-H workloads, deterministic inputs that repeat entities (W1-W6) or never
repeat a call (W7), pure tools, and prompts that fit a 2,048-token context.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
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
    OperatorCounter,
    clip,
    count_operators,
    extract_tpch_params,
    fake_models,
    pool_size,
    run_counted,
)
from benchmarks.suite.workloads.w6_tpch_fanout import STAGE1, STAGE2
from benchmarks.suite.workloads.w7_tpch_orderaudit import BRANCHES as W7_BRANCHES

N = 8
NAMES = ("W1", "W2", "W3", "W4", "W5", "W6", "W7")
#: The paper's workloads, whose batches repeat entities (W7 repeats no call by construction).
REPEATING = ("W1", "W2", "W3", "W4", "W5", "W6")
TPCH_SCALE = 0.002

#: The paper's workload table (and W7's, not in the paper): title, LLM operators, tool operators.
PAPER: dict[str, tuple[str, int, int]] = {
    "W1": ("IMDb-Diamond", 8, 9),
    "W2": ("IMDb-TripleChain", 10, 3),
    "W3": ("FineWiki-LongChain", 9, 6),
    "W4": ("FineWiki-Bridge", 9, 3),
    "W5": ("TPCH-Trident", 7, 10),
    "W6": ("TPCH-Fanout", 9, 13),
    "W7": ("TPCH-OrderAudit", 5, 6),
}

#: The paper's Fig. 5 shapes (and W7's), written out independently of the workload modules but
#: for the names of W6's stages and W7's branches: every edge of the compiled graph (a join
#: appears as one edge per source).
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
    "W7": {
        ("__start__", "plan"),
        *(("plan", f"{b}_lookup") for b in W7_BRANCHES),
        *((f"{b}_lookup", f"{b}_review") for b in W7_BRANCHES),
        *((f"{b}_review", f"{b}_check") for b in W7_BRANCHES),
        *((f"{b}_check", "final_audit") for b in W7_BRANCHES),
        ("final_audit", "__end__"),
    },
}

#: Model size per LLM node (the paper's S / M / L), as each workload module declares it.
MODELS: dict[str, dict[str, str]] = {name: get(name).NODE_MODELS for name in NAMES}

#: Graph nodes that call tools but no LLM (the rule and HTTP prefetches).
TOOL_NODES: dict[str, tuple[str, ...]] = {name: tuple(get(name).TOOL_NODES) for name in NAMES}

#: Tool calls per instance, by graph node and by tool (run_sql / tpch_query are SQL,
#: extract_tpch_params the rule, the rest HTTP).
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
    "W7": {f"{b}_{step}": 1 for b in W7_BRANCHES for step in ("lookup", "check")},
}
TOOLS_BY_NAME: dict[str, dict[str, int]] = {
    "W1": {"run_sql": 7, "movie_api": 1, "person_api": 1},
    "W2": {"run_sql": 2, "person_api": 1},
    "W3": {"run_sql": 4, "category_api": 1, "links_api": 1},
    "W4": {"run_sql": 2, "category_api": 1},
    "W5": {"tpch_query": 7, "tpch_report_api": 2, "extract_tpch_params": 1},
    "W6": {"run_sql": 10, "tpch_report_api": 2, "extract_tpch_params": 1},
    "W7": {"order_report_api": 3, "run_sql": 3},
}

#: Longest prompt (system + user characters) any call may send, with upstream outputs at their
#: longest: about 1,500 tokens at the ~2.9 characters per token of the IMDb and wiki prompts,
#: ~2.4 of the number-heavy TPC-H ones (digits are single tokens).
PROMPT_CHARS: dict[str, int] = {
    "W1": 4300,
    "W2": 4300,
    "W3": 4300,
    "W4": 3800,
    "W5": 3800,
    "W6": 3800,
    "W7": 3800,
}


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The real database (IMDb-like and wiki-like tables, a small TPC-H) and the real HTTP
    service without delays, configured for the tools."""
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


@pytest.fixture(params=REPEATING)
def repeating_workload(request: pytest.FixtureRequest) -> ModuleType:
    return get(request.param)


def edges_of(graph: Any) -> set[tuple[str, str]]:
    return {(e.source, e.target) for e in graph.get_graph().edges}


def run_per_instance(
    graph: Any, inputs: Sequence[Mapping[str, Any]]
) -> tuple[list[Any], list[OperatorCounter]]:
    """``graph.batch(inputs)`` with one operator counter per instance."""
    counters = [OperatorCounter() for _ in inputs]
    configs: Any = [{"callbacks": [c]} for c in counters]
    return graph.batch(list(inputs), config=configs), counters


def entity(workload: ModuleType, query: Mapping[str, Any]) -> tuple[Any, ...]:
    """What repeats across a batch: the query's movie, keyword, topic or article, or the
    TPC-H workloads' extracted parameters."""
    if workload.NAME in ("W5", "W6"):
        return tuple(sorted(extract_tpch_params.invoke({"question": query["question"]}).items()))
    keys = {"W1": ("movie",), "W2": ("keyword",), "W3": ("topic",), "W4": ("topic", "category")}
    return tuple(query[k] for k in keys[workload.NAME])


# ---- registry and module surface ---------------------------------------------------------------


def test_registry_names_and_lazy_lookup() -> None:
    assert all_names() == list(NAMES)
    assert list(WORKLOADS) == all_names() and len(WORKLOADS) == 7
    for name in NAMES:
        assert WORKLOADS[name] is get(name) is get(name.lower())
        assert name == get(name).NAME
    with pytest.raises(KeyError, match="W8"):
        get("W8")


def test_module_surface(workload: ModuleType) -> None:
    name = workload.NAME
    assert PAPER[name] == (workload.TITLE, workload.LLM_OPS, workload.TOOL_OPS)
    for attr in ("build_graph", "make_inputs", "answer"):
        assert callable(getattr(workload, attr))
    node_models: dict[str, str] = workload.NODE_MODELS
    assert node_models == MODELS[name] and len(node_models) == workload.LLM_OPS
    assert tuple(workload.TOOL_NODES) == TOOL_NODES[name]
    assert sum(TOOLS_BY_NAME[name].values()) == workload.TOOL_OPS
    assert sum(TOOLS_BY_NODE[name].values()) == workload.TOOL_OPS


def test_workload_code_imports_no_halo() -> None:
    files = [Path(_shared.__file__).parent / "__init__.py", Path(_shared.__file__)]
    for file in files + [Path(str(get(n).__file__)) for n in NAMES]:
        assert not re.search(r"^\s*(from|import)\s+halo", file.read_text(), re.MULTILINE), file


# ---- graph shape and operator counts -----------------------------------------------------------


def test_graph_shape(workload: ModuleType) -> None:
    graph = workload.build_graph(fake_models())
    name = workload.NAME
    nodes = set(graph.get_graph().nodes)
    assert nodes == {"__start__", "__end__", *MODELS[name], *TOOL_NODES[name]}
    assert edges_of(graph) == EDGES[name]


def test_operator_counts_per_instance(suite: Path, workload: ModuleType) -> None:
    """Exactly LLM_OPS LLM calls and TOOL_OPS tool calls in every instance, each LLM node once
    per instance on its model size, each tool where the paper puts it."""
    models = fake_models()
    graph = workload.build_graph(models)
    inputs = workload.make_inputs(N)
    results, counters = run_per_instance(graph, inputs)
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
    _, counters = run_per_instance(w6.build_graph(fake_models()), w6.make_inputs(4))
    for counter in counters:
        by_node: dict[str, list[str]] = {}
        for node, tool, text in counter.tool_log:
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


def test_inputs_deterministic_and_repeating(suite: Path, repeating_workload: ModuleType) -> None:
    workload = repeating_workload
    inputs = workload.make_inputs(N)
    assert len(inputs) == N
    assert inputs == workload.make_inputs(N) == workload.make_inputs(N, seed=0)
    assert inputs != workload.make_inputs(N, seed=1)
    assert all(isinstance(i["question"], str) and i["question"] for i in inputs)
    if workload.NAME not in ("W5", "W6"):  # the named entity appears in the question
        assert all(entity(workload, i)[0] in i["question"] for i in inputs)
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


def test_tool_calls_coincide_across_batch(suite: Path, repeating_workload: ModuleType) -> None:
    """Tool arguments come from the queries' own inputs, so a batch repeats most tool calls."""
    workload = repeating_workload
    _, counter = run_counted(workload.build_graph(fake_models()), workload.make_inputs(32))
    assert counter.tool_calls == 32 * workload.TOOL_OPS
    assert len(counter.tool_inputs) <= counter.tool_calls / 3


def test_tools_are_pure(suite: Path) -> None:
    """Every tool the workloads call is declared pure and answers the same input the same way."""
    used = (
        _shared.run_sql,
        _shared.movie_api,
        _shared.person_api,
        _shared.category_api,
        _shared.links_api,
        _shared.tpch_query,
        _shared.tpch_report_api,
        _shared.extract_tpch_params,
        get("W7").order_report_api,
    )
    for t in used:
        assert t.metadata == {"halo_pure": True}, t.name
    w5, w6 = get("W5"), get("W6")
    question = w5.make_inputs(1)[0]["question"]
    params = w6.q1_pack_query(extract_tpch_params.invoke({"question": question}))
    w1_query = get("W1").make_inputs(1)[0]
    w7_query = get("W7").make_inputs(1)[0]
    calls: list[tuple[Any, dict[str, Any]]] = [
        (_shared.extract_tpch_params, {"question": question}),
        (_shared.tpch_query, {"query": 3, "parameters": {"SEGMENT": "MACHINERY"}}),
        (_shared.tpch_report_api, {"kind": "promo", "key": "1995-09"}),
        (_shared.run_sql, {"query": params[1], "params": params[2]}),
        (_shared.category_api, {"name": get("W4").make_inputs(1)[0]["category"]}),
        (_shared.movie_api, {"title": w1_query["movie"]}),
        (_shared.person_api, {"name": get("W2").make_inputs(1)[0]["person"]}),
        (_shared.links_api, {"title": get("W3").make_inputs(1)[0]["topic"]}),
        (
            get("W7").order_report_api,
            {"kind": "brand", "key": w7_query["brand"], "order": w7_query["order"]},
        ),
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
    assert longest <= PROMPT_CHARS[workload.NAME]


def test_w1_to_w3_tool_outputs_feed_prompts(suite: Path) -> None:
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


def test_w4_tool_outputs_feed_prompts(suite: Path) -> None:
    """The category record and the article pool reach the nodes that read them."""
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


def test_w5_tool_outputs_feed_prompts(suite: Path) -> None:
    """The rule's parameters, the Q3 rows and the promo report reach their nodes."""
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


def test_w6_tool_outputs_feed_prompts(suite: Path) -> None:
    """The Q1 pack's rows reach the stage-1 Q1 agent."""
    w6 = get("W6")
    inp = w6.make_inputs(1)[0]
    p = extract_tpch_params.invoke({"question": inp["question"]})
    _, sql, args = w6.q1_pack_query(p)
    rows = tools.sql(sql, args)
    models = fake_models()
    w6.build_graph(models).invoke(inp)
    q1 = [u for u in models["M"].prompts if "stage 1, Q1 pack" in u[0].text]
    assert len(q1) == 1 and clip(rows, w6.RESULT_CHARS) in q1[0][-1].text


# ---- W7: no identical calls ----------------------------------------------------------------


def test_w7_inputs_are_distinct_orders(suite: Path) -> None:
    """W7 draws ``n`` different orders (deterministically), each named in its question; as many
    as the database holds, and no more."""
    w7 = get("W7")
    inputs = w7.make_inputs(256)
    assert inputs == w7.make_inputs(256, seed=0) != w7.make_inputs(256, seed=1)
    assert len({i["order"] for i in inputs}) == len({i["question"] for i in inputs}) == 256
    assert all(f"order {i['order']} " in i["question"].lower() for i in inputs)
    (total,) = _shared.db_rows("SELECT count(*) FROM orders")[0]
    assert len({i["order"] for i in w7.make_inputs(total)}) == total
    with pytest.raises(ValueError, match="distinct orders"):
        w7.make_inputs(total + 1)


def test_w7_makes_no_identical_calls(suite: Path) -> None:
    """Across 256 instances no two LLM calls have the same prompt (on any model) and no two tool
    calls have the same name and input: every tool input carries its instance's order key."""
    w7 = get("W7")
    n = 256
    inputs = w7.make_inputs(n)
    models = fake_models()
    results, counters = run_per_instance(w7.build_graph(models), inputs)
    assert len({w7.answer(r) for r in results}) == n
    prompts = [
        tuple((m.type, m.text) for m in p) for model in models.values() for p in model.prompts
    ]
    assert len(prompts) == len(set(prompts)) == n * w7.LLM_OPS
    assert len({p[-1][1] for p in prompts}) == n * w7.LLM_OPS  # the user messages alone differ
    calls = [f"{tool}:{text}" for c in counters for _, tool, text in c.tool_log]
    assert len(calls) == len(set(calls)) == n * w7.TOOL_OPS
    for query, counter in zip(inputs, counters, strict=True):
        assert all(re.search(rf"\b{query['order']}\b", text) for _, _, text in counter.tool_log)


def test_w7_tool_outputs_feed_prompts(suite: Path) -> None:
    """A branch's report reaches its review; the order's own rows reach the final auditor."""
    w7 = get("W7")
    inp = w7.make_inputs(1)[0]
    rows = {
        "dates": tools.sql(w7.SHIPPING_CHECK, [inp["order"]]),
        "prices": tools.sql(w7.PRICING_CHECK, [inp["order"]]),
        "nearest": tools.sql(
            w7.CUSTOMER_CHECK, [inp["customer_key"], inp["order"], inp["order_date"]]
        ),
    }
    assert rows["dates"].startswith("line | mode | shipped") and "(0 rows)" not in rows["dates"]
    assert rows["prices"].startswith("line | brand | qty") and "(0 rows)" not in rows["prices"]
    assert rows["nearest"].startswith("order_key | date")
    report = w7.order_report_api.invoke(
        {"kind": "brand", "key": inp["brand"], "order": inp["order"]}
    )
    assert report.startswith(f"Market report (brand '{inp['brand']}'): ")
    assert "no matching market data" not in report
    models = fake_models()
    result = w7.build_graph(models).invoke(inp)
    assert result["pricing_report"] == report
    pricing = [p for p in models["M"].prompts if "pricing reviewer" in p[0].text]
    assert len(pricing) == 1 and clip(report, w7.REPORT_CHARS) in pricing[0][-1].text
    final = [p for p in models["L"].prompts if "final auditor" in p[0].text]
    assert len(final) == 1
    assert all(clip(r, w7.ROWS_CHARS) in final[0][-1].text for r in rows.values())


def test_echo_model_counts_and_is_deterministic() -> None:
    model = EchoChatModel(model_name="m")
    a = model.invoke("hello world")
    b = model.invoke("hello world")
    c = model.invoke("something else")
    assert a.text == b.text != c.text and a.text.startswith("m-")
    assert model.calls == 3 and len(model.prompts) == 3
    long = EchoChatModel(reply_chars=500).invoke("x")
    assert len(long.text) == 500
