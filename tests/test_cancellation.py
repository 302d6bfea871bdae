"""A caller that gives up cancels its call; an engine request nobody waits for is aborted. The
processor's side on a fake engine; one real-engine test proves the engine stops the request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from halo_core import OptimizerConfig, Session
from halo_core.testing.fake_engine import FakeEngine
from tests.waiting import held, until


def _msg(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _engine(s: Session) -> FakeEngine:
    engine = s.engines["m"]
    assert isinstance(engine, FakeEngine)
    return engine


def _errors(s: Session) -> list[str]:
    return [r.error for r in s.graph if r.error is not None]


@pytest.mark.timeout(30)
def test_cancelling_one_of_two_merged_callers_keeps_the_request(
    fake_session: Callable[..., Session],
) -> None:
    s = fake_session(epoch_window_s=0.05)
    engine = held(s)

    async def main() -> tuple[asyncio.Future[Any], Any]:
        gives_up = asyncio.ensure_future(s.achat(_msg("same")))
        stays = asyncio.ensure_future(s.achat(_msg("same")))
        await until(lambda: engine.requests)
        gives_up.cancel()
        await until(lambda: _errors(s) == ["cancelled"])
        assert engine.running == 1 and engine.aborted == []  # the other caller still waits
        engine.release()
        return gives_up, await stays

    gives_up, result = asyncio.run(main())
    assert gives_up.cancelled() and result.text == "len=4"
    assert len(engine.requests) == 1 and s.counters()["m"].aborted == 0


@pytest.mark.timeout(30)
def test_cancelling_the_only_caller_aborts_the_request_and_later_calls_run_afresh(
    fake_session: Callable[..., Session],
) -> None:
    s = fake_session(epoch_window_s=0.05)
    engine = held(s)

    async def main() -> Any:
        task = asyncio.ensure_future(s.achat(_msg("q")))
        await until(lambda: engine.requests)
        task.cancel()
        await until(lambda: engine.aborted)
        assert engine.running == 0
        engine.release()
        # identical: neither joined to the aborted request nor served its cancellation
        return await s.achat(_msg("q"))

    assert asyncio.run(main()).text == "len=1"
    first, second = (r.request_id for r in engine.requests)
    assert engine.aborted == [first] and second != first
    assert s.counters()["m"].aborted == 1
    assert s.graph.records[int(first)].error == "cancelled: aborted on its engine"


@pytest.mark.timeout(30)
def test_cancelling_a_pending_call_removes_it_from_the_queue(
    fake_session: Callable[..., Session],
) -> None:
    s = fake_session(epoch_window_s=3600)  # the epoch stays open
    engine = _engine(s)

    def pending() -> bool:
        return bool(s._processor._pending)

    async def main() -> None:
        task = asyncio.ensure_future(s.achat(_msg("q")))
        await until(pending)
        task.cancel()
        await until(lambda: not pending())

    asyncio.run(main())
    [rec] = list(s.graph)
    assert rec.error == "cancelled" and rec.epoch is None and engine.requests == []
    with s.optimizing(OptimizerConfig.direct()):  # the loop goes on: the next call runs
        assert s.chat(_msg("q")).text == "len=1"
    assert len(engine.requests) == 1 and engine.aborted == []


@pytest.mark.timeout(30)
def test_followers_of_an_aborted_leader_are_sent_on_their_own(
    fake_session: Callable[..., Session],
) -> None:
    s = fake_session(wait_for_leader_prefill=True, epoch_window_s=0.2)
    engine = held(s)
    shared = "a long shared system prompt "

    async def main() -> list[Any]:
        leader = asyncio.ensure_future(s.achat(_msg(f"{shared}and the longest question")))
        followers = [asyncio.ensure_future(s.achat(_msg(f"{shared}{i}"))) for i in range(2)]
        await until(lambda: engine.requests)
        assert len(engine.requests) == 1  # the followers wait for the leader's prefill
        leader.cancel()
        await until(lambda: len(engine.requests) == 3)
        engine.release()
        return list(await asyncio.gather(*followers))

    results = asyncio.run(main())
    assert [r.text for r in results] == [f"len={len(shared) + 1}"] * 2
    assert engine.aborted == [engine.requests[0].request_id]


@pytest.mark.timeout(30)
def test_a_follower_cancelled_before_its_leader_prefilled_is_never_sent(
    fake_session: Callable[..., Session],
) -> None:
    s = fake_session(wait_for_leader_prefill=True, epoch_window_s=0.2)
    engine = held(s)
    shared = "a long shared system prompt "

    async def main() -> Any:
        leader = asyncio.ensure_future(s.achat(_msg(f"{shared}and the longest question")))
        follower = asyncio.ensure_future(s.achat(_msg(f"{shared}0")))
        await until(lambda: engine.requests)
        follower.cancel()
        await until(lambda: _errors(s) == ["cancelled"])
        engine.release()
        return await leader

    assert asyncio.run(main()).text.startswith("len=")
    assert len(engine.requests) == 1 and engine.aborted == []


@pytest.mark.engine
def test_real_engine_aborts_the_request_of_a_cancelled_achat(halo: Session) -> None:
    """Cancelled after its first token, a long generation stops in the engine: no step runs
    after the abort, and the request never finishes (it would, after max_tokens steps)."""
    max_tokens = 900
    before = halo.counters()["tiny"]

    def ran() -> Any:
        return halo.counters()["tiny"] - before

    async def main() -> None:
        story = _msg("Tell a very long story.")
        task = asyncio.ensure_future(halo.achat(story, max_tokens=max_tokens, ignore_eos=True))
        await until(lambda: ran().steps >= 2, timeout_s=120)  # prefilled, decoding
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    steps = -1
    while ran().steps != steps:  # until the engine stops stepping
        steps = ran().steps
        time.sleep(1.0)
    counts = ran()
    assert counts.aborted == 1 and counts.requests == 0
    assert counts.steps < max_tokens // 2
    assert _errors(halo)[-1] == "cancelled: aborted on its engine"
