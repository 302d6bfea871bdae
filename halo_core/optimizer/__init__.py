"""The optimizer: named rules over deferred calls, applied in the order the config lists them.

One rule per module — :mod:`~halo_core.optimizer.dedup`, :mod:`~halo_core.optimizer.memo`,
:mod:`~halo_core.optimizer.prefix_groups`, :mod:`~halo_core.optimizer.order` — each owning its
state across epochs (see :class:`~halo_core.optimizer.base.Rule` for the hooks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from halo_core.calls import LLMCall, ToolCall
from halo_core.config import OptimizerConfig
from halo_core.optimizer.base import Admission, Epoch, Joined, Request, Rule, Served
from halo_core.optimizer.dedup import Dedup
from halo_core.optimizer.memo import Memo
from halo_core.optimizer.order import Order
from halo_core.optimizer.prefix_groups import PrefixGroups

__all__ = ["Admission", "Epoch", "Joined", "Optimizer", "Request", "Rule", "Served"]


class Optimizer:
    """A session's rules: one object per rule for the session's life, the active ones in the
    configured order. Runs on the runtime's loop thread. ``memo_max_entries`` and
    ``warm_max_blocks`` bound what the memo and the prefix rule keep (``None``: unbounded)."""

    def __init__(
        self,
        config: OptimizerConfig,
        block_size: Mapping[str, int],
        *,
        memo_max_entries: int | None = None,
        warm_max_blocks: int | None = None,
    ):
        rules: list[Rule] = [
            Dedup(),
            Memo(memo_max_entries),
            PrefixGroups(block_size, warm_max_blocks),
            Order(),
        ]
        self.rules = {r.name: r for r in rules}
        self.configure(config)

    def configure(self, config: OptimizerConfig) -> None:
        """Switch to ``config`` (rules keep their state while inactive)."""
        self.config = config
        self.active = [self.rules[name] for name in config.rules]
        for r in self.rules.values():
            r.configure(config)

    def admit(self, call: LLMCall | ToolCall) -> Admission | None:
        """The first active rule's answer for a new call (``None``: defer it)."""
        for r in self.active:
            found = r.admit(call)
            if found is not None:
                return found
        return None

    def rewrite(self, epoch: Epoch, prepare: Callable[[Epoch], None]) -> None:
        """Apply the active rules to an epoch, in order; ``prepare`` fills the prompts of the
        requests left (those that go to the engines) before the first rule that reads them, or
        after the last rule."""
        prepared = False
        for r in self.active:
            if r.reads_prompts and not prepared:
                prepare(epoch)
                prepared = True
            r.rewrite(epoch)
        if not prepared:
            prepare(epoch)

    def scheduled(self, call: LLMCall | ToolCall) -> None:
        """Tell the active rules that ``call`` is going to run."""
        for r in self.active:
            r.scheduled(call)

    def prefilled(self, request: Request) -> list[Request]:
        """Requests released by ``request``'s prefill."""
        return [f for r in self.rules.values() for f in r.prefilled(request)]

    def finished(self, call: LLMCall | ToolCall, result: Any) -> None:
        """Tell every rule that ``call`` ran."""
        for r in self.rules.values():
            r.finished(call, result)

    def forget(self) -> None:
        """Every rule drops what it learned from earlier calls."""
        for r in self.rules.values():
            r.forget()
