"""Critical-path priority: a call whose instance has the most tool time still ahead goes first.

Learned from finished instances, per plan node: when a call of node ``X`` finished, how much
tool time (the union of the instance's tool waits) did its instance still have ahead? A moving
average per node — the observed branch frequencies of the workflow are in it, since an instance
that skips a tool-heavy branch adds zero. An epoch's request gets the highest of its callers'
expectations as its vLLM priority (lower runs first), so instances with long tool chains ahead
reach their tools early and those tools overlap everyone else's engine work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

from halo_core.graph import CallRecord, union_s
from halo_core.lru import NAMED_MAX, LRUDict


@dataclass
class ToolTimeAhead:
    """Expected tool time ahead of each plan node's LLM calls (seconds, moving average with
    weight ``alpha`` on the newest instance), for the ``NAMED_MAX`` nodes learned most recently."""

    alpha: float = 0.2
    ahead_s: dict[str, float] = field(default_factory=partial(LRUDict, NAMED_MAX))

    def learn(self, records: Sequence[CallRecord]) -> None:
        """Learn from one finished instance's calls."""
        tools = [
            (r.submitted_s, r.finished_s)
            for r in records
            if r.kind == "tool" and r.finished_s is not None
        ]
        for r in records:
            if r.kind != "llm" or r.finished_s is None:
                continue
            done = r.finished_s
            ahead = union_s((max(a, done), b) for a, b in tools if b > done)
            old = self.ahead_s.get(r.node)
            self.ahead_s[r.node] = ahead if old is None else old + self.alpha * (ahead - old)

    def priority(self, nodes: Sequence[str]) -> int:
        """vLLM priority of a request serving calls of ``nodes`` (lower runs first): minus the
        longest expected tool time ahead among them, in milliseconds; 0 for unknown nodes."""
        return -max((round(1000 * self.ahead_s.get(n, 0.0)) for n in nodes), default=0)
