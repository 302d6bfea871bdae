"""The dedup rule: identical calls of one epoch become one request."""

from __future__ import annotations

from halo_core.config import OptimizerConfig
from halo_core.optimizer import Epoch
from halo_core.optimizer.dedup import Dedup, merge
from tests.optimizer.calls import call


def test_dedup_merges_identical_calls_in_first_seen_order() -> None:
    a1, b, a2 = call([1], msg="a"), call([2], msg="b"), call([1], msg="a")
    merged = merge([a1, b, a2])
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
    merged = merge([base, *variants, *(call([1], msg="a", extra=e) for e in extras)])
    assert len(merged) == 8


def test_sampled_calls_merge_only_on_request() -> None:
    s1, s2 = call([1], temperature=0.7), call([1], temperature=0.7)
    assert len(merge([s1, s2])) == 2
    assert len(merge([s1, s2], merge_sampled=True)) == 1
    seeded = [call([1], temperature=0.7, seed=1), call([1], temperature=0.7, seed=1)]
    assert len(merge(seeded)) == 1


def test_the_rule_rewrites_an_epoch_with_its_configured_options() -> None:
    s1, s2, a = call([1], temperature=0.7), call([1], temperature=0.7), call([2], msg="a")
    rule = Dedup()
    epoch = Epoch.of(1, [s1, s2, a])
    rule.rewrite(epoch)
    assert [r.callers for r in epoch.requests] == [[s1], [s2], [a]]
    rule.configure(OptimizerConfig(merge_sampled=True))
    rule.rewrite(epoch)
    assert [r.callers for r in epoch.requests] == [[s1, s2], [a]]
