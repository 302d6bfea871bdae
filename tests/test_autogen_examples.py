"""The AutoGen examples give under Halo exactly what they give without it.

"Without Halo" is the example's own batch (one team per task, ``asyncio.gather`` of
``team.run``) with ``OpenAIChatCompletionClient`` talking to a stock ``vllm serve`` (pythonic
tool-call parser) started on 127.0.0.1. "Under Halo" is the same code inside
``halo_adapters.bind`` on an in-process engine of the same model, its client pointed at an
address where nothing listens, so a call that slipped past Halo fails. Message ids, timestamps,
usage and tool-call ids differ per run, so results are compared after
:func:`examples._autogen_common.comparable`.

Two models. The round-robin and selector examples run on the tiny random model (``tiny-chat``):
it names no participant (the selector falls back to the previous speaker after its three tries)
and writes no tool call. The tools and swarm examples run on a *scripted* tiny model
(``tool-caller``, :func:`build_tiny_llama` with ``script=``) whose greedy reply to every prompt is
the pythonic tool call ``SCRIPT``: a calculator call, an invoice lookup and a handoff to billing,
so real engine output drives AutoGen's tool runs (pure tools merged across teams), unknown-tool
errors, reflection and the swarm's handoffs. The count of model calls (selector retries
included) is checked against AutoGen's own count on the server.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from autogen_agentchat.base import TaskResult
from autogen_agentchat.messages import (
    HandoffMessage,
    TextMessage,
    ToolCallExecutionEvent,
    ToolCallRequestEvent,
)
from autogen_core import EVENT_LOGGER_NAME, FunctionCall
from autogen_core.logging import LLMCallEvent
from autogen_core.models import FunctionExecutionResult
from autogen_core.tools import FunctionTool

import halo_adapters
from examples import autogen_round_robin, autogen_selector, autogen_swarm, autogen_tools
from examples._autogen_common import comparable, mismatches, model_client, run_batch
from examples._common import UNUSED_URL
from halo_core import EngineConfig, OptimizerConfig, Session, SessionConfig
from halo_core.testing.tiny_llama import build_tiny_llama
from halo_core.testing.vllm_server import DEFAULT_TOOL_PARSER, VLLMServer
from tests.conftest import MAX_MODEL_LEN

N = 32
MODEL, TOOL_MODEL = "tiny-chat", "tool-caller"
#: Served model name -> ``halo_adapters.bind``'s mapping onto its session's engine.
MODELS = {MODEL: {MODEL: "tiny"}, TOOL_MODEL: {TOOL_MODEL: TOOL_MODEL}}
#: What the scripted model writes on every turn, one token per piece (pythonic tool calls).
SCRIPT = (
    "[",
    'calculator(expression="6*7"),',
    "order_invoice(order_id=1003),",
    "transfer_to_billing()",
    "]",
)

#: Each example with the model its test serves, the output-token cap and turn limit (short
#: conversations: the selector's prompt holds the whole chat and its retries, within the context).
EXAMPLES: dict[str, tuple[ModuleType, str, int, int]] = {
    "round_robin": (autogen_round_robin, MODEL, 32, 3),
    "selector": (autogen_selector, MODEL, 16, 2),
    "tools": (autogen_tools, TOOL_MODEL, 32, 2),
    "swarm": (autogen_swarm, TOOL_MODEL, 32, 2),
}

#: Agent messages per task: the turn limit for the random model's chats; for the tools example
#: the call, its results and the reflected answer (which ends the single-agent team); for the
#: swarm, triage's call, results and handoff, then billing's call, results and summary.
REPLIES = {"round_robin": 3, "selector": 2, "tools": 3, "swarm": 6}


@pytest.fixture(scope="module")
def tool_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scripted tiny model (``SCRIPT`` on every turn)."""
    return build_tiny_llama(tmp_path_factory.mktemp("models") / TOOL_MODEL, script=SCRIPT)


@pytest.fixture(scope="module")
def tool_server(tool_model: Path) -> Iterator[str]:
    """A stock ``vllm serve`` of the scripted model, like the ``vllm_server`` fixture."""
    server = VLLMServer(
        tool_model, served_name=TOOL_MODEL, max_model_len=MAX_MODEL_LEN, compact_json=True
    )
    with server as url:
        yield url


@pytest.fixture(scope="module")
def tool_session(tool_model: Path) -> Iterator[Session]:
    """An in-process engine of the scripted model, set up as the shared tiny engine is."""
    engine = EngineConfig(
        model=str(tool_model),
        max_model_len=MAX_MODEL_LEN,
        tool_call_parser=DEFAULT_TOOL_PARSER,
        compact_json=True,
    )
    with Session(SessionConfig(engines={TOOL_MODEL: engine})) as s:
        yield s


