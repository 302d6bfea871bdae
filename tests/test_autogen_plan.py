"""The plan DAG of AutoGen teams: structure from real team objects, transitions and stats from
records that follow the hook's labels (agent name, ``"selector"``, ``"<agent>:<tool>"``)."""

from __future__ import annotations

import asyncio
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.messages import BaseChatMessage
from autogen_agentchat.teams import (
    DiGraphBuilder,
    GraphFlow,
    RoundRobinGroupChat,
    SelectorGroupChat,
    Swarm,
)
from autogen_ext.models.openai import OpenAIChatCompletionClient

import halo_adapters
from halo_adapters._autogen_plan import SELECTOR, explain, plan_of, structure
from halo_core import END, START, CallRecord, ConsolidatedGraph, GraphSummary, Plan, RunReport

INFO: Any = {
    "vision": False,
    "function_calling": True,
    "json_output": True,
    "family": "unknown",
    "structured_output": True,
}


def _client(**kw: Any) -> OpenAIChatCompletionClient:
    """A client of a server that is not there: only a Halo binding can answer it."""
    url = "http://127.0.0.1:9/v1"
    return OpenAIChatCompletionClient(model="tiny-chat", base_url=url, api_key="x", **kw)


def _agent(name: str, **kw: Any) -> AssistantAgent:
    return AssistantAgent(name, model_client=_client(model_info=INFO), **kw)


def lookup(query: str) -> str:
    """Look a fact up."""
    return f"fact about {query}"


def round_robin() -> RoundRobinGroupChat:
    return RoundRobinGroupChat(
        [_agent("writer", tools=[lookup]), _agent("critic"), _agent("editor")], max_turns=4
    )


def selector() -> SelectorGroupChat:
    planner, coder = _agent("planner"), _agent("coder")
    return SelectorGroupChat([planner, coder], model_client=planner._model_client, max_turns=4)


def swarm() -> Swarm:
    return Swarm(
        [_agent("planner", handoffs=["coder", "user"]), _agent("coder", handoffs=["planner"])]
    )


def approved(message: BaseChatMessage) -> bool:
    return "APPROVE" in message.to_model_text()


def review_flow() -> GraphFlow:
    """writer -> reviewer -(REVISE)-> writer | -(approved)-> publisher."""
    writer, reviewer, publisher = _agent("writer"), _agent("reviewer"), _agent("publisher")
    b = DiGraphBuilder().add_node(writer).add_node(reviewer).add_node(publisher)
    b.add_edge(writer, reviewer).add_edge(reviewer, writer, condition="REVISE")
    b.add_edge(reviewer, publisher, condition=approved).set_entry_point(writer)
    return GraphFlow([writer, reviewer, publisher], graph=b.build())


def fan_flow() -> GraphFlow:
    """split -> (left, right in parallel) -> join."""
    split, left, right, join = (_agent(n) for n in ("split", "left", "right", "join"))
    b = DiGraphBuilder().add_node(split).add_node(left).add_node(right).add_node(join)
    b.add_edge(split, left).add_edge(split, right).add_edge(left, join).add_edge(right, join)
    return GraphFlow([split, left, right, join], graph=b.build())


def _edges(plan: Plan) -> list[tuple[str, str, bool, str]]:
    return [(e.source, e.target, e.conditional, e.label) for e in plan.edges]


# ---- structure ---------------------------------------------------------------------------------


def test_round_robin_structure_is_its_cycle() -> None:
    plan = structure(round_robin())
    assert [n.name for n in plan.order()] == [START, "writer", "critic", "editor", END]
    assert [n.kind for n in plan.order()] == ["start", "control", "control", "control", "end"]
    assert _edges(plan) == [
        (START, "writer", False, ""),
        ("writer", "critic", False, ""),
        ("critic", "editor", False, ""),
        ("editor", "writer", False, ""),
    ]
    assert plan_of(round_robin()).edges == plan.edges  # no records: the structure alone


def test_selector_structure_routes_through_the_selector() -> None:
    plan = structure(selector())
    assert [n.name for n in plan.order()] == [START, SELECTOR, "planner", "coder", END]
    assert _edges(plan) == [
        (START, "selector", False, ""),
        ("selector", "planner", True, ""),
        ("planner", "selector", True, ""),
        ("selector", "coder", True, ""),
        ("coder", "selector", True, ""),
    ]


