"""Epoch and tool logic of the processor, on a fake engine (scheduling logic only: the proof that
the features work on vLLM lives in test_engine_*.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

import halo_core
from halo_core import OptimizerConfig, Session, ToolCallError
from halo_core.testing.fake_engine import FakeEngine


def _msg(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.mark.timeout(30)
def test_epoch_closes_once_every_live_instance_waits(fake_session: Callable[..., Session]) -> None:
    s = fake_session(epoch_window_s=3600)  # only the "all waiting" rule can close this epoch
    results = s.map(lambda i: s.chat(_msg(f"q{i}")).text, range(8), progress=False)
    assert results == [f"len={len(f'q{i}')}" for i in range(8)]
    assert {r.epoch for r in s.graph} == {1}


@pytest.mark.timeout(30)
def test_an_instance_blocked_outside_halo_does_not_stall_the_rest(
    fake_session: Callable[..., Session],
) -> None:
    s = fake_session(epoch_window_s=0.05)
    others_done = threading.Barrier(8)

    def wf(i: int) -> str:
        if i == 0:
            others_done.wait()  # blocked on something that is not Halo until the rest finished
        out = s.chat(_msg(f"q{i}")).text
        if i:
            others_done.wait()
        return out

    assert len(s.map(wf, range(8), progress=False)) == 8


@pytest.mark.timeout(30)
def test_epoch_closes_at_the_size_cap(fake_session: Callable[..., Session]) -> None:
    s = fake_session(epoch_window_s=3600, epoch_max_calls=4)
    threads = [threading.Thread(target=s.chat, args=(_msg(f"q{i}"),)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    epochs = [r.epoch for r in s.graph]
    assert sorted(epochs) == [1, 1, 1, 1, 2, 2, 2, 2]


def test_only_pure_tools_merge_and_copies_are_independent(
    fake_session: Callable[..., Session],
) -> None:
    s = fake_session()
    runs = {"pure": 0, "impure": 0}
    lock = threading.Lock()

    def lookup(kind: str) -> dict[str, list[int]]:
        with lock:
            runs[kind] += 1
        return {"rows": [1, 2, 3]}

    def wf(i: int) -> dict[str, list[int]]:
        s.tool(lookup, "impure")
        rows = s.tool(lookup, "pure", pure=True)
        rows["rows"].append(i)  # mutating my copy must not touch anyone else's
        return rows

    results = s.map(wf, range(16), progress=False)
    assert runs == {"pure": 1, "impure": 16}
    assert [r["rows"] for r in results] == [[1, 2, 3, i] for i in range(16)]


def test_a_function_declared_pure_merges_unless_the_call_says_otherwise(
    fake_session: Callable[..., Session],
) -> None:
    s = fake_session()
    runs: list[str] = []

    @halo_core.pure
    def lookup(kind: str) -> str:
        runs.append(kind)
        return kind.upper()

    def wf(i: int) -> tuple[str, str]:
        return s.tool(lookup, "declared"), s.tool(lookup, "overridden", pure=False)

    assert s.map(wf, range(8), progress=False) == [("DECLARED", "OVERRIDDEN")] * 8
    assert sorted(runs) == ["declared"] + ["overridden"] * 8


def test_a_failing_tool_fails_only_its_instance(fake_session: Callable[..., Session]) -> None:
    s = fake_session()

    def flaky(i: int) -> int:
        if i == 3:
            raise RuntimeError("database is down")
        return i

    results = s.map(lambda i: s.tool(flaky, i, node="db"), range(8), progress=False)
    assert isinstance(results[3], ToolCallError)
    assert "instance 3" in str(results[3]) and "'db'" in str(results[3])
    assert "database is down" in str(results[3])
    assert [r for i, r in enumerate(results) if i != 3] == [0, 1, 2, 4, 5, 6, 7]


@pytest.mark.parametrize("wait", [True, False])
def test_followers_go_behind_their_leader(fake_session: Callable[..., Session], wait: bool) -> None:
    s = fake_session(wait_for_leader_prefill=wait, epoch_window_s=3600)
    shared = "a long shared system prompt " * 3
    results = s.map(lambda i: s.chat(_msg(f"{shared}{i}")).text, range(6), progress=False)
    assert len(results) == 6
    leaders = [r for r in s.graph if r.leader]
    assert len(leaders) == 1
    engine: FakeEngine = s.engines["m"]  # type: ignore[assignment]
    submits = [rid for kind, rid in engine.events if kind == "submit"]
    assert submits[0] == str(leaders[0].call_id)  # the leader is sent first
    if wait:  # and with wait_for_leader_prefill, every follower only after its prefill
        first = engine.events.index(("first", str(leaders[0].call_id)))
        assert all(e[0] == "first" or i > first for i, e in enumerate(engine.events[1:], 1))


def test_a_run_report_counts_only_its_own_calls(fake_session: Callable[..., Session]) -> None:
    s = fake_session()
    first = s.run(lambda i: s.chat(_msg(f"q{i}")).text, range(4), progress=False)
    second = s.run(lambda i: s.chat(_msg(f"r{i}")).text, range(3), progress=False)
    assert (first.summary.llm_calls, second.summary.llm_calls) == (4, 3)
    assert s.graph.summary().llm_calls == 7


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["batch", "abatch"])
def test_thousands_of_langgraph_instances_are_live_at_once(
    fake_session: Callable[..., Session], mode: str
) -> None:
    """Sync and async alike: under ``abatch`` LangGraph runs the sync node in the loop's
    default executor, which Halo widens to one thread per instance (asyncio's default six
    threads on two cores would leave all but six instances queued, and this epoch open)."""
    import asyncio

    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.outputs import ChatResult as LCChatResult
    from langgraph.graph import END, START, StateGraph
    from typing_extensions import TypedDict

    import halo_adapters.langgraph as halo_lg

    class NeverCalled(BaseChatModel):
        @property
        def _llm_type(self) -> str:
            return "never"

        def _generate(self, *a: Any, **k: Any) -> LCChatResult:
            raise AssertionError("the model's own code ran: the call slipped past Halo")

    class State(TypedDict, total=False):
        q: str
        a: str

    model = NeverCalled()
    builder = StateGraph(State)
    builder.add_node("ask", lambda st: {"a": model.invoke(st["q"]).content})
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    graph = builder.compile()
    # only "every live instance waits" can close an epoch; every instance live at once
    s = fake_session(epoch_window_s=3600, epoch_max_calls=4096, max_live_instances=None)
    n = 2000
    inputs = [{"q": f"q{i % 50}"} for i in range(n)]
    if mode == "batch":
        report = halo_lg.batch(graph, inputs, session=s)
    else:
        report = asyncio.run(halo_lg.abatch(graph, inputs, session=s))
    assert report.failed == 0
    assert [r["a"] for r in report.results] == [f"len={len(f'q{i % 50}')}" for i in range(n)]
    assert report.summary.epochs == 1  # all 2,000 instances were live and waiting together
    assert report.summary.llm_executed == 50  # identical questions ran once


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["run", "arun"])
def test_instances_queued_behind_the_admission_cap_do_not_hold_epochs_open(
    fake_session: Callable[..., Session], mode: str
) -> None:
    """With ``max_live_instances`` = 100, an instance waiting for a slot is not live: the epoch
    closes once the running ones all wait (no window to fall back on), and later instances'
    identical calls are served by the memo."""
    import asyncio

    s = fake_session(epoch_window_s=3600, epoch_max_calls=4096, max_live_instances=100)
    n = 1000

    def ask(i: int) -> str:
        return s.chat(_msg(f"q{i % 50}")).text

    async def aask(i: int) -> str:
        return (await s.achat(_msg(f"q{i % 50}"))).text

    report = s.run(ask, range(n)) if mode == "run" else asyncio.run(s.arun(aask, range(n)))
    assert report.results == [f"len={len(f'q{i % 50}')}" for i in range(n)]
    # the first 100 instances ask all 50 questions in one epoch; the rest get memoized answers
    assert report.summary.llm_executed == 50 and report.summary.epochs == 1


def test_auto_admission_keeps_four_live_instances_per_engine_sequence() -> None:
    from halo_core import EngineConfig, SessionConfig
    from halo_core.config import LIVE_PER_SEQUENCE

    engines = {k: EngineConfig(model="m", max_num_seqs=s) for k, s in (("a", 8), ("b", 4))}
    auto = SessionConfig(engines=engines)
    assert auto.live_width(1000) == LIVE_PER_SEQUENCE * 12 == 48
    assert auto.live_width(10) == 10  # never more than the inputs
    assert auto.live_width(1000, max_concurrency=5) == 5  # the call's own cap wins
    assert SessionConfig(engines=engines, max_live_instances=None).live_width(1000) == 1000
    assert SessionConfig(engines=engines, max_live_instances=7).live_width(1000) == 7


@pytest.mark.timeout(30)
def test_instances_a_framework_starts_itself_coalesce(fake_session: Callable[..., Session]) -> None:
    """``Session.instance()`` (what an adapter wraps around e.g. each ``team.run`` of an
    ``asyncio.gather``): every such instance is live, so one epoch takes all their calls."""
    import asyncio

    from halo_core.spi import current_instance

    s = fake_session(epoch_window_s=3600)  # only "every live instance waits" closes the epoch

    async def one(i: int) -> str:
        with s.instance() as inst:
            await asyncio.sleep(0.01 * (i % 3))
            out = await s.achat(_msg(f"q{i}"))
            assert current_instance() is inst
            return out.text

    async def gather() -> list[str]:
        return list(await asyncio.gather(*(one(i) for i in range(20))))

    assert asyncio.run(gather()) == [f"len={len(f'q{i}')}" for i in range(20)]
    assert {r.epoch for r in s.graph} == {1}
    assert len({r.instance for r in s.graph}) == 20


def test_the_engines_turn_policy_follows_the_optimizer(
    fake_session: Callable[..., Session],
) -> None:
    s = fake_session(optimizer=OptimizerConfig(engine_turns="drain"))
    engine = s.engines["m"]
    assert engine.turns == "drain"
    with s.optimizing(OptimizerConfig(engine_turns="step")):
        assert engine.turns == "step"
    assert engine.turns == "drain"
    s.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("closing", ["window", "cost"])
def test_cost_closing_stops_waiting_for_calls_that_never_merge(
    fake_session: Callable[..., Session], closing: str
) -> None:
    from halo_core.scheduler.cost_model import StepCost

    optimizer = OptimizerConfig(epoch_closing=closing)  # type: ignore[arg-type]
    s = fake_session(epoch_window_s=0.5, optimizer=optimizer)
    s.calibrated["m"] = StepCost(c0=0.005, prefill=1e-4, decode=1e-4, context=0.0)
    release = threading.Event()

    def wf(i: int) -> str:
        if i == 0:  # live, busy outside Halo: only the window (or the cost rule) closes epochs
            release.wait()
            return ""
        out = [s.chat(_msg(f"distinct {k}")).text for k in range(4)]
        release.set()
        return out[-1]

    s.map(wf, range(2), progress=False)
    waits = [r.dispatched_s - r.submitted_s for r in s.graph if r.kind == "llm"]
    assert len(waits) == 4
    if closing == "window":  # every call sat out the window
        assert min(waits) >= 0.4
    else:  # the first epoch teaches that nothing merges; later calls go at once
        assert waits[0] >= 0.4 and max(waits[1:]) < 0.25
