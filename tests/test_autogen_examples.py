"""The AutoGen examples give under Halo exactly what they give without it.

"Without Halo" is the example's own batch (one team per task, ``asyncio.gather`` of
``team.run``) with ``OpenAIChatCompletionClient`` talking to a stock ``vllm serve`` of the tiny
test model (``vllm_server``). "Under Halo" is the same code inside ``halo_adapters.bind`` on the
in-process engine (``halo``), its client pointed at an address where nothing listens, so a call
that slipped past Halo fails. Message ids, timestamps, usage and tool-call ids differ per run, so
results are compared after :func:`examples._autogen_common.comparable`.

The tiny model has random weights: in these runs it names no participant (the selector falls
back to the previous speaker after its three tries), calls no tool and hands off to no one; the
equality covers every message it does produce, and the count of model calls (selector retries
included) is checked against AutoGen's own count on the server.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from autogen_agentchat.base import TaskResult
from autogen_agentchat.messages import TextMessage, ToolCallExecutionEvent, ToolCallRequestEvent
from autogen_core import EVENT_LOGGER_NAME, FunctionCall
from autogen_core.logging import LLMCallEvent
from autogen_core.models import FunctionExecutionResult

import halo_adapters
from examples import autogen_round_robin, autogen_selector, autogen_swarm, autogen_tools
from examples._autogen_common import comparable, mismatches, model_client, run_batch
from examples._common import UNUSED_URL
from halo_core import Session

N = 32
MODEL = "tiny-chat"
MODELS = {MODEL: "tiny"}

#: Each example with the output-token cap and turn limit its test uses (short conversations: the
#: selector's prompt holds the whole chat and its retries, within the 1024-token context).
EXAMPLES: dict[str, tuple[ModuleType, int, int]] = {
    "round_robin": (autogen_round_robin, 32, 3),
    "selector": (autogen_selector, 16, 2),
    "tools": (autogen_tools, 32, 2),
    "swarm": (autogen_swarm, 32, 2),
}

#: Agent replies per task on the tiny model: the turn limit, but one for the tools example
#: (its single-agent team stops at the first text answer).
REPLIES = {name: 1 if name == "tools" else turns for name, (_, _, turns) in EXAMPLES.items()}


def batch(name: str, url: str, tasks: list[str]) -> list[TaskResult | BaseException]:
    """The example's own batch code over ``tasks`` with its client at ``url``."""
    module, max_tokens, max_turns = EXAMPLES[name]
    make_team = functools.partial(module.make_team, max_turns=max_turns)
    run = run_batch(make_team, tasks, model=MODEL, base_url=url, max_tokens=max_tokens)
    return asyncio.run(run)


