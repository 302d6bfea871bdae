"""The epoch scheduler: close an epoch at ``epoch_max_calls`` or when the configured closing
decision says so (:mod:`halo_core.scheduler.closing`; by default once every live instance waits on
Halo or the oldest call waited ``epoch_window_s``); then apply the optimizer's rules and, with
``critical_path`` on, give each request its priority (:class:`ToolTimeAhead`)."""

from __future__ import annotations

from collections.abc import Sequence

from halo_core.calls import ChatResult, LLMCall
from halo_core.optimizer import Epoch
from halo_core.optimizer.base import Request
from halo_core.scheduler.base import (
    EpochPlan,
    Executed,
    Prefilled,
    QueueState,
    SchedulerContext,
    SchedulerEvent,
)
from halo_core.scheduler.closing import CoalescingGain, EpochWindow, closing


class EpochScheduler:
    """Never waits for all N instances (one may be blocked elsewhere), only for the live ones
    that are not yet waiting, and at most the window."""

    def __init__(self, ctx: SchedulerContext):
        self.config = ctx.config
        self.optimizer = ctx.optimizer
        self.ahead = ctx.ahead
        self.prepare = ctx.prepare
        self.costs = ctx.costs
        self.gain = CoalescingGain()
        self.epochs = 0

    def wait_s(self, queue: QueueState) -> float:
        optimizer = self.optimizer.config
        if not optimizer.defer or queue.pending >= self.config.epoch_max_calls:
            return 0.0
        window = EpochWindow(self.config.epoch_window_s, optimizer.max_epoch_window_s)
        return closing(optimizer.epoch_closing)(queue, self.gain, window)

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

    def update(self, event: SchedulerEvent) -> list[Request]:
        """A leader's prefill releases its group's followers; an executed request prices
        what a merge saves (by the engine's cost model, where known)."""
        if isinstance(event, Prefilled):
            return self.optimizer.prefilled(event.request)
        if isinstance(event, Executed):
            result, cost = event.result, self.costs.get(event.request.model)
            if isinstance(result, ChatResult) and cost is not None:
                uncached = result.prompt_tokens - result.cached_tokens
                self.gain.executed(cost.prefill * uncached + cost.decode * result.output_tokens)
        return []