def test_swarm_structure_has_conditional_handoffs() -> None:
    plan = structure(swarm())
    assert [n.name for n in plan.order()] == [START, "planner", "coder", END]
    assert _edges(plan) == [
        (START, "planner", False, ""),
        ("planner", "coder", True, ""),
        ("planner", END, True, "user"),  # a handoff outside the team ends the run
        ("coder", "planner", True, ""),
    ]


def test_graph_flow_structure_is_its_digraph() -> None:
    plan = structure(review_flow())
    assert [n.name for n in plan.order()] == [START, "writer", "reviewer", "publisher", END]
    assert _edges(plan) == [
        (START, "writer", False, ""),
        ("writer", "reviewer", False, ""),
        ("reviewer", "writer", True, "REVISE"),
        ("reviewer", "publisher", True, "approved"),
        ("publisher", END, False, ""),
    ]
    fan = structure(fan_flow())
    assert [n.name for n in fan.order()] == [START, "split", "left", "right", "join", END]
    assert len(fan.edges) == 6 and not any(e.conditional for e in fan.edges)


def test_lone_agent_and_other_objects() -> None:
    assert _edges(structure(_agent("solo"))) == [
        (START, "solo", False, ""),
        ("solo", END, False, ""),
    ]
    with pytest.raises(TypeError, match="not an AutoGen team"):
        structure(object())


# ---- transitions and annotation from hand-made records -----------------------------------------


def _rec(
    cid: int,
    inst: int | None,
    node: str,
    merged: int | None = None,
    tokens: tuple[int, int, int] = (0, 0, 0),
    t: tuple[float, float] = (0.0, 0.0),
) -> CallRecord:
    """An LLM call (a tool call when ``node`` is ``"<agent>:<tool>"``)."""
    kind: Any = "tool" if ":" in node else "llm"
    prompt, cached, out = tokens
    return CallRecord(
        cid, kind, inst, node, model="tiny" if kind == "llm" else "", merged_into=merged,
        prompt_tokens=prompt, cached_tokens=cached, output_tokens=out,
        dispatched_s=t[0], finished_s=t[1],
    )  # fmt: skip


def _graph(*records: CallRecord) -> ConsolidatedGraph:
    g = ConsolidatedGraph()
    for r in records:
        g.add(r)
    return g


def round_robin_calls() -> ConsolidatedGraph:
    """An earlier run (instance 9, ids 0-1), then instances A, B, C (ids 5..): A speaks writer,
    critic, editor, writer; B writer, critic; C writer, critic, editor."""
    a, b, c = 100, 101, 102
    return _graph(
        _rec(0, 9, "writer", tokens=(90, 0, 1), t=(0.0, 1.0)),
        _rec(1, 9, "critic", tokens=(90, 0, 1), t=(1.0, 2.0)),
        _rec(5, a, "writer", tokens=(100, 0, 5), t=(0.0, 1.0)),
        _rec(6, b, "writer", merged=5),
        _rec(7, c, "writer", merged=5),
        _rec(8, a, "writer:lookup", t=(1.0, 1.5)),
        _rec(9, b, "writer:lookup", merged=8),
        _rec(10, c, "writer:lookup", merged=8),
        _rec(11, a, "writer", tokens=(150, 100, 6), t=(1.5, 2.0)),
        _rec(12, b, "writer", tokens=(150, 100, 6), t=(1.5, 2.5)),
        _rec(13, c, "writer", tokens=(150, 100, 6), t=(1.5, 2.0)),
        _rec(14, a, "critic", tokens=(200, 128, 4), t=(2.0, 3.0)),
        _rec(15, b, "critic", merged=14),
        _rec(16, c, "critic", tokens=(200, 128, 4), t=(2.0, 3.0)),
        _rec(17, a, "editor", tokens=(300, 0, 8), t=(3.0, 4.0)),
        _rec(18, c, "editor", tokens=(300, 0, 8), t=(3.0, 4.5)),
        _rec(19, a, "writer", tokens=(400, 256, 3), t=(4.0, 5.0)),
    )


