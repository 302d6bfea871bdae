"""The plan DAG: structure from real LangGraph graphs, per-node stats from records, pictures."""

from __future__ import annotations

import operator
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

import halo_adapters
import halo_adapters.langgraph as halo_lg
from halo_adapters._langgraph_plan import explain, plan_of
from halo_core.calls import ChatResult as HaloChatResult
from halo_core.graph import CallRecord, ConsolidatedGraph
from halo_core.plan import Plan, PlanEdge, PlanNode

# ---- small real graphs ------------------------------------------------------------------------


class FixedChat(BaseChatModel):
    """Answers every prompt with the same text (stands in for a provider; no engine)."""

    model_name: str = "fixed"

    @property
    def _llm_type(self) -> str:
        return "fixed"

    def _generate(self, messages: Any, stop: Any = None, **kw: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage("fixed answer"))])


class ShortChat(FixedChat):
    max_tokens: int = 4


LLM = FixedChat()


@tool
def search(query: str) -> str:
    """Search the web."""
    return f"results for {query}"


class S(TypedDict, total=False):
    q: str
    notes: Annotated[list[str], operator.add]
    steps: int


def _ask(prompt: str) -> Callable[[S], S]:
    def node(s: S) -> S:
        return {"notes": [str(LLM.invoke(f"{prompt}: {s.get('q', '')}").content)]}

    return node


def _lookup(s: S) -> S:
    return {"notes": [search.invoke({"query": s["q"]})]}


def router_graph() -> Any:
    """classify -(router)-> lookup | answer; lookup -> answer -(Send x3)-> worker -> END."""
    g = StateGraph(S)
    g.add_node("classify", _ask("classify"))
    g.add_node("lookup", _lookup)
    g.add_node("answer", _ask("answer"))
    g.add_node("worker", _ask("work"))
    g.add_edge(START, "classify")
    g.add_conditional_edges(
        "classify", lambda s: "lookup" if "?" in s["q"] else "answer", ["lookup", "answer"]
    )
    g.add_edge("lookup", "answer")
    g.add_conditional_edges(
        "answer", lambda s: [Send("worker", {"q": f"{s['q']} #{i}"}) for i in range(3)], ["worker"]
    )
    g.add_edge("worker", END)
    return g.compile()


ROUTER_EDGES = {
    ("__start__", "classify", False),
    ("classify", "lookup", True),
    ("classify", "answer", True),
    ("lookup", "answer", False),
    ("answer", "worker", True),
    ("worker", "__end__", False),
}


def subgraph_graph() -> Any:
    """prep -> sub (think -> act) -> END, the subgraph added as a node."""
    sub = StateGraph(S)
    sub.add_node("think", _ask("think"))
    sub.add_node("act", _lookup)
    sub.add_edge(START, "think")
    sub.add_edge("think", "act")
    sub.add_edge("act", END)
    g = StateGraph(S)
    g.add_node("prep", _ask("prep"))
    g.add_node("sub", sub.compile())
    g.add_edge(START, "prep")
    g.add_edge("prep", "sub")
    g.add_edge("sub", END)
    return g.compile()


def loop_graph() -> Any:
    """agent <-> tools until three steps were taken (a ReAct-shaped loop)."""

    def agent(s: S) -> S:
        LLM.invoke(s["q"])
        return {"steps": s.get("steps", 0) + 1}

    g = StateGraph(S)
    g.add_node("agent", agent)
    g.add_node("tools", _lookup)
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", lambda s: "tools" if s["steps"] < 3 else END, ["tools", END])
    g.add_edge("tools", "agent")
    return g.compile()


def _edges(plan: Plan) -> set[tuple[str, str, bool]]:
    return {(e.source, e.target, e.conditional) for e in plan.edges}


# ---- structure ----------------------------------------------------------------------------------


def test_structure_matches_the_graph_with_conditional_edges_and_send() -> None:
    graph = router_graph()
    plan = plan_of(graph)
    assert [n.name for n in plan.order()] == [
        "__start__",
        "classify",
        "lookup",
        "answer",
        "worker",
        "__end__",
    ]
    assert {n.name for n in plan.nodes} == set(graph.get_graph().nodes)
    assert _edges(plan) == ROUTER_EDGES
    assert [n.kind for n in plan.order()] == ["start"] + ["control"] * 4 + ["end"]
    assert all(not n.operators for n in plan.nodes)


