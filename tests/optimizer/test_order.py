"""The order rule: prefix-group leaders go first, longest prompt first."""

from __future__ import annotations

from halo_core.optimizer import Epoch
from halo_core.optimizer.order import Order
from halo_core.optimizer.prefix_groups import PrefixGroups
from halo_core.scheduler import EpochPlan
from tests.optimizer.calls import call


def test_dispatch_order_sends_leaders_and_loners_now() -> None:
    shared = list(range(8))
    calls = [call(shared + [1], msg="a"), call(shared + [2], msg="b"), call([7] * 5, msg="c")]
    epoch = Epoch.of(1, calls)
    PrefixGroups({"m": 4}).rewrite(epoch)
    Order().rewrite(epoch)
    now = EpochPlan(1, epoch.requests, len(calls)).now
    leaders = [r for r in epoch.requests if r.leader]
    followers = [r for r in epoch.requests if r.after is not None]
    assert len(leaders) == 1 and len(followers) == 1
    assert now[0] is leaders[0] and now[1].rep is calls[2]
    assert all(f not in now for f in followers)


def test_longest_leader_goes_first_and_the_rest_keep_their_order() -> None:
    a, b = list(range(8)), list(range(100, 108))
    calls = [call(a + [1], msg="a1"), call(a + [2], msg="a2"), call([5], msg="x")]
    calls += [call(b + [1] * 9, msg="b1"), call(b + [2], msg="b2")]
    epoch = Epoch.of(1, calls)
    PrefixGroups({"m": 4}).rewrite(epoch)
    Order().rewrite(epoch)
    reps = [r.rep for r in epoch.requests]
    assert reps[:2] == [calls[3], calls[0]]  # both leaders, the longer prompt first
    assert reps[2:] == [calls[2], calls[1], calls[4]]