def test_round_robin_transitions_are_counted_on_its_edges() -> None:
    plan = plan_of(round_robin(), round_robin_calls(), since=5)
    assert _edges(plan) == [
        (START, "writer", False, "×3"),
        ("writer", "critic", False, "×3"),
        ("critic", "editor", False, "×2"),
        ("editor", "writer", False, "×1"),
        ("writer", END, True, "×1"),
        ("critic", END, True, "×1"),
        ("editor", END, True, "×1"),
    ]
    everything = plan_of(round_robin(), round_robin_calls())  # the earlier run counts too
    labels = {(e.source, e.target): e.label for e in everything.edges}
    assert (labels[START, "writer"], labels["writer", "critic"], labels["critic", END]) == (
        "×4",
        "×4",
        "×2",
    )


def test_round_robin_annotation_per_participant() -> None:
    plan = plan_of(round_robin(), round_robin_calls(), since=5)
    writer = plan.node("writer")
    assert writer.kind == "mixed"
    ops = [
        (op.label, op.stats.calls, op.stats.executed, op.stats.merged) for op in writer.operators
    ]
    assert ops == [("llm tiny", 7, 5, 2), ("tool lookup", 3, 1, 2)]
    s = writer.stats
    assert (s.prompt_tokens, s.cached_tokens, s.output_tokens, s.instances) == (950, 556, 26, 3)
    assert s.busy_s == pytest.approx(4.5)
    critic, editor = plan.node("critic").stats, plan.node("editor").stats
    assert (critic.calls, critic.executed, critic.merged, critic.prompt_tokens) == (3, 2, 1, 400)
    assert (editor.calls, editor.executed, editor.merged, editor.instances) == (2, 2, 0, 2)
    assert editor.busy_s == pytest.approx(2.5)
    assert plan.totals().calls == 15 and not any(n.synthetic for n in plan.nodes)


def selector_calls() -> ConsolidatedGraph:
    """Instance 1: selector, planner, selector, coder, selector, coder; instance 2: selector,
    planner, selector (retried), planner."""
    return _graph(
        _rec(0, 1, "selector", tokens=(50, 0, 1), t=(0.0, 0.5)),
        _rec(1, 2, "selector", merged=0),
        _rec(2, 1, "planner", tokens=(80, 0, 9), t=(0.5, 1.5)),
        _rec(3, 2, "planner", merged=2),
        _rec(4, 1, "selector", tokens=(90, 48, 1), t=(1.5, 2.0)),
        _rec(5, 2, "selector", tokens=(90, 48, 1), t=(1.5, 2.0)),
        _rec(6, 1, "coder", tokens=(120, 64, 12), t=(2.0, 3.0)),
        _rec(7, 2, "selector", tokens=(95, 48, 1), t=(2.0, 2.5)),
        _rec(8, 2, "planner", tokens=(130, 64, 7), t=(2.5, 3.0)),
        _rec(9, 1, "selector", merged=7),
        _rec(10, 1, "coder", tokens=(160, 128, 5), t=(3.0, 4.0)),
    )


def test_selector_transitions_and_merged_selector_calls() -> None:
    plan = plan_of(selector(), selector_calls())
    assert _edges(plan) == [
        (START, "selector", False, "×2"),
        ("selector", "planner", True, "×3"),
        ("planner", "selector", True, "×2"),
        ("selector", "coder", True, "×2"),
        ("coder", "selector", True, "×1"),
        ("coder", END, True, "×1"),
        ("planner", END, True, "×1"),
    ]
    sel = plan.node(SELECTOR)
    assert sel.kind == "llm"
    s = sel.stats
    assert (s.calls, s.executed, s.merged, s.instances) == (6, 4, 2, 2)
    assert (s.prompt_tokens, s.cached_tokens, s.output_tokens) == (325, 144, 4)
    assert (plan.node("planner").stats.calls, plan.node("coder").stats.calls) == (3, 2)
    assert plan.node("planner").stats.merged == 1


def test_swarm_handoffs_are_tool_calls_under_their_agent() -> None:
    calls = _graph(
        _rec(0, 1, "planner", tokens=(60, 0, 3), t=(0.0, 1.0)),
        _rec(1, 1, "planner:transfer_to_coder", t=(1.0, 1.0)),
        _rec(2, 1, "coder", tokens=(70, 0, 3), t=(1.0, 2.0)),
        _rec(3, 1, "coder:transfer_to_planner", t=(2.0, 2.0)),
        _rec(4, 1, "planner", tokens=(80, 0, 3), t=(2.0, 3.0)),
        _rec(5, 1, "planner:transfer_to_user", t=(3.0, 3.0)),
    )
    plan = plan_of(swarm(), calls)
    assert _edges(plan) == [
        (START, "planner", False, "×1"),
        ("planner", "coder", True, "×1"),
        ("planner", END, True, "user ×1"),
        ("coder", "planner", True, "×1"),
    ]
    planner = plan.node("planner")
    assert planner.kind == "mixed"
    assert [op.label for op in planner.operators] == [
        "llm tiny",
        "tool transfer_to_coder",
        "tool transfer_to_user",
    ]


