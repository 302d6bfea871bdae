"""Stages of the oracle replay (no engine): a call's stage is its LLM depth in its instance."""

from __future__ import annotations

from typing import Literal

from halo_core.graph import CallRecord
from halo_core.oracle import stages


def _rec(
    call_id: int, kind: Literal["llm", "tool"], parent: int | None, merged_into: int | None = None
) -> CallRecord:
    return CallRecord(call_id, kind, 0, "n", parent=parent, merged_into=merged_into, dispatched_s=0)


def test_stages_follow_parents_whatever_their_ids() -> None:
    # parallel branches number and record calls in different orders: parents may have higher ids
    records = [
        _rec(9, "llm", None),
        _rec(4, "tool", 9),
        _rec(3, "llm", 4),  # after the tool after LLM 9: stage 1
        _rec(2, "llm", 3),  # stage 2
        _rec(1, "llm", 3, merged_into=2),  # served by a merge: not replayed
    ]
    by_stage = stages(records)
    assert {k: [r.call_id for r in v] for k, v in by_stage.items()} == {0: [9], 1: [3], 2: [2]}
