"""The scheduler is chosen by name and hears what the engines did as plain-data events."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import ClassVar

import pytest

from halo_core import Session
from halo_core.optimizer.base import Request
from halo_core.scheduler import SCHEDULERS, EpochScheduler, register_scheduler
from halo_core.scheduler.base import Executed, Prefilled, SchedulerContext, SchedulerEvent


class Recording(EpochScheduler):
    """The epoch scheduler, keeping every event it is told."""

    made: ClassVar[list[Recording]] = []

    def __init__(self, ctx: SchedulerContext):
        super().__init__(ctx)
        self.events: list[SchedulerEvent] = []
        Recording.made.append(self)

    def update(self, event: SchedulerEvent) -> list[Request]:
        self.events.append(event)
        return super().update(event)


@pytest.fixture
def recording() -> Iterator[None]:
    register_scheduler("recording", Recording)
    yield
    del SCHEDULERS["recording"]
    Recording.made.clear()


def test_a_registered_scheduler_plans_and_hears_each_request(
    recording: None, fake_session: Callable[..., Session]
) -> None:
    s = fake_session(scheduler="recording")
    results = s.map(lambda i: s.chat([{"role": "user", "content": f"q{i % 3}"}]).text, range(9))
    assert results == [f"len={len(f'q{i % 3}')}" for i in range(9)]
    (scheduler,) = Recording.made
    executed = [e for e in scheduler.events if isinstance(e, Executed)]
    prefilled = [e for e in scheduler.events if isinstance(e, Prefilled)]
    assert len(executed) == len(prefilled) == 3  # nine calls, three distinct: merged
    assert sorted(e.request.rep.request.messages[0]["content"] for e in executed) == [
        "q0",
        "q1",
        "q2",
    ]
