"""The replica scaling simulation (benchmarks.ray_scaling) on a small synthetic recorded batch."""

from __future__ import annotations

import dataclasses

from benchmarks.ray_scaling import Recorded, copied, simulate
from halo_core.graph import CallRecord
from halo_core.scheduler.cost_model import StepCost
from halo_core.scheduler.forecast import calls_of


def _recorded(instances: int = 64) -> Recorded:
    """Each instance: a call of node a (800 cached prompt tokens), a 0.2 s tool, a call of b."""
    calls, cid = [], 0
    for i in range(instances):
        t = i * 0.01
        for node, start in (("a", t), ("tool", t + 0.1), ("b", t + 0.4)):
            llm = node != "tool"
            calls.append(
                CallRecord(
                    cid, "llm" if llm else "tool", i, node, "S" if llm else "",
                    prompt_tokens=900 if llm else 0, cached_tokens=800 if llm else 0,
                    output_tokens=20 if llm else 0, submitted_s=start, dispatched_s=start,
                    finished_s=start + (0.05 if llm else 0.2),
                )
            )  # fmt: skip
            cid += 1
    cost = StepCost(c0=0.01, prefill=1e-5, decode=1e-4, context=1e-7)
    engines = {"S": {"cost": dataclasses.asdict(cost), "budget": 2048, "max_seqs": 16}}
    return Recorded([dataclasses.asdict(c) for c in calls], engines)


def test_copies_keep_each_copy_s_chains_apart() -> None:
    calls = calls_of(_recorded(4).records())
    two = copied(calls, 2)
    assert len(two) == 2 * len(calls)
    assert len({c.call_id for c in two}) == len(two)
    assert all(c.after is None or c.after >= len(calls) for c in two[len(calls) :])


def test_more_replicas_finish_sooner_and_prefix_placement_prefills_less() -> None:
    rec = _recorded()
    one = simulate(rec, 1, "prefix", copies=4)
    four = {p: simulate(rec, 4, p, copies=4) for p in ("prefix", "round_robin", "random")}
    assert all(r["makespan_s"] < one["makespan_s"] for r in four.values())
    assert one["cold_tokens"] == 2 * 800  # each node's prefix, once
    assert four["prefix"]["cold_tokens"] < four["round_robin"]["cold_tokens"]
