"""Critical-path priority as plain data: what is learned from finished instances, and the
priorities the epoch scheduler gives an epoch's requests (no threads, no engine)."""

from __future__ import annotations

import dataclasses

import pytest

from halo_core.config import EngineConfig, OptimizerConfig, SessionConfig
from halo_core.graph import CallRecord
from halo_core.optimizer import Optimizer
from halo_core.scheduler.base import SchedulerContext
from halo_core.scheduler.critical_path import ToolTimeAhead
from halo_core.scheduler.epoch import EpochScheduler
from tests.optimizer.calls import call


def _llm(call_id: int, node: str, done: float) -> CallRecord:
    return CallRecord(call_id, "llm", 0, node, submitted_s=done - 0.1, finished_s=done)


def _tool(call_id: int, start: float, end: float) -> CallRecord:
    return CallRecord(call_id, "tool", 0, "t", submitted_s=start, finished_s=end)


def test_tool_time_ahead_of_each_node_is_learned_from_finished_instances() -> None:
    ahead = ToolTimeAhead(alpha=0.5)
    # plan -> tool (1 s) -> act -> two parallel tools (2 s, overlapping) -> answer
    ahead.learn(
        [
            _llm(0, "plan", 1.0),
            _tool(1, 1.0, 2.0),
            _llm(2, "act", 2.5),
            _tool(3, 2.5, 4.5),
            _tool(4, 3.0, 4.0),
            _llm(5, "answer", 5.0),
        ]
    )
    assert ahead.ahead_s == pytest.approx({"plan": 3.0, "act": 2.0, "answer": 0.0})
    # an instance that skipped the tools after "plan" (another branch): the average moves
    ahead.learn([_llm(0, "plan", 1.0), _llm(1, "answer", 1.5)])
    assert ahead.ahead_s["plan"] == pytest.approx(1.5)
    assert ahead.priority(["plan"]) == -1500 and ahead.priority(["answer", "act"]) == -2000
    assert ahead.priority(["never seen"]) == 0 and ahead.priority([]) == 0


def test_the_epoch_scheduler_sets_priorities_only_with_critical_path_on() -> None:
    ahead = ToolTimeAhead(ahead_s={"plan": 2.0, "answer": 0.25})
    config = SessionConfig(
        engines={"m": EngineConfig(model="m", scheduling_policy="priority")},
        optimizer=OptimizerConfig(critical_path=True),
    )
    optimizer = Optimizer(config.optimizer, {"m": 4})
    scheduler = EpochScheduler(SchedulerContext(config, optimizer, ahead, lambda epoch: None))
    calls = [
        dataclasses.replace(call([1, 2, 3, 4, 5], msg="a"), node="answer"),
        dataclasses.replace(call([9, 9, 9, 9, 9], msg="p"), node="plan"),
    ]
    plan = scheduler.schedule(calls)
    assert {r.rep.node: r.priority for r in plan.requests} == {"answer": -250, "plan": -2000}
    optimizer.configure(OptimizerConfig())
    assert all(r.priority == 0 for r in scheduler.schedule(calls).requests)


def test_critical_path_needs_priority_scheduling_engines() -> None:
    with pytest.raises(ValueError, match=r"engines \['a'\].*scheduling_policy='priority'"):
        SessionConfig(
            engines={
                "a": EngineConfig(model="m"),
                "b": EngineConfig(model="m", scheduling_policy="priority"),
            },
            optimizer=OptimizerConfig(critical_path=True),
        )
