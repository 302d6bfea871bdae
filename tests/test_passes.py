"""Unit tests of the optimizer passes (pure functions, no engine)."""

from __future__ import annotations

import itertools
from typing import Any

from halo_core import passes
from halo_core.calls import ChatRequest, LLMCall

_ids = itertools.count()


def call(
    tokens: list[int], *, msg: str = "hi", model: str = "m", extra: Any = None, **sampling: Any
) -> LLMCall:
    params = {"temperature": 0.0, "max_tokens": 8, **sampling}
    request = ChatRequest([{"role": "user", "content": msg}], params, **(extra or {}))
    sampled = float(params["temperature"]) > 0 and params.get("seed") is None  # type: ignore[arg-type]
    return LLMCall(next(_ids), model, request, tokens, params, sampled)


def test_dedup_merges_identical_calls_in_first_seen_order() -> None:
    a1, b, a2 = call([1], msg="a"), call([2], msg="b"), call([1], msg="a")
    merged = passes.dedup([a1, b, a2])
    assert [m.rep for m in merged] == [a1, b]
    assert merged[0].callers == [a1, a2]


def test_dedup_key_covers_every_field() -> None:
    base = call([1], msg="a")
    variants = [
        call([1], msg="a", max_tokens=9),
        call([1], msg="a", seed=3),
        call([1], msg="a", model="other"),
        call([1], msg="b"),
    ]
    tools = [{"type": "function", "function": {"name": "f"}}]
    extras = [
        {"tools": tools},
        {"tools": tools, "tool_choice": "required"},
        {"response_format": {"type": "json_object"}},
    ]
    merged = passes.dedup([base, *variants, *(call([1], msg="a", extra=e) for e in extras)])
    assert len(merged) == 8


def test_sampled_calls_merge_only_on_request() -> None:
    s1, s2 = call([1], temperature=0.7), call([1], temperature=0.7)
    assert len(passes.dedup([s1, s2])) == 2
    assert len(passes.dedup([s1, s2], merge_sampled=True)) == 1
    seeded = [call([1], temperature=0.7, seed=1), call([1], temperature=0.7, seed=1)]
    assert len(passes.dedup(seeded)) == 1


def test_block_hashes_chain_whole_blocks_only() -> None:
    h = passes.block_hashes(list(range(10)), 4, "m")
    assert len(h) == 2
    other = passes.block_hashes([0, 1, 2, 3, 9, 9, 9, 9], 4, "m")
    assert other[0] == h[0] and other[1] != h[1]
    assert passes.block_hashes(list(range(8)), 4, "x")[0] != h[0]


def _merged(*token_lists: list[int]) -> list[passes.MergedCall]:
    return [passes.MergedCall(c, [c]) for c in (call(t, msg=str(t)) for t in token_lists)]


def test_prefix_groups_lead_a_cold_shared_prefix() -> None:
    shared = list(range(8))
    reqs = _merged(shared + [100, 101], shared + [200], shared + [300, 301, 302, 303], [9, 9])
    groups = passes.prefix_groups(reqs, {"m": 4}, warm=set())
    led = [g for g in groups if g.leader is not None]
    assert len(led) == 1 and len(led[0].followers) == 2
    assert led[0].leader is reqs[2]  # the longest prompt leads: it caches the most blocks
    assert led[0].shared_blocks == 2
    assert any(g.leader is None and g.followers == [reqs[3]] for g in groups)


def test_prefix_groups_skip_the_leader_when_prefix_is_warm() -> None:
    shared = list(range(8))
    reqs = _merged(shared + [1], shared + [2])
    warm = set(passes.block_hashes(shared, 4, "m"))
    groups = passes.prefix_groups(reqs, {"m": 4}, warm)
    assert [g.leader for g in groups] == [None]
    assert groups[0].followers == reqs


def test_prefix_shorter_than_a_block_forms_no_group() -> None:
    reqs = _merged([1, 2, 3], [1, 2, 4])
    groups = passes.prefix_groups(reqs, {"m": 4}, set())
    assert all(g.leader is None and len(g.followers) == 1 for g in groups)


def test_dispatch_order_sends_leaders_and_loners_now() -> None:
    shared = list(range(8))
    reqs = _merged(shared + [1], shared + [2], [7, 7, 7, 7, 7])
    groups = passes.prefix_groups(reqs, {"m": 4}, set())
    now, led = passes.dispatch_order(groups)
    assert len(led) == 1
    assert led[0].leader in now and reqs[2] in now
    assert all(f not in now for f in led[0].followers)


def test_requests_follow_a_leader_still_prefilling() -> None:
    shared = list(range(8))
    reqs = _merged(shared + [1], shared + [2], shared + [3])
    warming = {passes.block_hashes(shared, 4, "m")[0]}
    warm = set(passes.block_hashes(shared[:4], 4, "m"))  # even when the first block is warm
    groups = passes.prefix_groups(reqs, {"m": 4}, warm, warming)
    assert len(groups) == 1 and groups[0].leader is None and groups[0].follows in warming
    now, led = passes.dispatch_order(groups)
    assert now == [] and led == groups
