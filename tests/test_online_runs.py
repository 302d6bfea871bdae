"""Online runs (what ``halo serve`` runs each request as), on a fake engine: admission, queueing,
deadlines, cancellation of a run whose sync code still waits, draining."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import Any

import pytest

from halo_core import DeadlineExceeded, OnlineRuns, QueueFull, Session
from tests.waiting import held, until


def _msg(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.mark.timeout(30)
def test_runs_beyond_live_and_queued_are_refused_and_the_rest_finish(
    fake_session: Callable[..., Session],
) -> None:
    s = fake_session(epoch_window_s=0.01)
    engine = held(s)
    runs = OnlineRuns(s, live=2, queued=3)

    async def ask(i: int) -> str:
        return (await s.achat(_msg(f"q{i}"))).text

    async def main() -> list[Any]:
        tasks = [runs.start(ask, i) for i in range(5)]
        with pytest.raises(QueueFull) as refused:
            runs.start(ask, 5)
        assert refused.value.retry_after_s >= 1
        await until(lambda: runs.counts.live == 2 and runs.counts.waiting == 3)
        engine.release()
        out = await asyncio.gather(*tasks)
        assert await runs.drain(5)
        return out

    assert asyncio.run(main()) == [f"len={len(f'q{i}')}" for i in range(5)]
    c = runs.counts
    assert (c.accepted, c.refused, c.finished, c.live, c.waiting) == (5, 1, 5, 0, 0)


@pytest.mark.timeout(30)
def test_a_cancelled_run_whose_sync_code_still_waits_aborts_its_engine_request(
    fake_session: Callable[..., Session],
) -> None:
    """A sync node under ``ainvoke`` waits on its call in an executor thread that asyncio cannot
    cancel: the run's instance ends, and its outstanding call is cancelled and aborted."""
    s = fake_session(epoch_window_s=0.01)
    engine = held(s)
    runs = OnlineRuns(s, live=4, queued=0)

    async def sync_node(_: int) -> str:  # as LangChain runs one: in the caller's context
        ctx = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(
            None, ctx.run, lambda: s.chat(_msg("long")).text
        )

    async def main() -> None:
        task = runs.start(sync_node, 0)
        await until(lambda: engine.running == 1)
        task.cancel()
        await until(lambda: engine.aborted != [])

    asyncio.run(main())
    assert len(engine.aborted) == 1 and s.counters()["m"].aborted == 1
    assert runs.counts.cancelled == 1
    assert any(r.error and r.error.startswith("cancelled") for r in s.graph)


@pytest.mark.timeout(30)
def test_a_run_past_its_deadline_fails_with_deadline_exceeded(
    fake_session: Callable[..., Session],
) -> None:
    s = fake_session(epoch_window_s=0.01)
    engine = held(s)
    runs = OnlineRuns(s, live=1, queued=1)

    async def ask(_: int) -> str:
        return (await s.achat(_msg("slow"))).text

    async def main() -> None:
        late = runs.start(ask, 0, deadline_s=3.0)
        queued = runs.start(ask, 1, deadline_s=3.0)  # times out still waiting for a slot
        await until(lambda: engine.running == 1)  # the late run's call is on the engine
        for task in (late, queued):
            with pytest.raises(DeadlineExceeded):
                await task
        assert await runs.drain(5)
        # the processor aborts the abandoned request on its own thread, after the run has ended
        await until(lambda: engine.aborted != [])

    asyncio.run(main())
    assert runs.counts.timed_out == 2 and len(engine.aborted) == 1
