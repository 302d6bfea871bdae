"""The scheduler's interface, its input and its output, all plain data: the runtime asks
``schedule(pending) -> EpochPlan`` and carries the plan out, and tells it what the engines did
with ``update(event) -> released requests`` (as vLLM v1's scheduler returns a
``SchedulerOutput`` for the engine core to execute and takes its ``ModelRunnerOutput`` back)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from halo_core.calls import ChatResult, LLMCall
from halo_core.config import SessionConfig
from halo_core.optimizer import Optimizer
from halo_core.optimizer.base import Epoch, Request
from halo_core.scheduler.cost_model import StepCost
from halo_core.scheduler.critical_path import ToolTimeAhead


@dataclass(frozen=True)
class QueueState:
    """What the scheduler sees when deciding whether to close an epoch."""

    pending: int  # deferred LLM calls
    waited_s: float  # since the oldest of them arrived (or the last epoch closed)
    live: int  # instances running
    blocked: int  # live instances waiting on Halo (an LLM call or a tool)
    in_flight: int = 0  # LLM requests the engines are running
    backlog_s: float = 0.0  # predicted seconds until the engines finish them (scheduler.load)
    arrival_rate: float = 0.0  # LLM calls per second reaching the queue, lately


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


@dataclass(frozen=True)
class Prefilled:
    """A request's prefix is in the engine's cache: its first token came, or it was submitted
    to an engine that caches the blocks of a request as it schedules them."""

    request: Request


@dataclass(frozen=True)
class Executed:
    """A request finished: its result, or the error it failed with."""

    request: Request
    result: ChatResult | BaseException


SchedulerEvent = Prefilled | Executed


@dataclass(frozen=True)
class SchedulerContext:
    """What a scheduler is built from (:mod:`~halo_core.scheduler.registry`): the session's
    configuration, its optimizer, what instances are expected to spend in tools ahead, the
    engines' step costs where known, and how an epoch's executed calls get prepared."""

    config: SessionConfig
    optimizer: Optimizer
    ahead: ToolTimeAhead
    prepare: Callable[[Epoch], None]
    costs: Mapping[str, StepCost] = field(default_factory=dict)


class Scheduler(Protocol):
    """Decides when an epoch closes and what it sends."""

    def wait_s(self, queue: QueueState) -> float:
        """How long the queue may still wait for more calls; ``<= 0``: close the epoch now.
        Asked again whenever the queue changes."""
        ...

    def schedule(self, pending: Sequence[LLMCall]) -> EpochPlan:
        """Plan the next epoch from the front of the pending calls."""
        ...

    def update(self, event: SchedulerEvent) -> list[Request]:
        """Take what an engine did; return the requests it releases (to send now)."""
        ...
