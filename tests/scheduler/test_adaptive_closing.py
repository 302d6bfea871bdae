"""Adaptive batching (halo_core.scheduler.adaptive) on plain queue states, the load it reads
(halo_core.scheduler.load), and one run through the processor on the fake engine."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from halo_core import EngineConfig, OptimizerConfig, Session, SessionConfig
from halo_core.calls import ChatRequest, ChatResult, LLMCall
from halo_core.errors import ConfigError
from halo_core.optimizer import Epoch, Optimizer
from halo_core.scheduler import EpochScheduler, QueueState, SchedulerContext
from halo_core.scheduler.adaptive import adaptive_wait_s
from halo_core.scheduler.closing import CoalescingGain, EpochWindow, closing
from halo_core.scheduler.cost_model import StepCost
from halo_core.scheduler.critical_path import ToolTimeAhead
from halo_core.scheduler.load import Load

WINDOW = EpochWindow(window_s=0.02, max_s=0.25)


def _queue(
    waited_s: float = 0.05, in_flight: int = 8, backlog_s: float = 2.0, rate: float = 200.0
) -> QueueState:
    """Every live instance waits on Halo, as in online serving under load."""
    return QueueState(5, waited_s, 10, 10, in_flight, backlog_s, rate)


def _wait(queue: QueueState) -> float:
    return adaptive_wait_s(queue, CoalescingGain(), WINDOW)


def test_idle_engines_close_at_once() -> None:
    assert _wait(_queue(waited_s=0.0, in_flight=0, backlog_s=0.0)) == 0.0


def test_busy_engines_and_fast_arrivals_keep_the_epoch_open_up_to_the_ceiling() -> None:
    assert _wait(_queue(waited_s=0.05)) == pytest.approx(0.20)  # past epoch_window_s = 0.02
    assert _wait(_queue(waited_s=0.25)) <= 0.0


def test_the_wait_ends_where_the_backlog_or_the_arrivals_run_out() -> None:
    assert _wait(_queue(waited_s=0.05, backlog_s=0.04)) == 0.0  # the backlog drained
    # 0.2 s of backlog ahead, 10 ms waited: open until the wait meets the shrinking backlog
    assert _wait(_queue(waited_s=0.01, backlog_s=0.2)) == pytest.approx(0.095)
    # 20 calls/s: a call is due every 50 ms, so with 0.06 s left one more is still expected ...
    assert _wait(_queue(waited_s=0.01, backlog_s=0.06, rate=20.0)) == pytest.approx(0.01)
    # ... with 0.04 s left, none is: waiting buys nothing
    assert _wait(_queue(waited_s=0.01, backlog_s=0.04, rate=20.0)) == 0.0
    assert _wait(_queue(rate=0.0)) == 0.0


def _prepared(epoch: Epoch) -> None:
    """The test calls come with their prompts: nothing to prepare."""


def _scheduler(closing: str) -> EpochScheduler:
    optimizer = OptimizerConfig(epoch_closing=closing)
    config = SessionConfig(engines={"m": EngineConfig(model="x")}, optimizer=optimizer)
    ctx = SchedulerContext(config, Optimizer(optimizer, {"m": 16}), ToolTimeAhead(), _prepared)
    return EpochScheduler(ctx)


def test_the_scheduler_waits_past_its_window_only_under_adaptive() -> None:
    q = _queue(waited_s=0.05)
    assert _scheduler("window").wait_s(q) == 0.0  # every live instance waits on Halo
    assert _scheduler("adaptive").wait_s(q) == pytest.approx(0.20)


def test_an_unknown_closing_names_adaptive_among_the_registered() -> None:
    with pytest.raises(ConfigError, match=r"'adaptive', 'cost', 'window'"):
        closing("soon")


def _call(call_id: int, prompt_tokens: int = 10, max_tokens: int = 100) -> LLMCall:
    request = ChatRequest([{"role": "user", "content": "q"}], {"max_tokens": max_tokens})
    return LLMCall(call_id, "m", request, False, prompt_token_ids=[1] * prompt_tokens)


def test_the_backlog_follows_the_cost_model_and_the_requests_in_flight() -> None:
    load = Load({"m": StepCost(c0=0.01, prefill=0.0, decode=0.0, context=0.0)}, {"m": 1}, 256)
    assert load.backlog_s(0.0) == 0.0
    load.dispatched(1, _call(1), now=0.0)  # a prefill step and 100 decode steps of 10 ms
    assert load.backlog_s(0.5) == pytest.approx(0.51)
    load.dispatched(2, _call(2), now=0.5)  # 2 in flight, 1 at a time: twice as long
    assert load.backlog_s(0.5) == pytest.approx(2.02)
    load.finished(1, "m", ChatResult("", 10, 20, 0, "stop"), now=1.0)
    load.finished(2, "m", ChatResult("", 10, 20, 0, "stop"), now=1.2)
    assert load.backlog_s(1.2) == 0.0  # nothing in flight: free, whatever was predicted
    load.dispatched(3, _call(3), now=2.0)  # now 20 output tokens are expected, not 100
    assert load.backlog_s(2.0) == pytest.approx(0.21)


def test_without_a_cost_model_the_backlog_follows_measured_durations() -> None:
    load = Load({}, {"m": 4}, 256)
    load.dispatched(1, _call(1), now=0.0)
    assert load.backlog_s(0.0) == 0.0  # nothing measured yet
    load.finished(1, "m", ChatResult("", 10, 20, 0, "stop"), now=0.3)
    load.dispatched(2, _call(2), now=1.0)
    assert load.backlog_s(1.1) == pytest.approx(0.2)


def test_the_arrival_rate_follows_the_gaps_and_the_silence_since() -> None:
    load = Load({}, {"m": 4}, 256)
    load.arrived(0.0)
    assert load.arrival_rate(0.0) == 0.0
    for t in (0.01, 0.02, 0.03):
        load.arrived(t)
    assert load.arrival_rate(0.03) == pytest.approx(100.0)
    assert load.arrival_rate(1.03) == pytest.approx(1.0)


@pytest.mark.timeout(30)
def test_a_lone_call_is_not_delayed_by_the_window(fake_session: Callable[..., Session]) -> None:
    optimizer = OptimizerConfig(epoch_closing="adaptive", max_epoch_window_s=3600)
    s = fake_session(epoch_window_s=3600, optimizer=optimizer)
    release = threading.Event()

    def wf(i: int) -> str:
        if i == 0:  # live, busy outside Halo: every epoch would sit out the window
            release.wait()
            return ""
        out = [s.chat([{"role": "user", "content": f"q{k}"}]).text for k in range(3)]
        release.set()
        return out[-1]

    assert s.map(wf, range(2), progress=False) == ["", "len=2"]
    waits = [r.dispatched_s - r.submitted_s for r in s.graph if r.kind == "llm"]
    assert len(waits) == 3 and max(waits) < 5.0  # the engine was idle: each call went at once