def test_subgraph_nodes_appear_as_paths() -> None:
    plan = plan_of(subgraph_graph())
    assert [n.name for n in plan.order()] == [
        "__start__",
        "prep",
        "sub/think",
        "sub/act",
        "__end__",
    ]
    assert _edges(plan) == {
        ("__start__", "prep", False),
        ("prep", "sub/think", False),
        ("sub/think", "sub/act", False),
        ("sub/act", "__end__", False),
    }


def test_loop_order_ignores_the_back_edge() -> None:
    plan = plan_of(loop_graph())
    assert [n.name for n in plan.order()] == ["__start__", "agent", "tools", "__end__"]
    assert _edges(plan) == {
        ("__start__", "agent", False),
        ("agent", "tools", True),
        ("agent", "__end__", True),
        ("tools", "agent", False),
    }


# ---- annotation from hand-made records --------------------------------------------------------


def _rec(
    cid: int,
    kind: str,
    inst: int | None,
    node: str,
    *,
    merged: int | None = None,
    prompt: int = 0,
    cached: int = 0,
    out: int = 0,
    t: tuple[float, float] | None = (0.0, 0.0),
    error: str | None = None,
) -> CallRecord:
    return CallRecord(
        cid,
        kind,  # type: ignore[arg-type]
        inst,
        node,
        model="tiny" if kind == "llm" else "",
        merged_into=merged,
        prompt_tokens=prompt,
        cached_tokens=cached,
        output_tokens=out,
        dispatched_s=None if t is None else t[0],
        finished_s=None if t is None else t[1],
        error=error,
    )


def consolidated() -> ConsolidatedGraph:
    """Calls of 3 instances of ``router_graph`` (ids 10..), after 2 calls of an earlier run."""
    g = ConsolidatedGraph()
    recs = [
        _rec(0, "llm", 90, "classify", prompt=500, out=9, t=(0.0, 9.0)),  # earlier run
        _rec(1, "tool", 90, "lookup:search", t=(9.0, 9.5)),  # earlier run
        # classify: one executed, two merged into it (dedup)
        _rec(10, "llm", 0, "classify", prompt=100, cached=0, out=4, t=(1.0, 1.5)),
        _rec(11, "llm", 1, "classify", merged=10, t=(1.5, 1.5)),
        _rec(12, "llm", 2, "classify", merged=10, t=(1.5, 1.5)),
        # lookup: instance 0 and 1 (pure tool: 1 merged), instance 1's failed
        _rec(13, "tool", 0, "lookup:search", t=(2.0, 2.25)),
        _rec(14, "tool", 1, "lookup:search", merged=13, t=(2.25, 2.25)),
        _rec(15, "tool", 1, "lookup:search", t=(2.0, 2.5), error="ConnectionError: down"),
        # answer: three executed, prefix cache hits
        _rec(16, "llm", 0, "answer", prompt=200, cached=128, out=8, t=(3.0, 4.0)),
        _rec(17, "llm", 1, "answer", prompt=210, cached=128, out=8, t=(3.0, 4.5)),
        _rec(18, "llm", 2, "answer", prompt=190, cached=0, out=7, t=(3.0, 3.5)),
        # worker: an LLM call and a tool call (mixed), one still undispatched
        _rec(19, "llm", 0, "worker", prompt=50, cached=0, out=2, t=(5.0, 5.25)),
        _rec(20, "tool", 0, "worker:search", t=(5.25, 5.5)),
        _rec(21, "llm", 1, "worker", t=None),
        # calls outside any graph node, and below a node the plan does not expand
        _rec(22, "llm", 2, "llm7", prompt=30, out=1, t=(6.0, 6.5)),
        _rec(23, "llm", 2, "answer/inner", prompt=40, cached=16, out=3, t=(7.0, 7.5)),
    ]
    for r in recs:
        g.add(r)
    return g


