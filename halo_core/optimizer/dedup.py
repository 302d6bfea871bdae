"""Dedup: identical calls of one epoch become one engine request."""

from __future__ import annotations

from collections.abc import Iterable

from halo_core.calls import LLMCall
from halo_core.config import OptimizerConfig
from halo_core.optimizer.base import Epoch, Request, Rule


def merge(calls: Iterable[LLMCall], *, merge_sampled: bool = False) -> list[Request]:
    """Merge identical calls (same :attr:`LLMCall.key`) into one request, in first-seen order.

    Sampled calls (temperature > 0, no seed) stay separate unless ``merge_sampled``.
    """
    merged: dict[str, Request] = {}
    out: list[Request] = []
    for call in calls:
        if call.sampled and not merge_sampled:
            out.append(Request(call, [call]))
            continue
        key = call.key
        if key in merged:
            merged[key].callers.append(call)
        else:
            merged[key] = r = Request(call, [call])
            out.append(r)
    return out


class Dedup(Rule):
    """Identical deterministic calls of one epoch run once; each caller gets its own copy."""

    name = "dedup"

    def __init__(self) -> None:
        self.merge_sampled = False

    def configure(self, config: OptimizerConfig) -> None:
        self.merge_sampled = config.merge_sampled

    def rewrite(self, epoch: Epoch) -> None:
        calls = [c for r in epoch.requests for c in r.callers]
        epoch.requests = merge(calls, merge_sampled=self.merge_sampled)