class _CountEvents(logging.Handler):
    """Counts AutoGen's own ``LLMCallEvent`` log records (one per model call it makes)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.llm_calls = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.llm_calls += isinstance(record.msg, LLMCallEvent)


@pytest.fixture(scope="module")
def reference(vllm_server: str) -> Callable[[str], tuple[list[Any], int]]:
    """``reference(name)``: the example over ``make_inputs(N)`` against the server (run once),
    and how many model calls AutoGen made."""
    cache: dict[str, tuple[list[Any], int]] = {}
    logger = logging.getLogger(EVENT_LOGGER_NAME)

    def get(name: str) -> tuple[list[Any], int]:
        if name not in cache:
            counter, saved = _CountEvents(), (logger.level, logger.propagate)
            logger.addHandler(counter)
            logger.setLevel(logging.INFO)
            logger.propagate = False  # AutoGen's event stream stays out of the test log
            try:
                results = batch(name, vllm_server, EXAMPLES[name][0].make_inputs(N))
            finally:
                logger.removeHandler(counter)
                logger.level, logger.propagate = saved
            cache[name] = (results, counter.llm_calls)
        return cache[name]

    return get


def tool_calls(results: list[Any]) -> int:
    """Tool calls the agents asked for (handoffs included)."""
    return sum(
        len(m.content) for r in results for m in r.messages if isinstance(m, ToolCallRequestEvent)
    )


@pytest.mark.engine
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_same_messages_under_halo_as_on_the_server(
    name: str, halo: Session, reference: Any
) -> None:
    expected, llm_calls = reference(name)
    assert all(isinstance(r, TaskResult) for r in expected)
    replies = [sum(m.source != "user" for m in r.messages) for r in expected]
    assert min(replies) >= 1 and max(replies) == REPLIES[name]  # conversations, not stubs
    tasks = EXAMPLES[name][0].make_inputs(N)
    with halo_adapters.bind(halo, models=MODELS):  # the same batch code, unchanged
        got = batch(name, UNUSED_URL, tasks)
    diffs = mismatches(got, expected)
    assert not diffs, f"{len(diffs)} of {N} tasks differ:\n" + "\n".join(
        d[:400] for d in list(diffs.values())[:5]
    )
    s = halo.graph.summary()
    assert s.llm_calls == llm_calls  # every model call (selector retries too) went through Halo
    assert s.tool_calls == tool_calls(expected)
    if name == "tools":  # 8 of its 32 questions are asked twice: their first calls merged
        assert s.llm_executed < s.llm_calls


@pytest.mark.engine
def test_abatch_reports_the_same_results(halo: Session, reference: Any) -> None:
    """``halo_adapters.autogen.abatch`` over a team factory: the same results, in task order."""
    import halo_adapters.autogen as halo_ag

    expected, llm_calls = reference("tools")
    module, max_tokens, max_turns = EXAMPLES["tools"]

    async def run() -> Any:
        client = model_client(MODEL, UNUSED_URL, max_tokens)
        try:
            factory = functools.partial(module.make_team, client, max_turns=max_turns)
            return await halo_ag.abatch(factory, module.make_inputs(N), session=halo, models=MODELS)
        finally:
            await client.close()

    report = asyncio.run(run())
    assert not mismatches(report.results, expected)
    assert report.summary.llm_calls == llm_calls and report.failed == 0


@pytest.mark.engine
def test_main_runs_without_halo_against_a_server(
    vllm_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--n", "2", "--max-tokens", "8", "--base-url", vllm_server, "--served-model", MODEL]
    results = autogen_swarm.main([*argv, "--show", "1"])
    assert len(results) == 2 and all(isinstance(r, TaskResult) for r in results)
    out = capsys.readouterr().out
    assert "without Halo: 2 done, 0 failed" in out and "Order 1000: I was charged twice." in out


# ---- without the engine ------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_inputs_are_deterministic(name: str) -> None:
    module = EXAMPLES[name][0]
    tasks = module.make_inputs(64)
    assert tasks == module.make_inputs(64) and module.make_inputs(5) == tasks[:5]
    assert all(isinstance(t, str) and t for t in tasks)
    distinct = {"round_robin": 64, "selector": 64, "tools": 24, "swarm": 64}[name]
    assert len(set(tasks)) == distinct  # how much each example's tasks repeat at N=64


def test_teams_are_new_per_call() -> None:
    client = model_client(MODEL, UNUSED_URL, 8)
    for module, _, _ in EXAMPLES.values():
        a, b = module.make_team(client), module.make_team(client)
        assert a is not b and a._participants[0] is not b._participants[0]


def test_bookshop_tools_read_only_and_report_errors() -> None:
    t = autogen_tools
    assert t.run_sql("SELECT COUNT(*) AS n FROM books") == "n\n10"
    top = t.run_sql("SELECT title FROM books ORDER BY price DESC LIMIT 1")
    assert top == "title\nLearning Go Slowly"
    with pytest.raises(ValueError, match="readonly database"):
        t.run_sql("DELETE FROM books")
    assert t.run_sql("SELECT COUNT(*) AS n FROM books") == "n\n10"
    with pytest.raises(ValueError, match="SQL error"):
        t.run_sql("SELEC nonsense")
    assert t.run_sql("SELECT month FROM sales").endswith("\n...")
    assert t.calculator("3 * (14.5 + 2)") == "49.5"
    with pytest.raises(ValueError):
        t.calculator("__import__('os')")
    assert autogen_swarm.track_order(1003).startswith("order 1003: ")
    with pytest.raises(ValueError, match="no order 7"):
        autogen_swarm.order_invoice(7)


def test_comparable_drops_run_specific_fields_and_renames_call_ids() -> None:
    def result(call_id: str, text: str = "done") -> TaskResult:
        call = FunctionCall(id=call_id, name="run_sql", arguments='{"query": "SELECT 1"}')
        done = FunctionExecutionResult(call_id=call_id, content="1", name="run_sql")
        return TaskResult(
            messages=[
                TextMessage(source="user", content="q"),
                ToolCallRequestEvent(source="analyst", content=[call]),
                ToolCallExecutionEvent(source="analyst", content=[done]),
                TextMessage(source="analyst", content=text),
            ],
            stop_reason="stop",
        )

    a, b = result("chatcmpl-tool-1"), result("chatcmpl-tool-2")
    assert comparable(a) == comparable(b) and not mismatches([a], [b])
    plain = comparable(a)
    assert plain["messages"][1]["content"][0]["id"] == "id0"
    assert plain["messages"][2]["content"][0]["call_id"] == "id0"
    assert "created_at" not in plain["messages"][0] and "id" not in plain["messages"][0]
    assert Counter(m["type"] for m in plain["messages"])["TextMessage"] == 2
    assert mismatches([result("x", "other")], [a]) == {
        0: "task 0['messages'][3]['content']: 'other' != 'done'"
    }
    assert comparable(ValueError("bad\nmore")) == ("raised", "ValueError", "bad")
