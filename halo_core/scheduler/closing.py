"""Epoch closing: keep collecting calls only while waiting is predicted to pay.

Waiting buys merges: calls that arrive while the epoch is open and are identical to one in it run
once. It costs engine time only when the engines have nothing to do (with work in flight, calls
that wait lose nothing the engines could have done). So with ``OptimizerConfig(epoch_closing=
"cost")`` an epoch stays open (up to the window) only while

    gain = arrival rate x share of calls merged x engine seconds a merged call saves

exceeds the cost: 1 engine-second per second when no request is in flight, else 0. The share
merged is learned from the epochs' plans; the seconds saved from the executed requests priced by
the engine's cost model (prefill of the uncached prompt, decode of the output).

Closing decisions are registered by name (:func:`register_closing`), the name
``OptimizerConfig.epoch_closing`` gives; each says how much longer an open epoch may wait.
``"window"`` waits out ``SessionConfig.epoch_window_s`` unless every live instance waits on Halo
(no call of theirs can come before one finishes), ``"cost"`` is the rule above within that, and
``"adaptive"`` (:mod:`halo_core.scheduler.adaptive`) is the window of online serving.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from halo_core.errors import ConfigError
from halo_core.scheduler.base import QueueState

#: Weight of the newest observation in the moving averages.
ALPHA = 0.2


def ewma(old: float | None, new: float) -> float:
    """The moving average ``old`` (None: none yet) after observing ``new``."""
    return new if old is None else old + ALPHA * (new - old)


@dataclass
class CoalescingGain:
    """What holding an epoch open buys, learned as the run goes."""

    merged: float | None = None  # share of an epoch's calls its rules merged (moving average)
    saved_s: float | None = None  # engine seconds one executed request costs (moving average)

    def epoch(self, calls: int, requests: int) -> None:
        """An epoch of ``calls`` became ``requests`` engine requests."""
        if calls:
            self.merged = ewma(self.merged, (calls - requests) / calls)

    def executed(self, seconds: float) -> None:
        """An executed request cost the engine ``seconds`` (by the cost model)."""
        self.saved_s = ewma(self.saved_s, seconds)

    def rate(self, queue: QueueState) -> float | None:
        """Engine seconds that waiting saves per second, or None while still learning."""
        if self.merged is None or self.saved_s is None:
            return None
        arrivals = queue.pending / max(queue.waited_s, 1e-3)
        return arrivals * self.merged * self.saved_s


def pays_to_wait(queue: QueueState, gain: float | None) -> bool:
    """Whether the epoch should stay open: the gain rate beats the cost of idle engines (a
    gain not yet learned counts as paying, so the first epochs coalesce as the window does)."""
    if gain is None:
        return True
    idle_cost = 0.0 if queue.in_flight else 1.0
    return gain > idle_cost


@dataclass(frozen=True)
class EpochWindow:
    """The configured bounds of an epoch's wait: ``SessionConfig.epoch_window_s`` (the window of
    "window" and "cost") and ``OptimizerConfig.max_epoch_window_s`` (the "adaptive" ceiling)."""

    window_s: float
    max_s: float


def window_wait_s(queue: QueueState, window: EpochWindow) -> float:
    """The rest of the window, or 0 once every live instance waits on Halo."""
    if queue.live and queue.blocked >= queue.live:
        return 0.0
    return window.window_s - queue.waited_s


#: How much longer an open epoch may wait for more calls (``<= 0``: close it now):
#: ``decide(queue, gain, window)``.
ClosingDecision = Callable[[QueueState, CoalescingGain, EpochWindow], float]

CLOSINGS: dict[str, ClosingDecision] = {}


def register_closing(name: str, decide: ClosingDecision) -> None:
    """Make ``OptimizerConfig(epoch_closing=name)`` close epochs by ``decide``."""
    CLOSINGS[name] = decide


def closing(name: str) -> ClosingDecision:
    """The closing decision registered as ``name``; a :class:`ConfigError` for an unknown one."""
    decide = CLOSINGS.get(name)
    if decide is None:
        raise ConfigError(
            f"OptimizerConfig(epoch_closing={name!r}) is not a registered closing decision; "
            f"registered: {sorted(CLOSINGS)}"
        )
    return decide


register_closing("window", lambda queue, gain, window: window_wait_s(queue, window))
register_closing(
    "cost",
    lambda queue, gain, window: (
        window_wait_s(queue, window) if pays_to_wait(queue, gain.rate(queue)) else 0.0
    ),
)
