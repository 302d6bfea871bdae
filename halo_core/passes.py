"""Optimizer passes over one epoch's pending LLM calls: small pure functions, tested one by one.

The processor runs them in order: :func:`dedup` → :func:`prefix_groups` → :func:`dispatch_order`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from halo_core.calls import LLMCall


@dataclass
class MergedCall:
    """One request the engine will run, and every call that waits on its result."""

    rep: LLMCall
    callers: list[LLMCall]
    block_hashes: list[bytes] = field(default_factory=list)

    @property
    def model(self) -> str:
        """Model key of the request."""
        return self.rep.model


@dataclass
class PrefixGroup:
    """Requests of one model that share at least one whole KV block of prompt.

    With a ``leader`` the followers go to the engine after the leader's prefill, so the prefix
    cache serves their shared blocks; without one (a single request, or a prefix already warm)
    all go at once.
    """

    leader: MergedCall | None
    followers: list[MergedCall]
    shared_blocks: int = 0
    follows: bytes | None = None  # first-block hash of an earlier leader still prefilling

    @property
    def members(self) -> list[MergedCall]:
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


def dedup(calls: Iterable[LLMCall], *, merge_sampled: bool = False) -> list[MergedCall]:
    """Merge identical calls (same :attr:`LLMCall.key`) into one request, in first-seen order.

    Sampled calls (temperature > 0, no seed) stay separate unless ``merge_sampled``.
    """
    merged: dict[str, MergedCall] = {}
    out: list[MergedCall] = []
    for call in calls:
        if call.sampled and not merge_sampled:
            out.append(MergedCall(call, [call]))
            continue
        key = call.key
        if key in merged:
            merged[key].callers.append(call)
        else:
            merged[key] = m = MergedCall(call, [call])
            out.append(m)
    return out


def _common_blocks(a: list[bytes], b: list[bytes]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def prefix_groups(
    requests: Sequence[MergedCall],
    block_size: dict[str, int],
    warm: set[bytes],
    warming: Collection[bytes] = (),
) -> list[PrefixGroup]:
    """Group requests by their first KV block; pick a leader where the shared prefix is cold.

    ``block_size`` maps model key → KV block size; ``warm`` holds block hashes already prefilled
    in the engine (followers of a warm prefix need no leader); ``warming`` holds first-block
    hashes whose leader (from an earlier epoch) is still prefilling: such requests follow it.
    Fills ``block_hashes``.
    """
    by_first: dict[bytes, list[MergedCall]] = {}
    groups: list[PrefixGroup] = []
    for r in requests:
        r.block_hashes = block_hashes(r.rep.prompt_token_ids, block_size[r.model], r.model)
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


def dispatch_order(groups: Sequence[PrefixGroup]) -> tuple[list[MergedCall], list[PrefixGroup]]:
    """Split an epoch into what goes to the engine now and the groups waiting on a leader.

    Now: every leader (longest prompts first, so their prefill starts earliest) and every request
    with nothing to wait for. Later: each led group's followers, released by its leader's prefill,
    and groups that follow an earlier epoch's leader.
    """
    now: list[MergedCall] = []
    led: list[PrefixGroup] = []
    for g in groups:
        if g.leader is None and g.follows is None:
            now.extend(g.followers)
        else:
            led.append(g)
    leaders = sorted(
        (g.leader for g in led if g.leader), key=lambda m: -len(m.rep.prompt_token_ids)
    )
    return leaders + now, led
