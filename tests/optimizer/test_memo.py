"""The memo rule: identical calls join an execution in flight or reuse a finished one."""

from __future__ import annotations

from halo_core.calls import ToolCall
from halo_core.config import OptimizerConfig
from halo_core.optimizer import Joined, Served
from halo_core.optimizer.memo import Memo
from tests.optimizer.calls import call


def test_a_call_joins_the_identical_call_in_flight_then_reuses_its_result() -> None:
    memo = Memo()
    first, again, later = call([1], msg="a"), call([1], msg="a"), call([1], msg="a")
    assert memo.admit(first) is None
    memo.scheduled(first)
    assert memo.admit(again) == Joined(first.call_id)
    result = {"rows": [1]}
    memo.finished(first, result)
    served = memo.admit(later)
    assert served == Served(first.call_id, result)
    assert isinstance(served, Served) and served.value is not result  # each caller its own copy


def test_failed_calls_are_not_memoized_and_forget_clears_results() -> None:
    memo = Memo()
    a, b = call([1], msg="a"), call([2], msg="b")
    for c, result in ((a, RuntimeError("down")), (b, "ok")):
        memo.scheduled(c)
        memo.finished(c, result)
    assert memo.admit(call([1], msg="a")) is None
    assert memo.admit(call([2], msg="b")) == Served(b.call_id, "ok")
    memo.forget()
    assert memo.admit(call([2], msg="b")) is None


def test_sampled_calls_and_impure_tools_are_never_served() -> None:
    memo = Memo()
    s = call([1], temperature=0.7)
    memo.scheduled(s)
    assert memo.admit(call([1], temperature=0.7)) is None
    memo.configure(OptimizerConfig(merge_sampled=True))
    s2 = call([1], temperature=0.7)
    memo.scheduled(s2)
    assert memo.admit(call([1], temperature=0.7)) == Joined(s2.call_id)

    def lookup(x: int) -> int:
        return x

    impure = ToolCall(100, lookup, (1,), {}, pure=False)
    memo.scheduled(impure)
    assert memo.admit(ToolCall(101, lookup, (1,), {}, pure=False)) is None
    pure = ToolCall(102, lookup, (1,), {}, pure=True)
    memo.scheduled(pure)
    assert memo.admit(ToolCall(103, lookup, (1,), {}, pure=True)) == Joined(102)


def test_a_finished_call_no_longer_joins_when_a_later_twin_took_its_key() -> None:
    memo = Memo()
    a1, a2 = call([1], msg="a"), call([1], msg="a")  # e.g. dedup off: two identical requests
    memo.scheduled(a1)
    memo.scheduled(a2)
    memo.finished(a1, "one")
    assert memo.admit(call([1], msg="a")) == Served(a1.call_id, "one")
