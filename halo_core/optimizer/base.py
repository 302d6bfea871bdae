"""What the optimizer rules work on: an epoch's engine requests, and the rule interface."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from halo_core.calls import LLMCall, ToolCall
from halo_core.config import OptimizerConfig


@dataclass
class Request:
    """One engine request and every call waiting on its result (``rep`` is the one sent).

    The prefix rule annotates it: ``block_hashes`` of its prompt, its prefix ``group``, whether
    it is the group's ``leader``, and ``after``: the first-block hash of the leader whose prefill
    it waits for (``None``: it may go at once); the scheduler may set its ``priority``.
    """

    rep: LLMCall
    callers: list[LLMCall]
    block_hashes: list[bytes] = field(default_factory=list)
    group: int | None = None
    leader: bool = False
    after: bytes | None = None
    priority: int = 0  # vLLM priority, lower first (the critical-path decision sets it)

    @property
    def id(self) -> int:
        """The call id of the call that is sent (also the engine request id)."""
        return self.rep.call_id

    @property
    def model(self) -> str:
        """Model key of the request."""
        return self.rep.model


@dataclass
class Epoch:
    """One epoch's requests, in the order they go to the engines; rules rewrite it in place.
    ``failed``: requests their engine would not take (malformed), with its error."""

    number: int
    requests: list[Request]
    failed: list[tuple[Request, Exception]] = field(default_factory=list)

    @classmethod
    def of(cls, number: int, calls: Sequence[LLMCall]) -> Epoch:
        """An epoch with one request per call."""
        return cls(number, [Request(c, [c]) for c in calls])


@dataclass(frozen=True)
class Served:
    """A call answered from the memo: ``value`` is what call ``source`` returned."""

    source: int
    value: Any


@dataclass(frozen=True)
class Joined:
    """A call that waits on the identical execution ``source`` already in flight."""

    source: int


Admission = Served | Joined


class Rule:
    """An optimizer rule. Every hook is a no-op here; a rule overrides the ones it needs and
    keeps its own state across epochs.

    Only active rules (named in the session's :class:`OptimizerConfig`) are asked to
    :meth:`admit`, :meth:`rewrite` and see :meth:`scheduled`; every rule hears
    :meth:`prefilled` and :meth:`finished`, so state it registered is released even after the
    configuration changed.
    """

    name = "rule"
    #: Whether :meth:`rewrite` reads the requests' prompts (token ids): the epoch's requests are
    #: prepared before the first such rule runs (after the rules that merge calls).
    reads_prompts = False

    def configure(self, config: OptimizerConfig) -> None:
        """Take the session's (new) optimizer options."""

    def admit(self, call: LLMCall | ToolCall) -> Admission | None:
        """Serve a call before it is deferred (``None``: defer it)."""
        return None

    def rewrite(self, epoch: Epoch) -> None:
        """Rewrite one epoch's requests (merge, annotate, reorder)."""

    def scheduled(self, call: LLMCall | ToolCall) -> None:
        """``call`` (a request's ``rep`` or a tool call) is going to run."""

    def prefilled(self, request: Request) -> list[Request]:
        """``request``'s prefill is done; return requests that waited for it."""
        return []

    def finished(self, call: LLMCall | ToolCall, result: Any) -> None:
        """``call`` ran; ``result`` is its value or its exception."""

    def forget(self) -> None:
        """Drop what was learned from earlier calls (between benchmark runs)."""
