"""Online runs: workflow instances that arrive one at a time on a long-lived session (what
``halo serve`` runs each request as), their calls coalescing with those of every other live run.

At most ``live`` runs execute at once (each is a Halo instance while it runs, so epochs wait for
it); up to ``queued`` more wait for a slot, not live, so they hold no epoch open; a run arriving
beyond that is refused with :class:`QueueFull` before it starts. Each run may have a deadline;
cancelling the awaiting task (a client that went away) cancels the run and, through its calls'
futures, the engine requests only it waited for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from halo_core.errors import HaloError
from halo_core.runtime.batch import _widen_default_executor

if TYPE_CHECKING:
    from halo_core.session import Session

T = TypeVar("T")


class QueueFull(HaloError):
    """The run was refused: ``live`` runs execute and ``queued`` more wait already."""

    def __init__(self, waiting: int, retry_after_s: float):
        super().__init__(f"{waiting} runs already wait for a slot; retry in {retry_after_s:.0f} s")
        self.retry_after_s = retry_after_s


class DeadlineExceeded(HaloError, TimeoutError):
    """The run did not finish within its deadline (it was cancelled)."""


@dataclass
class OnlineCounts:
    """Where the online runs stand: executing, waiting for a slot, and totals since start."""

    live: int = 0
    waiting: int = 0
    accepted: int = 0
    refused: int = 0
    finished: int = 0
    failed: int = 0
    cancelled: int = 0
    timed_out: int = 0


class OnlineRuns:
    """Admits runs of one session as they arrive (see the module docstring)."""

    def __init__(self, session: Session, *, live: int, queued: int):
        if live < 1 or queued < 0:
            raise ValueError(f"live must be >= 1 and queued >= 0, got {live} / {queued}")
        self.session, self.live, self.queued = session, live, queued
        self.counts = OnlineCounts()
        self._slots: asyncio.Semaphore | None = None  # made on the serving loop
        self._idle: asyncio.Event | None = None
        self._mean_s = 1.0  # a run's mean duration (moving average): the Retry-After hint

    def _loop_state(self) -> tuple[asyncio.Semaphore, asyncio.Event]:
        if self._slots is None or self._idle is None:
            self._slots, self._idle = asyncio.Semaphore(self.live), asyncio.Event()
            self._idle.set()
            _widen_default_executor(asyncio.get_running_loop(), self.live)
        return self._slots, self._idle

    def admit(self, n: int = 1) -> None:
        """Raise :class:`QueueFull` unless ``n`` runs arriving now would all find a place."""
        c = self.counts
        if c.live + c.waiting + n > self.live + self.queued:
            c.refused += n
            raise QueueFull(c.waiting, max(1.0, self._mean_s * (c.waiting + n) / self.live))

    def start(
        self, fn: Callable[[T], Awaitable[Any]], x: T, *, deadline_s: float | None = None
    ) -> asyncio.Task[Any]:
        """Admit ``fn(x)`` now (:class:`QueueFull` if there is no place) and run it as one Halo
        instance once a slot is free, in a task: its result, or its exception
        (:class:`DeadlineExceeded` once ``deadline_s`` passed since it arrived). Cancelling
        the task cancels the run. Call on the serving event loop."""
        self.admit()
        _, idle = self._loop_state()
        self.counts.accepted += 1
        self.counts.waiting += 1
        idle.clear()
        return asyncio.ensure_future(self._run(fn, x, deadline_s))

    async def _run(self, fn: Callable[[T], Awaitable[Any]], x: T, deadline_s: float | None) -> Any:
        slots, idle = self._loop_state()
        c = self.counts
        arrived, started = time.perf_counter(), False
        try:
            async with asyncio.timeout(deadline_s):
                async with slots:
                    c.waiting -= 1
                    c.live += 1
                    started = True
                    try:
                        with self.session.instance():
                            result = await fn(x)
                    finally:
                        c.live -= 1
        except TimeoutError as e:
            c.timed_out += 1
            raise DeadlineExceeded(f"the run took longer than its {deadline_s} s deadline") from e
        except asyncio.CancelledError:
            c.cancelled += 1
            raise
        except Exception:
            c.failed += 1
            raise
        finally:
            if not started:
                c.waiting -= 1
            if c.live + c.waiting == 0:
                idle.set()
        self._mean_s += 0.1 * (time.perf_counter() - arrived - self._mean_s)
        c.finished += 1
        return result

    async def drain(self, timeout_s: float | None = None) -> bool:
        """Wait until no accepted run is left (or ``timeout_s`` passed); True when drained."""
        _, idle = self._loop_state()
        try:
            async with asyncio.timeout(timeout_s):
                await idle.wait()
        except TimeoutError:
            return False
        return True