def test_annotation_counts_each_node() -> None:
    plan = plan_of(router_graph(), consolidated(), since=10)
    classify = plan.node("classify")
    assert classify.kind == "llm"
    s = classify.stats
    assert (s.calls, s.executed, s.merged, s.errors) == (3, 1, 2, 0)
    assert (s.prompt_tokens, s.cached_tokens, s.output_tokens) == (100, 0, 4)
    assert s.busy_s == pytest.approx(0.5) and s.instances == 3

    lookup = plan.node("lookup")
    assert lookup.kind == "tool"
    assert [(op.kind, op.name) for op in lookup.operators] == [("tool", "search")]
    s = lookup.stats
    assert (s.calls, s.executed, s.merged, s.errors) == (3, 2, 1, 1)
    assert s.busy_s == pytest.approx(0.75) and s.instances == 2

    answer = plan.node("answer")
    assert [op.label for op in answer.operators] == ["llm tiny", "llm tiny @inner"]
    s = answer.stats
    assert (s.calls, s.executed, s.prompt_tokens, s.cached_tokens, s.output_tokens) == (
        4,
        4,
        640,
        272,
        26,
    )
    assert s.computed_tokens == 368

    worker = plan.node("worker")
    assert worker.kind == "mixed"
    assert (worker.stats.calls, worker.stats.executed) == (3, 2)

    synthetic = [n for n in plan.nodes if n.synthetic]
    assert [n.name for n in synthetic] == ["llm7"]
    assert synthetic[0].stats.prompt_tokens == 30
    assert plan.order()[-2:] == [synthetic[0], plan.node("__end__")]
    assert plan.node("__start__").kind == "start" and not plan.node("__start__").operators


@pytest.mark.parametrize("since", [0, 10, 16, 100])
def test_totals_equal_the_graph_summary(since: int) -> None:
    g = consolidated()
    plan = plan_of(router_graph(), g, since=since)
    summary = g.summary(since)
    llm, tools, total = plan.totals("llm"), plan.totals("tool"), plan.totals()
    assert (llm.calls, llm.executed) == (summary.llm_calls, summary.llm_executed)
    assert (tools.calls, tools.executed) == (summary.tool_calls, summary.tool_executed)
    assert (total.prompt_tokens, total.cached_tokens, total.output_tokens) == (
        summary.prompt_tokens,
        summary.cached_tokens,
        summary.output_tokens,
    )
    assert total.errors == summary.errors
    # every call counted exactly once, in some node
    assert sum(n.stats.calls for n in plan.nodes) == len([r for r in g if r.call_id >= since])


def test_annotate_returns_a_fresh_copy() -> None:
    bare = plan_of(router_graph())
    annotated = bare.annotate(consolidated())
    assert annotated is not bare and all(not n.operators for n in bare.nodes)
    assert annotated.totals().calls == 16
    again = annotated.annotate([])
    assert again.totals().calls == 0
    assert [n.name for n in again.nodes] == [n.name for n in bare.nodes]  # synthetic ones gone
    assert [n.kind for n in again.order()] == ["start"] + ["control"] * 4 + ["end"]
    assert annotated.annotate(consolidated(), since=16).totals().calls == 8


def test_plan_from_records_alone() -> None:
    plan = Plan.from_records(consolidated(), since=10)
    assert [n.name for n in plan.order()][:3] == ["__start__", "classify", "lookup"]
    edges = _edges(plan)
    assert ("__start__", "classify", False) in edges
    assert ("classify", "lookup", True) in edges and ("classify", "answer", True) in edges
    assert ("lookup", "answer", False) in edges
    assert plan.totals().calls == 14
    assert not any(n.synthetic for n in plan.nodes)


# ---- text and pictures ---------------------------------------------------------------------------


def _explain_rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if cells and cells[0] and not cells[0].startswith("-"):
            rows.setdefault(cells[0], cells)
    return rows


def test_explain_lists_nodes_in_order_with_stats() -> None:
    g = consolidated()
    text = explain(router_graph(), _SessionLike(g), since=10)
    names = [line.split()[0] for line in text.splitlines()[2:9]]
    assert names == ["__start__", "classify", "lookup", "answer", "llm", "llm", "worker"]
    rows = _explain_rows(text)
    # node  kind  calls exec merged err prompt cached output busy_s inst next
    assert rows["classify"][:11] == ["classify", "llm", "3", "1", "2", "0", "100", "0", "4"] + [
        "0.50",
        "3",
    ]
    assert rows["classify"][11] == "lookup?, answer?"
    assert rows["lookup"][2:6] == ["3", "2", "1", "1"]
    s = g.summary(10)
    assert rows["total"][1:5] == [str(s.llm_calls + s.tool_calls), "10", "3", "1"]
    assert rows["total"][5:8] == [str(s.prompt_tokens), str(s.cached_tokens), str(s.output_tokens)]
    assert f"{s.prompt_tokens - s.cached_tokens} computed" in text


