"""The closed-loop makespan forecast (halo_core.scheduler.forecast) on plain data."""

from __future__ import annotations

import pytest

from halo_core.graph import CallRecord
from halo_core.scheduler.cost_model import EngineWork, StepCost, Work
from halo_core.scheduler.forecast import CallSpec, calls_of, forecast

FLAT = StepCost(c0=0.01, prefill=0.0, decode=0.0, context=0.0)  # every step 10 ms
ENGINES = {"m": EngineWork((), FLAT, token_budget=2048, max_seqs=256)}
LLM = Work(prefill_tokens=10, cached_tokens=0, output_tokens=3)  # 3 steps: prefill+1st, 2 decodes


def test_one_chain_adds_gaps_engine_steps_and_tool_time() -> None:
    calls = [
        CallSpec(1, None, 0.1, engine="m", work=LLM),
        CallSpec(2, 1, 0.05, run_s=1.0),
        CallSpec(3, 2, 0.0, engine="m", work=LLM),
    ]
    f = forecast(calls, ENGINES)
    assert f.makespan_s == pytest.approx(0.1 + 0.03 + 0.05 + 1.0 + 0.03)
    assert f.busy_s == {"m": pytest.approx(0.06)}


def test_instances_that_call_together_share_steps() -> None:
    calls = [CallSpec(i, None, 0.0, engine="m", work=LLM) for i in range(100)]
    assert forecast(calls, ENGINES).makespan_s == pytest.approx(0.03)  # one batch, 3 steps


def test_a_merged_call_ends_with_its_source_and_its_instance_goes_on() -> None:
    calls = [
        CallSpec(1, None, 0.0, run_s=2.0),
        CallSpec(2, None, 0.5, source=1),  # joins the running tool at 0.5, ends at 2.0
        CallSpec(3, 2, 0.1, run_s=1.0),
        CallSpec(4, None, 0.0, source=99),  # served by a call outside the batch: at once
    ]
    assert forecast(calls, ENGINES).makespan_s == pytest.approx(3.1)


def test_calls_of_reads_triggers_and_gaps_from_a_run() -> None:
    def rec(i: int, inst: int, kind: str, sub: float, disp: float, fin: float, **kw: object):
        return CallRecord(
            i, kind, inst, "n", model="m", submitted_s=sub, dispatched_s=disp, finished_s=fin, **kw
        )

    records = [
        rec(1, 7, "llm", 10.0, 10.0, 10.5, prompt_tokens=30, cached_tokens=10, output_tokens=4),
        rec(2, 7, "tool", 10.6, 10.6, 11.6),  # after call 1, 0.1 s of the workflow's own time
        rec(3, 7, "tool", 10.6, 10.6, 12.0),  # a parallel branch: the same trigger
        rec(4, 7, "llm", 12.2, 12.2, 12.4, merged_into=9),  # after call 3 (the later end)
        rec(5, 8, "llm", 11.0, None, None),  # never finished: left out
    ]
    specs = {c.call_id: c for c in calls_of(records)}
    assert set(specs) == {1, 2, 3, 4}
    assert (specs[1].after, specs[1].gap_s) == (None, 0.0)
    assert specs[1].work == Work(20, 10, 4)
    assert (specs[2].after, specs[2].gap_s, specs[2].run_s) == (1, pytest.approx(0.1), 1.0)
    assert specs[3].after == 1
    assert (specs[4].after, specs[4].source) == (3, 9)
    assert specs[4].gap_s == pytest.approx(0.2)


def test_an_llm_call_on_an_engine_not_simulated_takes_its_measured_time() -> None:
    calls = [CallSpec(1, None, 0.2, engine="remote", work=LLM, run_s=0.7)]
    assert forecast(calls, ENGINES).makespan_s == pytest.approx(0.9)


def test_engines_on_one_device_take_turns_and_on_two_devices_step_at_once() -> None:
    two = {k: EngineWork((), FLAT, token_budget=2048, max_seqs=256) for k in ("a", "b")}
    calls = [CallSpec(i, None, 0.0, engine="ab"[i % 2], work=LLM) for i in range(20)]
    shared = forecast(calls, two)  # one device: 3 steps each, in turns
    apart = forecast(calls, two, devices={"a": "gpu0", "b": "gpu1"})
    assert shared.makespan_s == pytest.approx(0.06)
    assert apart.makespan_s == pytest.approx(0.03)
    assert apart.busy_s == shared.busy_s == {"a": pytest.approx(0.03), "b": pytest.approx(0.03)}
