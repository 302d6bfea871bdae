"""What the processor needs from an engine backend."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from halo_core.calls import ChatRequest, ChatResult
from halo_core.scheduler.cost_model import StepRecord
from halo_core.scheduler.turns import TurnPolicy


@dataclass(frozen=True)
class PreparedChat:
    """A chat request made ready for one engine: prompt token ids plus the engine's own
    parameters (sampling, constraints, how to parse the output), opaque to the processor."""

    prompt_token_ids: list[int]
    params: Any


@dataclass(frozen=True)
class EngineRequest:
    """One generation request: prompt token ids and the engine's prepared parameters."""

    request_id: str
    prompt_token_ids: list[int]
    params: Any
    priority: int = 0  # lower runs first, on engines with priority scheduling


@dataclass(frozen=True)
class EngineCounters:
    """Engine-wide counters, read from the engine's own metrics."""

    requests: int
    prompt_tokens: int
    generation_tokens: int
    prefix_cache_queries: int
    prefix_cache_hits: int
    #: Engine steps (scheduler iterations: one batched forward pass each).
    steps: int = 0
    #: Seconds spent inside those steps; in-process engines only (0 for a server).
    step_s: float = 0.0
    #: Requests stopped by :meth:`Engine.abort` before they finished.
    aborted: int = 0
    #: Requests a shared engine answered by another client's identical run (computed nothing;
    #: not in ``requests``).
    joined: int = 0
    #: Requests sent to another replica after theirs went away (replicated engines).
    moved: int = 0

    def __add__(self, other: EngineCounters) -> EngineCounters:
        """Two engines' (or replicas') counters together."""
        return EngineCounters(
            *(
                getattr(self, f.name) + getattr(other, f.name)
                for f in dataclasses.fields(EngineCounters)
            )
        )

    def __sub__(self, before: EngineCounters) -> EngineCounters:
        """What happened between two snapshots."""
        return EngineCounters(
            *(
                getattr(self, f.name) - getattr(before, f.name)
                for f in dataclasses.fields(EngineCounters)
            )
        )


class Engine(Protocol):
    """A model server the processor dispatches to. Callbacks run on the engine's thread."""

    model: str
    block_size: int
    max_model_len: int
    #: One step's token budget (prompt chunks plus decodes) and most sequences running at once.
    max_num_batched_tokens: int
    max_num_seqs: int
    #: True when a request submitted after another reuses the prefix blocks the earlier one
    #: allocated, even before it ran (vLLM v1 caches blocks as it schedules them): followers of
    #: a prefix group may then go right behind their leader instead of after its prefill.
    reuses_prefix_in_order: bool

    def sampled(self, request: ChatRequest) -> bool:
        """Whether ``request``'s output is random (temperature > 0 after the engine's defaults,
        and no seed); cheap: asked of every call, before any is prepared."""
        ...

    def prepare(self, requests: Sequence[ChatRequest]) -> list[PreparedChat | Exception]:
        """Render (chat template, generation prompt), tokenize, and resolve sampling defaults,
        for the requests of one epoch that go to this engine; each one's result in order, a
        :class:`~halo_core.errors.MalformedCallError` for a request the engine rejects."""
        ...

    def submit(
        self,
        request: EngineRequest,
        on_first_token: Callable[[], None],
        on_done: Callable[[ChatResult | BaseException], None],
    ) -> None:
        """Start a request. ``on_first_token`` fires once its prefill is done; ``on_done`` once
        (never for a request aborted before it finished)."""
        ...

    def abort(self, request_ids: list[str]) -> None:
        """Stop these requests and free what they hold in the engine; their callbacks are not
        called (except for one that finished as the abort came: its result may still arrive,
        and the caller ignores it). Ids the engine does not run are ignored."""
        ...

    def counters(self) -> EngineCounters:
        """Engine-wide request / token / prefix-cache counters since start."""
        ...

    def step_records(self) -> list[StepRecord]:
        """The engine's latest steps (shape and time), oldest first, for the cost model; empty
        where the backend cannot see its steps."""
        ...

    def set_turns(self, policy: TurnPolicy) -> None:
        """How the engines sharing this one's device take turns from now on (``"step"`` /
        ``"drain"``, :mod:`halo_core.scheduler.turns`)."""
        ...

    def reset_prefix_cache(self) -> None:
        """Drop the engine's prefix cache (between benchmark runs)."""
        ...

    def shutdown(self) -> None:
        """Release the engine and its threads; idempotent."""
        ...


@runtime_checkable
class Replicated(Protocol):
    """An engine spread over replicas (the Ray backend's): its counters per replica."""

    def replica_counters(self) -> list[EngineCounters]:
        """Each replica's counters, in replica order."""
        ...