def test_mermaid_marks_conditional_edges_and_carries_stats() -> None:
    plan = plan_of(router_graph(), consolidated(), since=10)
    text = plan.to_mermaid()
    assert text.startswith("flowchart TD\n")
    assert text.count("-.->") == sum(e.conditional for e in plan.edges) == 3
    assert text.count(" --> ") == sum(not e.conditional for e in plan.edges) == 3
    assert "calls 3 → 1 run, 2 merged" in text
    assert ":::end" not in text  # "end" is a Mermaid keyword
    assert plan._repr_markdown_() == f"```mermaid\n{text}\n```"


def test_svg_has_a_box_per_node_and_an_arrow_per_edge() -> None:
    plan = plan_of(router_graph(), consolidated(), since=10)
    svg = plan.to_svg()
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    rects = root.findall(f".//{ns}rect")
    arrows = [p for p in root.iter(f"{ns}path") if p.get("marker-end")]
    assert len(rects) == len(plan.nodes) == 7
    assert len(arrows) == len(plan.edges)
    assert sum(p.get("stroke-dasharray") is not None for p in arrows) == 3
    texts = {t.text for t in root.iter(f"{ns}text")}
    assert {n.name for n in plan.nodes} <= texts
    assert "calls 3 → 1 run, 2 merged" in texts
    assert plan._repr_svg_() == svg
    # boxes do not overlap
    boxes = [tuple(float(r.get(k, 0)) for k in ("x", "y", "width", "height")) for r in rects]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart_x = a[0] + a[2] <= b[0] or b[0] + b[2] <= a[0]
            apart_y = a[1] + a[3] <= b[1] or b[1] + b[3] <= a[1]
            assert apart_x or apart_y