def test_graph_flow_loop_counts_condition_edges() -> None:
    calls = _graph(
        *(_rec(i, 1, n) for i, n in enumerate(["writer", "reviewer", "writer", "reviewer"])),
        _rec(4, 2, "writer"),
        _rec(5, 1, "publisher"),
        _rec(6, 2, "reviewer"),
        _rec(7, 2, "publisher"),
    )
    plan = plan_of(review_flow(), calls)
    assert _edges(plan) == [
        (START, "writer", False, "×2"),
        ("writer", "reviewer", False, "×3"),
        ("reviewer", "writer", True, "REVISE ×1"),
        ("reviewer", "publisher", True, "approved ×2"),
        ("publisher", END, False, "×2"),
    ]


def test_graph_flow_parallel_branches_interleave() -> None:
    """Calls of parallel branches interleave; each branch still counts once from its parent."""
    one = ["split", "left", "right", "left:lookup", "left", "right", "join"]
    two = ["split", "right", "left", "join"]
    calls = _graph(
        *(_rec(i, 1, n) for i, n in enumerate(one)),
        *(_rec(10 + i, 2, n) for i, n in enumerate(two)),
    )
    plan = plan_of(fan_flow(), calls)
    assert _edges(plan) == [
        (START, "split", False, "×2"),
        ("split", "left", False, "×2"),
        ("split", "right", False, "×2"),
        ("left", "join", False, "×2"),
        ("right", "join", False, "×2"),
        ("join", END, False, "×2"),
    ]
    assert plan.node("left").stats.calls == 4
    # a run stopped early (max_turns) ends at the last node whose child did not speak
    cut = plan_of(fan_flow(), _graph(_rec(0, 3, "split"), _rec(1, 3, "left")))
    assert [(e.source, e.target, e.label) for e in cut.edges if e.label] == [
        (START, "split", "×1"),
        ("split", "left", "×1"),
        ("left", END, "×1"),
    ]


def test_unknown_labels_get_synthetic_nodes_and_inputs_are_alike() -> None:
    records = [
        _rec(0, 1, "solo", tokens=(10, 0, 2), t=(0.0, 1.0)),
        _rec(1, 1, "solo:lookup", t=(1.0, 1.25)),
        _rec(2, 1, "summarizer", tokens=(20, 0, 2), t=(1.25, 2.0)),
        _rec(3, None, "solo", tokens=(5, 0, 1), t=(2.0, 3.0)),  # outside any instance
    ]
    agent = _agent("solo")
    plan = plan_of(agent, _graph(*records))
    assert _edges(plan) == [
        (START, "solo", False, "×1"),
        ("solo", END, False, ""),
        ("solo", "summarizer", True, "×1"),
        ("summarizer", END, True, "×1"),
    ]
    assert [n.name for n in plan.nodes if n.synthetic] == ["summarizer"]
    assert plan.node("solo").stats.calls == 3
    report = RunReport(results=[], wall_s=0.0, summary=GraphSummary(), records=records)
    for source in (records, report, type("S", (), {"graph": _graph(*records)})()):
        assert _edges(plan_of(agent, source)) == _edges(plan)
        assert plan_of(agent, source).totals().calls == 4


# ---- text and pictures --------------------------------------------------------------------------


def _explain_rows(text: str) -> dict[str, list[str]]:
    return {
        cells[0]: cells
        for cells in (re.split(r"\s{2,}", line.strip()) for line in text.splitlines())
        if cells[0] and not cells[0].startswith("-")
    }


