"""What a long-lived session keeps stays bounded: the memo's results, the graph's records, the
warm prefixes and the per-name averages (configured bounds), and nothing keyed by a call or an
instance outlives it (fake engine, no model)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

from halo_core import LLMCallError, Session
from halo_core.graph import CallRecord, ConsolidatedGraph
from halo_core.lru import NAMED_MAX
from halo_core.optimizer import Epoch, Served
from halo_core.optimizer.memo import Memo
from halo_core.optimizer.prefix_groups import PrefixGroups
from halo_core.plan.dag import Plan
from halo_core.scheduler.cost_model import ToolLatency
from tests.optimizer.calls import call


def _msg(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _double(i: int) -> int:
    return 2 * i


_HELD = (
    "pending",
    "works",
    "live",
    "outstanding",
    "blocked",
    "memo in flight",
    "warming",
    "records in flight",
)


def _held(s: Session) -> dict[str, int]:
    """Sizes of the session's state that is keyed by a call or an instance, once its loop
    handled what was handed to it (instances end there after their results came back)."""
    p = s._processor
    asyncio.run_coroutine_threadsafe(p._call(lambda: None), p._loop).result()
    memo, prefix = p.optimizer.rules["memo"], p.optimizer.rules["prefix_groups"]
    return {
        "pending": len(p._pending),
        "works": len(p._works),
        "live": len(p._instances.live),
        "outstanding": len(p._instances._outstanding),
        "blocked": p._instances.blocked,
        "memo in flight": len(memo._inflight) + len(memo._keys),  # type: ignore[attr-defined]
        "warming": len(prefix.warming),  # type: ignore[attr-defined]
        "records in flight": sum(r.finished_s is None for r in s.graph),
    }


@pytest.mark.timeout(120)
def test_thousands_of_calls_leave_bounded_state(fake_session: Callable[..., Session]) -> None:
    s = fake_session(memo_max_entries=100, graph_max_records=500, prefix_warm_max_blocks=64)
    n = 2500

    def wf(i: int) -> tuple[str, int]:
        return s.chat(_msg(f"question {i}")).text, s.tool(_double, i, pure=True)

    results = s.map(wf, range(n), max_concurrency=32, progress=False)
    assert results == [(f"len={len(f'question {i}')}", 2 * i) for i in range(n)]
    memo = s._processor.optimizer.rules["memo"]
    assert len(memo._done) == 100  # type: ignore[attr-defined]
    assert len(s.graph) == 500
    assert len(s.graph._last_of_instance) <= 500
    assert len(s._processor.optimizer.rules["prefix_groups"].warm) <= 64  # type: ignore[attr-defined]
    assert _held(s) == dict.fromkeys(_HELD, 0)
    assert s.graph.next_call_id() == 2 * n
    assert s.graph.summary().llm_calls + s.graph.summary().tool_calls == 500
    # the newest results are still served from the memo, the oldest run again
    merged = []
    for i in (n - 1, 0):  # one after the other: the graph's last record is this call's
        assert s.map(lambda i: s.tool(_double, i, pure=True), [i], progress=False) == [2 * i]
        merged.append(list(s.graph)[-1].merged_into is not None)
    assert merged == [True, False]


def test_a_memo_hit_keeps_its_entry() -> None:
    memo = Memo(max_entries=2)
    a, b, c = call([1], msg="a"), call([2], msg="b"), call([3], msg="c")
    for x in (a, b):
        memo.scheduled(x)
        memo.finished(x, x.request.messages[0]["content"])
    assert memo.admit(call([1], msg="a")) == Served(a.call_id, "a")  # a is now the newest
    memo.scheduled(c)
    memo.finished(c, "c")
    assert memo.admit(call([2], msg="b")) is None  # the least recently used went
    assert memo.admit(call([1], msg="a")) == Served(a.call_id, "a")
    assert memo.admit(call([3], msg="c")) == Served(c.call_id, "c")


def test_warm_prefixes_keep_the_newest_blocks() -> None:
    rule = PrefixGroups({"m": 4}, warm_max_blocks=8)
    leaders = []
    for k in range(10):
        shared = [100 * k + t for t in range(8)]  # two blocks of their own per epoch
        epoch = Epoch.of(k, [call(shared + [1], msg=f"{k}a"), call(shared + [2], msg=f"{k}b")])
        rule.rewrite(epoch)
        leaders.append(next(r for r in epoch.requests if r.leader))
        rule.prefilled(leaders[-1])
    assert len(rule.warm) == 8
    assert all(h in rule.warm for h in leaders[-1].block_hashes)
    assert not any(h in rule.warm for h in leaders[0].block_hashes)


def test_per_tool_averages_are_bounded() -> None:
    latency = ToolLatency()
    for i in range(NAMED_MAX + 10):
        latency.observe(f"functools.partial(tool, {i})", 0.1)  # a tool named by its repr
    assert len(latency.mean_s) == len(latency.runs) == NAMED_MAX
    assert list(latency.mean_s) == list(latency.runs)
    assert latency.predict(f"functools.partial(tool, {NAMED_MAX + 9})") == 0.1


def _rec(call_id: int, instance: int | None = 0, *, done: bool = True) -> CallRecord:
    return CallRecord(call_id, "llm", instance, "n", finished_s=1.0 if done else None)


def test_the_graph_drops_the_oldest_finished_records_never_one_in_flight() -> None:
    g = ConsolidatedGraph(max_records=3)
    g.add(_rec(0, done=False))
    for i in range(1, 10):
        g.add(_rec(i))
    assert list(g.records) == [0, 8, 9]
    assert g.newest_dropped == 7 and g.next_call_id() == 10
    g.records[0].finished_s = 2.0
    g.add(_rec(10))
    assert list(g.records) == [8, 9, 10]
    g.clear()
    assert g.next_call_id() == 11  # call ids keep counting: a later `since` still holds


def test_readers_of_the_graph_survive_dropped_parents() -> None:
    g = ConsolidatedGraph(max_records=4)
    for i in range(6):
        g.add(_rec(i, instance=i % 2))
    assert [r.call_id for r in g.of_instance(0)] == [2, 4]  # its first call is gone
    assert [r.call_id for r in g.of_instance(1)] == [3, 5]
    assert g.summary(since=3).llm_calls == 3
    g.add(_rec(6, instance=2))
    g.add(_rec(7, instance=2))
    assert g.of_instance(0) == [g.records[4]]
    g.add(_rec(8, instance=2))  # drops 4, instance 0's newest call
    assert g.of_instance(0) == [] and 0 not in g._last_of_instance
    plan = Plan.from_records(g)
    assert sum(n.stats.calls for n in plan.nodes) == 4


@pytest.mark.timeout(60)
def test_a_call_in_flight_keeps_its_record_in_a_running_session(
    fake_session: Callable[..., Session],
) -> None:
    s = fake_session(graph_max_records=10)
    release = threading.Event()
    slow: list[Any] = []
    t = threading.Thread(target=lambda: slow.append(s.tool(release.wait, 30, node="slow")))
    t.start()
    try:
        while not any(r.node == "slow" for r in s.graph):
            release.wait(0.01)
        (slow_id,) = [r.call_id for r in s.graph if r.node == "slow"]
        results = s.map(lambda i: s.chat(_msg(f"q{i}")).text, range(50), progress=False)
        assert results == [f"len={len(f'q{i}')}" for i in range(50)]
        s.chat(_msg("one more"))  # a new record drops the finished ones past the bound
        assert slow_id in s.graph.records and len(s.graph) == 10
    finally:
        release.set()
        t.join()
    assert slow == [True] and s.graph.records[slow_id].finished_s is not None
    s.chat(_msg("one more"))
    assert slow_id not in s.graph.records and len(s.graph) == 10


def test_a_report_warns_when_its_calls_were_dropped(
    fake_session: Callable[..., Session], caplog: pytest.LogCaptureFixture
) -> None:
    s = fake_session(graph_max_records=5)
    with caplog.at_level(logging.WARNING, logger="halo"):
        report = s.run(
            lambda i: s.chat(_msg(f"q{i}")).text, range(8), max_concurrency=1, progress=False
        )
    assert report.summary.llm_calls == len(report.records) == 5
    assert "dropped calls of this run" in caplog.text


@pytest.mark.timeout(30)
def test_a_failed_epoch_releases_what_its_calls_held(
    fake_session: Callable[..., Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    s = fake_session()
    p = s._processor
    dispatch = p._dispatch

    def broken(r: Any) -> None:
        raise RuntimeError("scheduler bug")

    monkeypatch.setattr(p, "_dispatch", broken)  # after the memo registered the execution
    with pytest.raises(LLMCallError, match="scheduler bug"):
        s.chat(_msg("same"))
    assert _held(s) == dict.fromkeys(_HELD, 0)
    assert [r.error for r in s.graph] == ["RuntimeError: scheduler bug"]
    monkeypatch.setattr(p, "_dispatch", dispatch)
    assert s.chat(_msg("same")).text == "len=4"  # runs: it does not join the failed execution


def test_totals_count_every_call_though_records_are_dropped(
    fake_session: Callable[..., Session],
) -> None:
    s = fake_session(graph_max_records=50)
    n = 400
    s.map(lambda i: s.chat(_msg(f"q{i % 100}")).text, range(n), max_concurrency=16, progress=False)
    totals = s.totals()
    assert len(s.graph) <= 50 + 16
    assert totals.llm.calls == n and totals.llm.executed == 100  # identical questions ran once
    assert totals.llm.merged == n - 100 and totals.tool.calls == 0
    assert 100 <= totals.epoch_sizes.total_calls <= n  # those the memo did not answer first
    assert totals.epoch_sizes.cumulative()[-1] == (float("inf"), sum(totals.epoch_sizes.counts))
