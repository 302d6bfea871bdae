"""Which replica a call goes to: plain functions of the call's prefix key and the replicas'
loads, the same in every process (a batch's shards place identical calls alike).

``prefix``: consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam 2018): the
key's point on a ring of virtual nodes picks the replica; one whose calls in flight would exceed
``load_factor`` x the mean, and the mean by more than ``min_spill``, passes the call on along
the ring. The slack keeps small loads on their key's replica, where every process's view of the
loads (a batch's shards each see only their own calls) would otherwise tip identical calls to
different replicas. Calls with the same first KV
block (Halo's prefix groups, and so every identical call) land on one replica while loads stay
balanced; a prefix then is prefilled once per replica it spills to.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import random
from collections.abc import Sequence

from halo_core.backends.ray.settings import Placement

#: Points per replica on the ring (more: smoother shares).
VIRTUAL_NODES = 64


def prefix_key(token_ids: Sequence[int], block_size: int) -> bytes:
    """The call's placement key: its prompt's first KV block (the whole prompt if shorter)."""
    head = ",".join(map(str, token_ids[:block_size])).encode()
    return hashlib.blake2b(head, digest_size=8).digest()


def _point(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


class Placer:
    """Chooses a replica per call (see the module doc)."""

    def __init__(
        self,
        replicas: int,
        policy: Placement,
        load_factor: float = 1.25,
        min_spill: int = 64,
        seed: int = 0,
    ):
        self.replicas = replicas
        self.policy = policy
        self.load_factor = load_factor
        self.min_spill = min_spill
        ring = sorted(
            (_point(f"replica-{i}-{v}".encode()), i)
            for i in range(replicas)
            for v in range(VIRTUAL_NODES)
        )
        self._points = [p for p, _ in ring]
        self._owners = [i for _, i in ring]
        self._turn = itertools.count()
        self._random = random.Random(seed)

    def choose(self, key: bytes, loads: Sequence[int], up: Sequence[bool]) -> int:
        """A replica that is up for the call with ``key``; ``loads`` are the replicas' calls in
        flight. ``ValueError`` when none is up."""
        alive = [i for i in range(self.replicas) if up[i]]
        if not alive:
            raise ValueError("no replica is up")
        if self.policy == "round_robin":
            return alive[next(self._turn) % len(alive)]
        if self.policy == "random":
            return self._random.choice(alive)
        mean = (sum(loads[i] for i in alive) + 1) / len(alive)
        cap = max(math.ceil(self.load_factor * mean), math.ceil(mean) + self.min_spill)
        start = bisect.bisect(self._points, _point(key))
        seen: set[int] = set()
        for step in range(len(self._owners)):
            i = self._owners[(start + step) % len(self._owners)]
            if i in seen or not up[i]:
                continue
            if loads[i] + 1 <= cap:
                return i
            seen.add(i)
            if len(seen) == len(alive):
                break
        return min(alive, key=lambda i: loads[i])  # unreachable with load_factor >= 1
