"""The epoch scheduler: close an epoch when every live instance waits on Halo, when the oldest
call waited ``epoch_window_s``, at ``epoch_max_calls``, or (``epoch_closing="cost"``) as soon as
waiting is predicted not to pay (:mod:`halo_core.scheduler.closing`); then apply the optimizer's
rules and, with ``critical_path`` on, give each request its priority (:class:`ToolTimeAhead`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from halo_core.calls import LLMCall
from halo_core.config import SessionConfig
from halo_core.optimizer import Epoch, Optimizer
from halo_core.scheduler.base import EpochPlan, QueueState
from halo_core.scheduler.closing import CoalescingGain, pays_to_wait
from halo_core.scheduler.critical_path import ToolTimeAhead


class EpochScheduler:
    """Never waits for all N instances (one may be blocked elsewhere), only for the live ones
    that are not yet waiting, and at most the window."""

    def __init__(
        self,
        config: SessionConfig,
        optimizer: Optimizer,
        ahead: ToolTimeAhead,
        prepare: Callable[[Epoch], None],
    ):
        self.config = config
        self.optimizer = optimizer
        self.ahead = ahead
        self.prepare = prepare
        self.gain = CoalescingGain()
        self.epochs = 0

    def wait_s(self, queue: QueueState) -> float:
        if not self.optimizer.config.defer or queue.pending >= self.config.epoch_max_calls:
            return 0.0
        if queue.live and queue.blocked >= queue.live:
            return 0.0
        left = self.config.epoch_window_s - queue.waited_s
        if self.optimizer.config.epoch_closing == "cost" and not pays_to_wait(
            queue, self.gain.rate(queue)
        ):
            return 0.0
        return left

    def schedule(self, pending: Sequence[LLMCall]) -> EpochPlan:
        calls = list(pending[: self.config.epoch_max_calls])
        self.epochs += 1
        epoch = Epoch.of(self.epochs, calls)
        self.optimizer.rewrite(epoch, self.prepare)
        self.gain.epoch(len(calls), len(epoch.requests))
        if self.optimizer.config.critical_path:
            for r in epoch.requests:
                r.priority = self.ahead.priority([c.node for c in r.callers])
        return EpochPlan(epoch.number, epoch.requests, len(calls), epoch.failed)
