"""Prefix groups: requests sharing a cold prompt prefix go behind one leader that prefills it.

vLLM recomputes a shared prefix for every request of one batch unless it is cached first
(vllm #9643): per group of requests with the same first KV block, the longest one leads and the
rest follow once it has prefilled (or right behind it on engines that cache blocks as they
schedule them). A prefix already warm needs no leader; requests whose prefix an earlier
epoch's leader is still prefilling follow that leader.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from halo_core.lru import LRUDict
from halo_core.optimizer.base import Epoch, Request, Rule


@dataclass
class PrefixGroup:
    """Requests of one model that share at least one whole KV block of prompt.

    With a ``leader`` the followers go after the leader's prefill; without one (a single
    request, or a prefix already warm) all go at once.
    """

    leader: Request | None
    followers: list[Request]
    shared_blocks: int = 0
    follows: bytes | None = None  # first-block hash of an earlier leader still prefilling

    @property
    def members(self) -> list[Request]:
        """Leader (if any) then followers."""
        return ([self.leader] if self.leader else []) + self.followers


def block_hashes(token_ids: Sequence[int], block_size: int, model: str) -> list[bytes]:
    """Chained hashes of the prompt's whole blocks: equal i-th hash ⇔ equal first i+1 blocks."""
    out: list[bytes] = []
    prev = model.encode()
    for start in range(0, len(token_ids) - block_size + 1, block_size):
        block = token_ids[start : start + block_size]
        prev = hashlib.blake2b(
            prev + b"|" + ",".join(map(str, block)).encode(), digest_size=16
        ).digest()
        out.append(prev)
    return out


def _common_blocks(a: Sequence[bytes], b: Sequence[bytes]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def group(
    requests: Sequence[Request], warm: Collection[bytes], warming: Collection[bytes] = ()
) -> list[PrefixGroup]:
    """Group requests by their first KV block (their ``block_hashes`` filled); pick a leader
    where the shared prefix is cold.

    ``warm`` holds block hashes already prefilled in the engine (followers of a warm prefix need
    no leader); ``warming`` holds first-block hashes whose leader (from an earlier epoch) is
    still prefilling: such requests follow it. Requests without a whole block come first.
    """
    by_first: dict[bytes, list[Request]] = {}
    groups: list[PrefixGroup] = []
    for r in requests:
        if r.block_hashes:
            by_first.setdefault(r.block_hashes[0], []).append(r)
        else:
            groups.append(PrefixGroup(None, [r]))
    for first, members in by_first.items():
        if first in warming:
            groups.append(PrefixGroup(None, members, follows=first))
            continue
        if len(members) == 1:
            groups.append(PrefixGroup(None, members))
            continue
        leader = max(members, key=lambda m: len(m.block_hashes))
        shared = min(_common_blocks(leader.block_hashes, m.block_hashes) for m in members)
        if leader.block_hashes[shared - 1] in warm:
            groups.append(PrefixGroup(None, members, shared))
        else:
            groups.append(PrefixGroup(leader, [m for m in members if m is not leader], shared))
    return groups


class PrefixGroups(Rule):
    """Groups each epoch's requests by shared prompt prefix; owns which prefixes the engines
    have prefilled (``warm``: the newest ``warm_max_blocks`` block hashes, ``None``: all) and
    which leaders are prefilling (``warming``)."""

    name = "prefix_groups"
    reads_prompts = True

    def __init__(self, block_size: Mapping[str, int], warm_max_blocks: int | None = None):
        self.block_size = dict(block_size)
        # the engines' prefix caches are bounded too: a hash dropped here at worst makes a prefix
        # they still hold elect a leader again
        self.warm: LRUDict[bytes, None] = LRUDict(warm_max_blocks)
        self.warming: dict[bytes, tuple[int, list[Request]]] = {}  # leader's first hash → waiting

    def rewrite(self, epoch: Epoch) -> None:
        for r in epoch.requests:
            r.block_hashes = block_hashes(r.rep.prompt_token_ids, self.block_size[r.model], r.model)
        groups = group(epoch.requests, self.warm, self.warming)
        for gid, g in enumerate(groups):
            group_id = (epoch.number << 20) | gid
            if g.follows is not None:
                group_id = self.warming[g.follows][0]
                self.warming[g.follows][1].extend(g.followers)
            elif g.leader is not None:
                self.warming[g.leader.block_hashes[0]] = (group_id, list(g.followers))
            wait = g.follows or (g.leader.block_hashes[0] if g.leader else None)
            for m in g.members:
                m.group = group_id if len(g.members) > 1 or g.follows else None
                m.leader = m is g.leader
                m.after = None if m.leader else wait
        epoch.requests = [m for g in groups for m in g.members]

    def prefilled(self, request: Request) -> list[Request]:
        if not request.leader:
            return []
        for h in request.block_hashes:
            self.warm[h] = None
        return self.warming.pop(request.block_hashes[0], (0, []))[1]

    def forget(self) -> None:
        self.warm.clear()