@pytest.fixture
def session_of(request: pytest.FixtureRequest) -> Callable[[str], Session]:
    """``session_of(name)``: the example's Halo session, reset, with the default optimizer."""

    def get(name: str) -> Session:
        if EXAMPLES[name][1] == MODEL:
            return request.getfixturevalue("halo")  # type: ignore[no-any-return]
        session: Session = request.getfixturevalue("tool_session")
        session.reset()
        optimizing = session.optimizing(OptimizerConfig())
        optimizing.__enter__()
        request.addfinalizer(lambda: optimizing.__exit__(None, None, None))
        return session

    return get


def batch(
    name: str, url: str, tasks: list[str], make_team: Callable[..., Any] | None = None
) -> list[TaskResult | BaseException]:
    """The example's own batch code over ``tasks`` with its client at ``url``."""
    module, model, max_tokens, max_turns = EXAMPLES[name]
    make = functools.partial(make_team or module.make_team, max_turns=max_turns)
    return asyncio.run(run_batch(make, tasks, model=model, base_url=url, max_tokens=max_tokens))


class _CountEvents(logging.Handler):
    """Counts AutoGen's own ``LLMCallEvent`` log records (one per model call it makes)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.llm_calls = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.llm_calls += isinstance(record.msg, LLMCallEvent)


@pytest.fixture(scope="module")
def reference(request: pytest.FixtureRequest) -> Callable[..., tuple[list[Any], int]]:
    """``reference(name, make_team=None)``: the example over ``make_inputs(N)`` against a server
    of its model (run once per name), and how many model calls AutoGen made."""
    cache: dict[tuple[str, Any], tuple[list[Any], int]] = {}
    logger = logging.getLogger(EVENT_LOGGER_NAME)
    servers = {MODEL: "vllm_server", TOOL_MODEL: "tool_server"}

    def get(name: str, make_team: Callable[..., Any] | None = None) -> tuple[list[Any], int]:
        if (name, make_team) not in cache:
            url = request.getfixturevalue(servers[EXAMPLES[name][1]])
            counter, saved = _CountEvents(), (logger.level, logger.propagate)
            logger.addHandler(counter)
            logger.setLevel(logging.INFO)
            logger.propagate = False  # AutoGen's event stream stays out of the test log
            try:
                results = batch(name, url, EXAMPLES[name][0].make_inputs(N), make_team)
            finally:
                logger.removeHandler(counter)
                logger.level, logger.propagate = saved
            cache[name, make_team] = (results, counter.llm_calls)
        return cache[name, make_team]

    return get


def messages_of(results: list[Any], kind: type) -> list[Any]:
    """Every message of type ``kind`` in ``results`` (all tasks, in order)."""
    return [m for r in results for m in r.messages if isinstance(m, kind)]


def tool_runs(results: list[Any]) -> int:
    """Tool calls that reached a tool: every execution result but AutoGen's own error for a
    tool the agent does not have."""
    return sum(
        not r.content.endswith("not found in any workbench")
        for m in messages_of(results, ToolCallExecutionEvent)
        for r in m.content
    )


def run_under_halo(
    name: str, session: Session, make_team: Callable[..., Any] | None = None
) -> list[Any]:
    """The same batch code as the reference, inside a binding on ``session``."""
    with halo_adapters.bind(session, models=MODELS[EXAMPLES[name][1]]):
        return batch(name, UNUSED_URL, EXAMPLES[name][0].make_inputs(N), make_team)


def assert_same(got: list[Any], expected: list[Any]) -> None:
    diffs = mismatches(got, expected)
    assert not diffs, f"{len(diffs)} of {N} tasks differ:\n" + "\n".join(
        d[:400] for d in list(diffs.values())[:5]
    )


@pytest.mark.engine
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_same_messages_under_halo_as_on_the_server(
    name: str, session_of: Callable[[str], Session], reference: Any
) -> None:
    expected, llm_calls = reference(name)
    assert all(isinstance(r, TaskResult) for r in expected)
    replies = [sum(m.source != "user" for m in r.messages) for r in expected]
    assert min(replies) >= 1 and max(replies) == REPLIES[name]  # conversations, not stubs
    halo = session_of(name)
    assert_same(run_under_halo(name, halo), expected)
    s = halo.graph.summary()
    assert s.llm_calls == llm_calls  # every model call (selector retries too) went through Halo
    assert s.tool_calls == tool_runs(expected)
    if name == "tools":  # 8 of its 32 questions are asked twice: their first calls merged
        assert s.llm_executed < s.llm_calls


@pytest.mark.engine
@pytest.mark.parametrize("name", ["tools", "swarm"])
def test_tool_calls_and_handoffs_come_from_the_engine(
    name: str, session_of: Callable[[str], Session], reference: Any
) -> None:
    """On the scripted model every task calls tools and gets real results (and the swarm hands
    off): the pure tools' identical calls ran once across all 32 teams."""
    expected, _ = reference(name)
    requests = messages_of(expected, ToolCallRequestEvent)
    assert len(requests) == N * (2 if name == "swarm" else 1)  # one per agent turn
    assert [c.name for c in requests[0].content] == [
        "calculator",
        "order_invoice",
        "transfer_to_billing",
    ]
    results = [r for m in messages_of(expected, ToolCallExecutionEvent) for r in m.content]
    ok = {r.name: r.content for r in results if not r.is_error}
    if name == "tools":  # the analyst has the calculator; the other two calls are unknown to it
        assert ok == {"calculator": "42"}
        assert all(isinstance(r.messages[-1], TextMessage) for r in expected)  # reflected
    else:  # triage hands off to billing, whose invoice tool answers
        assert ok == {
            "order_invoice": autogen_swarm.order_invoice(1003),
            "transfer_to_billing": "Transferred to billing, adopting the role of billing "
            "immediately.",
        }
        handoffs = messages_of(expected, HandoffMessage)
        assert len(handoffs) == N and {h.target for h in handoffs} == {"billing"}
    halo = session_of(name)
    assert_same(run_under_halo(name, halo), expected)
    s = halo.graph.summary()
    pure_runs = sum(not r.is_error and r.name != "transfer_to_billing" for r in results)
    handoffs = N if name == "swarm" else 0  # AutoGen's handoff tools: each agent's own, not pure
    assert pure_runs == N and s.tool_executed == 1 + handoffs  # one distinct pure call, merged


