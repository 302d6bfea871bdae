"""The benchmark's engine-only oracle: stages of a run's calls (no engine) and its replay."""

from __future__ import annotations

from typing import Literal

import pytest

from benchmarks.oracle import Recording, longest_tool_chain_s, replay, stages
from halo_core import CallRecord, HaloError, Session
from tests.test_engine_session import REVIEWS, three_calls


def _rec(
    call_id: int, kind: Literal["llm", "tool"], parent: int | None, merged_into: int | None = None
) -> CallRecord:
    return CallRecord(call_id, kind, 0, "n", parent=parent, merged_into=merged_into, dispatched_s=0)


def test_the_longest_tool_chain_unions_an_instances_tool_runs() -> None:
    def tool(call_id: int, instance: int, start: float, stop: float, **kw: object) -> CallRecord:
        return CallRecord(call_id, "tool", instance, "t", dispatched_s=start, finished_s=stop, **kw)

    records = [
        tool(1, 0, 0.0, 2.0),
        tool(2, 0, 1.0, 3.0),  # overlaps the first (a fan-out): 0..3 counts once
        tool(3, 0, 5.0, 6.0),  # later in the chain: 4 s for instance 0
        tool(4, 1, 0.0, 3.5),
        tool(5, 1, 10.0, 10.0, merged_into=3),  # waited on call 3's run: 3.5 + 1 for instance 1
        CallRecord(6, "llm", 1, "m", dispatched_s=0.0, finished_s=50.0),  # not a tool
    ]
    assert longest_tool_chain_s(records) == pytest.approx(4.5)
    assert longest_tool_chain_s([]) == 0.0


def test_stages_follow_parents_whatever_their_ids() -> None:
    # parallel branches number and record calls in different orders: parents may have higher ids
    records = [
        _rec(9, "llm", None),
        _rec(4, "tool", 9),
        _rec(3, "llm", 4),  # after the tool after LLM 9: stage 1
        _rec(2, "llm", 3),  # stage 2
        _rec(1, "llm", 3, merged_into=2),  # served by a merge: not replayed
    ]
    by_stage = stages(records)
    assert {k: [r.call_id for r in v] for k, v in by_stage.items()} == {0: [9], 1: [3], 2: [2]}


@pytest.mark.engine
def test_oracle_replays_the_executed_calls_stage_by_stage(halo: Session) -> None:
    recording = Recording()
    with halo.observe(recording):
        report = halo.run(lambda r: three_calls(halo, r), REVIEWS, progress=False)
    by_stage = stages(report.records)
    assert sorted(by_stage) == [0, 1, 2]  # sentiment -> issue -> summary
    assert sum(map(len, by_stage.values())) == report.summary.llm_executed
    oracle = replay(halo.engines, report.records, recording)
    assert oracle.calls == report.summary.llm_executed == oracle.engine["tiny"].requests
    assert len(oracle.stage_s) == 3 and oracle.wall_s >= sum(oracle.stage_s) * 0.99
    executed = [r for r in report.records if r.kind == "llm" and r.executed]
    assert all(len(recording[r.call_id].output_ids) == r.output_tokens > 0 for r in executed)
    # batch variance is named (call ids), not assumed away
    assert set(oracle.changed) <= {r.call_id for r in executed}
    summaries = by_stage[2]  # identical (sentiment, issue) pairs share one summary call
    assert len(summaries) < len(REVIEWS)
    for rec in summaries:
        fed = report.consumers([rec.call_id])
        same = [j for j, r in enumerate(report.results) if r[:2] == report.results[fed[0]][:2]]
        assert fed == same
    assert report.consumers(r.call_id for r in summaries) == list(range(len(REVIEWS)))
    halo.reset()  # else the memo serves every call and nothing executes
    plain = halo.run(lambda r: three_calls(halo, r), REVIEWS[:2], progress=False)
    with pytest.raises(HaloError, match=r"observe\(recording\)"):
        replay(halo.engines, plain.records, recording)