def test_svg_draws_loops_and_escapes_text() -> None:
    plan = Plan(
        [PlanNode("__start__", "start"), PlanNode("a<b&c"), PlanNode("__end__", "end")],
        [
            PlanEdge("__start__", "a<b&c"),
            PlanEdge("a<b&c", "a<b&c", True, 'again "?"'),
            PlanEdge("a<b&c", "__end__", True),
        ],
    )
    root = ET.fromstring(plan.to_svg())  # well-formed despite the name
    assert len([p for p in root.iter("{http://www.w3.org/2000/svg}path") if p.get("marker-end")])
    assert "a<b&c" in {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert "#lt;" in plan.to_mermaid() and "#quot;" in plan.to_mermaid()


# ---- through the LangChain hook, with a recording stand-in for a Session ----------------------


class _SessionLike:
    """Has a consolidated graph, like a Session."""

    def __init__(self, graph: ConsolidatedGraph) -> None:
        self.graph = graph


class RecordingSession(_SessionLike):
    """Takes the hook's calls like a Session would, recording each one (no engine, no dedup)."""

    def __init__(self) -> None:
        super().__init__(ConsolidatedGraph())
        self.instance = 0

    def _record(self, kind: str, node: str | None, model: str | None) -> None:
        cid = self.graph.next_call_id()
        rec = CallRecord(cid, kind, self.instance, node or f"{kind}?", model=model or "default")  # type: ignore[arg-type]
        rec.dispatched_s, rec.finished_s = 0.0, 0.01
        if kind == "llm":
            rec.prompt_tokens, rec.output_tokens = 10, 2
        self.graph.add(rec)

    def chat(
        self, messages: Any, *, model: str | None = None, node: str | None = None, **kw: Any
    ) -> HaloChatResult:
        self._record("llm", node, model)
        return HaloChatResult("hooked", 10, 2, 0, "stop")

    async def achat(self, messages: Any, **kw: Any) -> HaloChatResult:
        return self.chat(messages, **kw)

    def call_tool(self, fn: Any, args: Any, kw: Any, *, node: str | None, **options: Any) -> Any:
        self._record("tool", node, None)
        return fn(*args, **kw)


def _run(graph: Any, inputs: list[S]) -> RecordingSession:
    rec = RecordingSession()
    with halo_adapters.bind(rec):
        for i, x in enumerate(inputs):
            rec.instance = i
            graph.invoke(x)
    return rec


def test_hook_labels_land_on_graph_nodes() -> None:
    graph = router_graph()
    rec = _run(graph, [{"q": "what?"}, {"q": "tell"}])
    plan = plan_of(graph, rec)
    assert not any(n.synthetic for n in plan.nodes)
    calls = {n.name: (n.kind, n.stats.calls, n.stats.instances) for n in plan.nodes}
    assert calls == {
        "__start__": ("start", 0, 0),
        "classify": ("llm", 2, 2),
        "lookup": ("tool", 1, 1),
        "answer": ("llm", 2, 2),
        "worker": ("llm", 6, 2),
        "__end__": ("end", 0, 0),
    }
    assert plan.totals().calls == len(rec.graph)


def test_hook_labels_in_a_loop() -> None:
    graph = loop_graph()
    rec = _run(graph, [{"q": "go"}])
    plan = plan_of(graph, rec)
    assert (plan.node("agent").stats.calls, plan.node("tools").stats.calls) == (3, 2)
    assert not any(n.synthetic for n in plan.nodes)
    assert "tools" in plan.to_svg()


def test_hook_labels_inside_a_subgraph() -> None:
    graph = subgraph_graph()
    rec = _run(graph, [{"q": "a"}, {"q": "b"}])
    assert sorted({r.node for r in rec.graph}) == ["prep", "sub/act:search", "sub/think"]
    plan = plan_of(graph, rec)
    assert not any(n.synthetic for n in plan.nodes)
    assert [n.stats.calls for n in plan.order()] == [0, 2, 2, 2, 0]


# ---- on the real engine ---------------------------------------------------------------------


@pytest.mark.engine
def test_annotated_totals_match_the_report_and_the_engine(halo: Any) -> None:
    model = ShortChat()  # under the binding its calls go to the engine, 4 tokens each
    system = "You are a terse assistant who answers in one word. " * 30  # > one KV block

    def ask(s: S) -> S:
        r = model.invoke([("system", system), ("user", f"Topic: {s['q']}")])
        return {"notes": [str(r.content)]}

    def fetch(s: S) -> S:
        return {"notes": [pure_search.invoke({"query": s["q"]})]}

    g = StateGraph(S)
    g.add_node("ask", ask)
    g.add_node("fetch", fetch)
    g.add_edge(START, "ask")
    g.add_edge("ask", "fetch")
    g.add_edge("fetch", END)
    graph = g.compile()

    inputs: list[S] = [{"q": f"topic {i % 3}"} for i in range(9)]
    first, before = halo.graph.next_call_id(), halo.counters()
    report = halo_lg.batch(graph, inputs, session=halo)
    after = halo.counters()
    assert not report.failed
    plan = plan_of(graph, halo, since=first)
    llm, tools, s = plan.totals("llm"), plan.totals("tool"), report.summary
    assert (
        (llm.calls, llm.executed, llm.merged)
        == (9, 3, 6)
        == (
            s.llm_calls,
            s.llm_executed,
            s.llm_calls - s.llm_executed,
        )
    )
    assert (tools.calls, tools.executed) == (s.tool_calls, s.tool_executed) == (9, 3)
    assert (llm.prompt_tokens, llm.cached_tokens) == (s.prompt_tokens, s.cached_tokens)
    requests = sum(after[k].requests - before[k].requests for k in after)
    hits = sum(after[k].prefix_cache_hits - before[k].prefix_cache_hits for k in after)
    assert llm.executed == requests
    assert llm.cached_tokens == hits > 0
    assert plan.node("ask").kind == "llm" and plan.node("fetch").kind == "tool"
    assert not any(n.synthetic for n in plan.nodes)


@halo_adapters.pure
@tool
def pure_search(query: str) -> str:
    """Search (pure: merged across instances)."""
    return f"results for {query}"
