"""Adaptive batching for online serving: ``OptimizerConfig(epoch_closing="adaptive")``.

Calls held in an open epoch lose little while the engines are still busy with the work ahead of
them, and gain the calls that arrive meanwhile (merged, prefix-grouped, prepared and sent as one
batch). So the window follows the load: with ``B`` the engines' backlog (``QueueState.backlog_s``:
predicted seconds until they finish the requests in flight, by the calibrated cost model, see
:mod:`halo_core.scheduler.load`), ``W`` the time the oldest pending call waited and ``λ`` the rate
calls arrive at (``QueueState.arrival_rate``), an epoch stays open while

    requests are in flight,  W < B,  λ·B >= 1  and  W < max_epoch_window_s

Idle engines take a call at once, so a lone request is not delayed; a call never waits longer than
the engines still need for the work ahead of it; waiting ends once less than one more call is
expected before the engines free up; under load the window grows up to
``OptimizerConfig.max_epoch_window_s`` (which replaces ``SessionConfig.epoch_window_s`` here).
Unlike "window" and "cost" it does not close once every live instance waits on Halo: online, new
runs arrive from outside, and the arrival rate says whether they do.
"""

from __future__ import annotations

from halo_core.scheduler.base import QueueState
from halo_core.scheduler.closing import CoalescingGain, EpochWindow, register_closing


def adaptive_wait_s(queue: QueueState, gain: CoalescingGain, window: EpochWindow) -> float:
    """How much longer the epoch may wait (``<= 0``: close now): until the first condition above
    fails if no call arrives meanwhile, the backlog shrinking as the engines work."""
    backlog, waited, rate = queue.backlog_s, queue.waited_s, queue.arrival_rate
    if not queue.in_flight or waited >= backlog or rate * backlog < 1.0:
        return 0.0
    return min(window.max_s - waited, (backlog - waited) / 2, backlog - 1.0 / rate)


register_closing("adaptive", adaptive_wait_s)
