"""The prefix-group rule: a cold shared prompt prefix is prefilled once, by a leader."""

from __future__ import annotations

from halo_core.optimizer import Epoch
from halo_core.optimizer.prefix_groups import PrefixGroups, block_hashes, group
from tests.optimizer.calls import call, requests


def test_block_hashes_chain_whole_blocks_only() -> None:
    h = block_hashes(list(range(10)), 4, "m")
    assert len(h) == 2
    other = block_hashes([0, 1, 2, 3, 9, 9, 9, 9], 4, "m")
    assert other[0] == h[0] and other[1] != h[1]
    assert block_hashes(list(range(8)), 4, "x")[0] != h[0]


def test_prefix_groups_lead_a_cold_shared_prefix() -> None:
    shared = list(range(8))
    reqs = requests(shared + [100, 101], shared + [200], shared + [300, 301, 302, 303], [9, 9])
    groups = group(reqs, warm=set())
    led = [g for g in groups if g.leader is not None]
    assert len(led) == 1 and len(led[0].followers) == 2
    assert led[0].leader is reqs[2]  # the longest prompt leads: it caches the most blocks
    assert led[0].shared_blocks == 2
    assert any(g.leader is None and g.followers == [reqs[3]] for g in groups)


def test_prefix_groups_skip_the_leader_when_prefix_is_warm() -> None:
    shared = list(range(8))
    reqs = requests(shared + [1], shared + [2])
    warm = set(block_hashes(shared, 4, "m"))
    groups = group(reqs, warm)
    assert [g.leader for g in groups] == [None]
    assert groups[0].followers == reqs


def test_prefix_shorter_than_a_block_forms_no_group() -> None:
    reqs = requests([1, 2, 3], [1, 2, 4])
    groups = group(reqs, set())
    assert all(g.leader is None and len(g.followers) == 1 for g in groups)


def test_requests_follow_a_leader_still_prefilling() -> None:
    shared = list(range(8))
    reqs = requests(shared + [1], shared + [2], shared + [3])
    warming = {block_hashes(shared, 4, "m")[0]}
    warm = set(block_hashes(shared[:4], 4, "m"))  # even when the first block is warm
    groups = group(reqs, warm, warming)
    assert len(groups) == 1 and groups[0].leader is None and groups[0].follows in warming


def test_the_rule_holds_followers_until_the_leader_prefilled_across_epochs() -> None:
    shared = list(range(8))
    rule = PrefixGroups({"m": 4})
    first = Epoch.of(1, [call(shared + [1], msg="1"), call(shared + [2, 2, 2, 2], msg="2")])
    rule.rewrite(first)
    leader = next(r for r in first.requests if r.leader)
    follower = next(r for r in first.requests if not r.leader)
    assert leader.rep.prompt_token_ids == shared + [2, 2, 2, 2]  # the longest leads
    assert follower.after == leader.block_hashes[0] and leader.after is None
    assert follower.group == leader.group is not None
    second = Epoch.of(2, [call(shared + [3], msg="3")])  # the leader is still prefilling
    rule.rewrite(second)
    late = second.requests[0]
    assert late.after == leader.block_hashes[0] and late.group == leader.group
    assert rule.prefilled(follower) == []  # only a leader's prefill releases anyone
    assert rule.prefilled(leader) == [follower, late]
    third = Epoch.of(3, [call(shared + [4], msg="4"), call(shared + [5], msg="5")])
    rule.rewrite(third)  # the prefix is warm now: no leader, nobody waits
    assert [(r.leader, r.after) for r in third.requests] == [(False, None), (False, None)]
    rule.forget()
    fourth = Epoch.of(4, [call(shared + [6], msg="6"), call(shared + [7, 7, 7, 7], msg="7")])
    rule.rewrite(fourth)
    assert sum(r.leader for r in fourth.requests) == 1
