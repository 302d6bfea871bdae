"""The scheduler's interface and its output: a plain-data plan the runtime carries out (as vLLM
v1's ``Scheduler.schedule()`` returns a ``SchedulerOutput`` for the engine core to execute)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from halo_core.calls import LLMCall
from halo_core.optimizer.base import Request


@dataclass(frozen=True)
class QueueState:
    """What the scheduler sees when deciding whether to close an epoch."""

    pending: int  # deferred LLM calls
    waited_s: float  # since the oldest of them arrived (or the last epoch closed)
    live: int  # instances running
    blocked: int  # live instances waiting on Halo (an LLM call or a tool)
    in_flight: int = 0  # LLM requests the engines are running


@dataclass
class EpochPlan:
    """One epoch: ``requests`` in dispatch order; those with ``after`` set wait for their
    leader's prefill (the runtime sends them when the optimizer releases them)."""

    epoch: int
    requests: list[Request]
    calls: int  # pending calls this epoch took, from the front of the queue
    #: Requests their engine would not take (malformed), with its error: their callers fail.
    failed: list[tuple[Request, Exception]] = field(default_factory=list)

    @property
    def now(self) -> list[Request]:
        """Requests to send at once, in order."""
        return [r for r in self.requests if r.after is None]


class Scheduler(Protocol):
    """Decides when an epoch closes and what it sends."""

    def wait_s(self, queue: QueueState) -> float:
        """How long the queue may still wait for more calls; ``<= 0``: close the epoch now.
        Asked again whenever the queue changes."""
        ...

    def schedule(self, pending: Sequence[LLMCall]) -> EpochPlan:
        """Plan the next epoch from the front of the pending calls."""
        ...
