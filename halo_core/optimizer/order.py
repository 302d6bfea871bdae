"""Order: leaders first, longest prompt first, so the prefills others wait on start earliest."""

from __future__ import annotations

from collections.abc import Sequence

from halo_core.optimizer.base import Epoch, Request, Rule


def leaders_first(requests: Sequence[Request]) -> list[Request]:
    """Prefix-group leaders (longest prompt first), then the rest in their order."""
    leaders = sorted((r for r in requests if r.leader), key=lambda r: -len(r.rep.prompt_token_ids))
    return leaders + [r for r in requests if not r.leader]


class Order(Rule):
    """Puts an epoch's prefix-group leaders ahead of everything else."""

    name = "order"
    reads_prompts = True

    def rewrite(self, epoch: Epoch) -> None:
        epoch.requests = leaders_first(epoch.requests)
