"""Placement of calls on replicas (``halo_core.backends.ray.placement``): plain functions,
the same in every process."""

from __future__ import annotations

import collections

import pytest

from halo_core.backends.ray.placement import Placer, prefix_key


def _keys(n: int) -> list[bytes]:
    return [prefix_key([i, i + 1, i + 2], 16) for i in range(n)]


def test_prefix_placement_is_the_same_in_every_process_and_spreads_keys() -> None:
    a, b = Placer(4, "prefix"), Placer(4, "prefix")
    idle = [0, 0, 0, 0]
    up = [True] * 4
    chosen = [a.choose(k, idle, up) for k in _keys(400)]
    assert chosen == [b.choose(k, idle, up) for k in _keys(400)]
    shares = collections.Counter(chosen)
    assert set(shares) == {0, 1, 2, 3} and min(shares.values()) > 50


def test_the_key_is_the_first_block() -> None:
    head = list(range(16))
    assert prefix_key(head + [1, 2], 16) == prefix_key(head + [3], 16)
    assert prefix_key(head, 16) != prefix_key([99, *head[1:]], 16)
    assert prefix_key([1, 2], 16) != prefix_key([1, 3], 16)  # shorter than a block: all of it


def test_a_loaded_replica_passes_calls_on_and_a_down_one_gets_none() -> None:
    placer = Placer(3, "prefix", load_factor=1.25, min_spill=4)
    key = _keys(1)[0]
    home = placer.choose(key, [0, 0, 0], [True] * 3)
    loads = [0, 0, 0]
    loads[home] = 10  # far above 1.25 x the mean
    spill = placer.choose(key, loads, [True] * 3)
    assert spill != home
    up = [True] * 3
    up[home] = False
    assert placer.choose(key, [0, 0, 0], up) != home
    assert placer.choose(key, loads, [True] * 3) == spill  # deterministic spill-over too
    loads[home] = 4  # within the slack: stays home
    assert placer.choose(key, loads, [True] * 3) == home
    with pytest.raises(ValueError, match="no replica"):
        placer.choose(key, [0, 0, 0], [False] * 3)


def test_round_robin_and_random_ignore_the_key() -> None:
    rr = Placer(3, "round_robin")
    key = _keys(1)[0]
    assert [rr.choose(key, [0] * 3, [True, False, True]) for _ in range(4)] == [0, 2, 0, 2]
    rnd = Placer(3, "random", seed=1)
    assert len({rnd.choose(key, [0] * 3, [True] * 3) for _ in range(50)}) == 3