class _FaultyCalculatorTeams:
    """A tools-example team factory giving each team its own calculator (not declared pure, so
    never merged); the calculator of the team of task ``FAULTY`` raises. Teams are made in task
    order, ``N`` per run."""

    FAULTY = 3

    def __init__(self) -> None:
        self.made = 0

    def __call__(self, client: Any, *, max_turns: int) -> Any:
        index, self.made = self.made % N, self.made + 1

        def calculator(expression: str) -> str:
            """Evaluate arithmetic such as 3 * (14.5 + 2)."""
            if index == self.FAULTY:
                raise RuntimeError("calculator is down")
            return autogen_tools.calculator(expression)

        own = FunctionTool(calculator, description=calculator.__doc__ or "")
        tools = [autogen_tools.TOOLS[0], own]
        return autogen_tools.make_team(client, max_turns=max_turns, tools=tools)


@pytest.mark.engine
def test_a_raising_tool_reports_in_its_team_only(
    session_of: Callable[[str], Session], reference: Any
) -> None:
    """As AutoGen does without Halo, the raising tool's error goes back to that team's model as
    an error result; the team and all the others finish."""
    factory = _FaultyCalculatorTeams()
    expected, _ = reference("tools", factory)
    failed = [
        (i, res.content)
        for i, r in enumerate(expected)
        for m in r.messages
        if isinstance(m, ToolCallExecutionEvent)
        for res in m.content
        if res.is_error and res.name == "calculator"
    ]
    assert failed == [(factory.FAULTY, "calculator is down")]
    halo = session_of("tools")
    got = run_under_halo("tools", halo, factory)
    assert all(isinstance(r, TaskResult) for r in got)
    assert_same(got, expected)
    assert halo.graph.summary().tool_executed >= N  # one calculator per team: none merged


@pytest.mark.engine
def test_abatch_reports_the_same_results(
    session_of: Callable[[str], Session], reference: Any
) -> None:
    """``halo_adapters.autogen.abatch`` over a team factory: the same results, in task order."""
    import halo_adapters.autogen as halo_ag

    expected, llm_calls = reference("tools")
    module, model, max_tokens, max_turns = EXAMPLES["tools"]
    halo = session_of("tools")

    async def run() -> Any:
        client = model_client(model, UNUSED_URL, max_tokens)
        try:
            factory = functools.partial(module.make_team, client, max_turns=max_turns)
            tasks = module.make_inputs(N)
            return await halo_ag.abatch(factory, tasks, session=halo, models=MODELS[model])
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
    for module, *_ in EXAMPLES.values():
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