def test_explain_rows() -> None:
    text = explain(round_robin(), round_robin_calls(), since=5)
    names = [line.split()[0] for line in text.splitlines()[2:9]]
    assert names == [START, "writer", "llm", "tool", "critic", "editor", END]
    rows = _explain_rows(text)
    # node  kind  calls exec merged err prompt cached output busy_s inst next
    assert rows["writer"] == [
        "writer", "mixed", "10", "6", "4", "0", "950", "556", "26", "4.50", "3", "critic, __end__?",
    ]  # fmt: skip
    assert rows["critic"][2:11] == ["3", "2", "1", "0", "400", "256", "8", "2.00", "3"]
    assert rows["editor"][-1] == "writer, __end__?"
    assert rows["total"][1:4] == ["15", "10", "5"]

    sel = _explain_rows(explain(selector(), selector_calls()))
    assert sel["selector"][1:6] == ["llm", "6", "4", "2", "0"]
    assert sel["selector"][-1] == "planner?, coder?"


def test_svg_and_mermaid_render_counts() -> None:
    plan = plan_of(selector(), selector_calls())
    root = ET.fromstring(plan._repr_svg_())
    ns = "{http://www.w3.org/2000/svg}"
    arrows = [p for p in root.iter(f"{ns}path") if p.get("marker-end")]
    assert len(root.findall(f".//{ns}rect")) == len(plan.nodes) == 5
    assert len(arrows) == len(plan.edges) == 7
    texts = {t.text for t in root.iter(f"{ns}text")}
    assert {"selector", "planner", "coder", "×3", "calls 6 → 4 run, 2 merged"} <= texts
    mermaid = plan.to_mermaid()
    assert "-. ×3 .->" in mermaid and "-- ×2 -->" in mermaid


# ---- on the real engine ------------------------------------------------------------------------


def _counts(plan: Plan) -> dict[tuple[str, str], int]:
    return {(e.source, e.target): int(e.label.split("×")[1]) for e in plan.edges if "×" in e.label}


@pytest.mark.engine
def test_teams_on_the_engine_show_every_participant_and_transition(halo: Any) -> None:
    short = _client(model_info=INFO, max_tokens=6, temperature=0.0)
    n = 4

    def run(teams: list[Any]) -> int:
        async def main() -> list[Any]:
            with halo_adapters.bind(halo, models={"tiny-chat": "tiny"}):
                return await asyncio.gather(
                    *(t.run(task=f"Topic {i % 2}") for i, t in enumerate(teams))
                )

        first = halo.graph.next_call_id()
        results = asyncio.run(main())
        assert [len(r.messages) for r in results] == [4] * n  # the task, then three turns
        return first

    def pair(a: str, b: str) -> list[Any]:
        return [AssistantAgent(a, model_client=short), AssistantAgent(b, model_client=short)]

    rr = [RoundRobinGroupChat(pair("writer", "critic"), max_turns=3) for _ in range(n)]
    first = run(rr)
    plan = plan_of(rr[0], halo.graph, since=first)
    assert _counts(plan) == {
        (START, "writer"): n,
        ("writer", "critic"): n,
        ("critic", "writer"): n,
        ("writer", END): n,
    }
    calls = {x.name: (x.kind, x.stats.calls, x.stats.instances) for x in plan.nodes}
    assert calls == {
        START: ("start", 0, 0),
        "writer": ("llm", 2 * n, n),
        "critic": ("llm", n, n),
        END: ("end", 0, 0),
    }
    summary = halo.graph.summary(first)
    assert (plan.totals().calls, plan.totals().executed) == (
        summary.llm_calls,
        summary.llm_executed,
    )
    assert plan.totals().merged > 0  # two distinct tasks over four teams

    # two participants, no repeated speaker: the selector's LLM picks the first speaker only
    sel = [
        SelectorGroupChat(pair("zorblax", "quuxle"), model_client=short, max_turns=3)
        for _ in range(n)
    ]
    first = run(sel)
    plan = plan_of(sel[0], halo.graph, since=first)
    counts = _counts(plan)
    assert {k: v for k, v in counts.items() if k[0] == START} == {(START, SELECTOR): n}
    assert sum(v for k, v in counts.items() if k[0] == SELECTOR) == n
    assert sum(v for k, v in counts.items() if k[1] == END) == n
    assert sum(counts.values()) == 5 * n  # start, selector, three turns, end
    assert not any(x.synthetic for x in plan.nodes)
    for name in (SELECTOR, "zorblax", "quuxle"):
        assert plan.node(name).kind == "llm" and plan.node(name).stats.instances == n
    assert plan.node("zorblax").stats.calls + plan.node("quuxle").stats.calls == 3 * n
    assert plan.totals().calls == halo.graph.summary(first).llm_calls
    assert "quuxle" in explain(sel[0], halo.graph, since=first)
