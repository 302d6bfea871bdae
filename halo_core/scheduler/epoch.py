"""The epoch scheduler: close an epoch when every live instance waits on Halo, when the oldest
call waited ``epoch_window_s``, at ``epoch_max_calls``, or when the configured closing decision
says so (:mod:`halo_core.scheduler.closing`); then apply the optimizer's rules and, with
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
from halo_core.scheduler.closing import CoalescingGain, closing


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
        if not self.optimizer.config.defer or queue.pending >= self.config.epoch_max_calls:
            return 0.0
        if queue.live and queue.blocked >= queue.live:
            return 0.0
        if closing(self.optimizer.config.epoch_closing)(queue, self.gain):
            return 0.0
        return self.config.epoch_window_s - queue.waited_s

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
