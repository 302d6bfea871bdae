"""Epoch closing by predicted gain (halo_core.scheduler.closing) and the epoch scheduler's use
of it: plain data in, a wait time out."""

from __future__ import annotations

import pytest

from halo_core import EngineConfig, OptimizerConfig, SessionConfig
from halo_core.optimizer import Epoch, Optimizer
from halo_core.scheduler import EpochScheduler, QueueState, SchedulerContext
from halo_core.scheduler.closing import CoalescingGain, pays_to_wait
from halo_core.scheduler.critical_path import ToolTimeAhead


def _prepared(epoch: Epoch) -> None:
    """The test calls come with their prompts: nothing to prepare."""


def _queue(pending: int = 10, waited_s: float = 0.005, in_flight: int = 0) -> QueueState:
    return QueueState(pending, waited_s, live=100, blocked=50, in_flight=in_flight)


def test_gain_is_unknown_until_an_epoch_and_a_request_were_seen() -> None:
    gain = CoalescingGain()
    assert gain.rate(_queue()) is None and pays_to_wait(_queue(), None)
    gain.epoch(calls=10, requests=5)
    assert gain.rate(_queue()) is None
    gain.executed(0.02)
    # 10 calls in 5 ms = 2,000 calls/s, half of them merge, each saving 20 ms: 20 s/s
    assert gain.rate(_queue()) == pytest.approx(20.0)


def test_the_moving_averages_follow_new_observations() -> None:
    gain = CoalescingGain()
    gain.epoch(10, 10)
    for _ in range(30):
        gain.epoch(10, 5)
    assert gain.merged == pytest.approx(0.5, abs=0.01)
    gain.epoch(0, 0)  # an empty epoch teaches nothing
    assert gain.merged == pytest.approx(0.5, abs=0.01)


def test_idle_engines_wait_only_for_a_gain_above_one_second_per_second() -> None:
    assert pays_to_wait(_queue(in_flight=0), 1.5)
    assert not pays_to_wait(_queue(in_flight=0), 0.5)
    assert pays_to_wait(_queue(in_flight=3), 0.01)  # busy engines lose nothing by the wait
    assert not pays_to_wait(_queue(in_flight=3), 0.0)  # but nothing merges: no reason to wait


def _scheduler(closing: str) -> EpochScheduler:
    optimizer = OptimizerConfig(epoch_closing=closing)  # type: ignore[arg-type]
    config = SessionConfig(engines={"m": EngineConfig(model="x")}, optimizer=optimizer)
    ctx = SchedulerContext(config, Optimizer(optimizer, {"m": 16}), ToolTimeAhead(), _prepared)
    return EpochScheduler(ctx)


def test_cost_closing_closes_at_once_when_nothing_merges() -> None:
    window, cost = _scheduler("window"), _scheduler("cost")
    for s in (window, cost):
        s.gain.epoch(10, 10)  # distinct calls: nothing merged
        s.gain.executed(0.05)
    q = _queue(waited_s=0.002)
    assert window.wait_s(q) == pytest.approx(0.018)
    assert cost.wait_s(q) == 0.0
    cost.gain.merged = 0.5  # now half of the calls merge: 5,000 calls/s x 0.5 x 50 ms
    assert cost.wait_s(q) == pytest.approx(0.018)
