"""The cost model as plain data: the NNLS fit, the continuous-batching simulation, tool latency."""

from __future__ import annotations

import random

import numpy as np
import pytest

from halo_core.scheduler.calibration import phases
from halo_core.scheduler.cost_model import (
    EngineWork,
    Simulated,
    StepCost,
    StepRecord,
    StepShape,
    ToolLatency,
    Work,
    nnls,
    refit,
)
from halo_core.scheduler.forecast import simulate_shared

COST = StepCost(c0=0.01, prefill=0.001, decode=0.002, context=0.0)


def simulate(work: list[Work], cost: StepCost, *, token_budget: int, max_seqs: int) -> Simulated:
    """One engine alone on its device."""
    return simulate_shared({"e": EngineWork(work, cost, token_budget, max_seqs)})["e"]


def test_nnls_matches_least_squares_when_it_is_non_negative_and_clips_otherwise() -> None:
    a = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert np.allclose(nnls(a, np.array([1.0, 2.0, 3.0])), [1.0, 2.0])
    # unconstrained x = (2, -1); the best non-negative one drops the second column
    x = nnls(np.array([[1.0, 1.0], [1.0, 2.0]]), np.array([1.0, 0.0]))
    assert x[1] == 0 and x[0] == pytest.approx(0.5)


def test_fit_recovers_the_coefficients_of_exact_step_times() -> None:
    rng = random.Random(0)
    truth = StepCost(0.005, 2e-4, 1e-3, 1e-5)
    records = []
    for _ in range(60):
        shape = StepShape(rng.randint(0, 500), rng.randint(0, 20), rng.randint(0, 3000))
        records.append(StepRecord(shape, truth.seconds(shape)))
    fit = StepCost.fit(records)
    for name in ("c0", "prefill", "decode", "context"):
        assert getattr(fit, name) == pytest.approx(getattr(truth, name), rel=1e-6)
    assert fit.samples == 60 and fit.error(records) == pytest.approx(0, abs=1e-9)


def test_fit_never_goes_negative_on_noisy_steps() -> None:
    rng = random.Random(1)
    records = [
        StepRecord(StepShape(p, d, 10 * d), max(0.0, 0.02 + 1e-5 * p + rng.gauss(0, 0.01)))
        for p, d in ((rng.randint(0, 64), rng.randint(0, 4)) for _ in range(40))
    ]
    fit = StepCost.fit(records)
    assert min(fit.c0, fit.prefill, fit.decode, fit.context) >= 0
    with pytest.raises(ValueError, match="at least one"):
        StepCost.fit([])


def test_a_refit_keeps_the_calibrations_steps_where_recent_steps_do_not_reach() -> None:
    rng = random.Random(2)
    truth = StepCost(0.002, 5e-6, 2e-5, 1e-8)

    def steps(n: int, max_decode: int) -> list[StepRecord]:
        shapes = [
            StepShape(rng.randint(0, 512), rng.randint(0, max_decode), rng.randint(0, 4000))
            for _ in range(n)
        ]
        return [StepRecord(s, truth.seconds(s) * rng.uniform(0.9, 1.1)) for s in shapes]

    calibration, warm_up = steps(120, 32), steps(300, 0)  # lone prefills: no decoding at all
    batched = StepShape(0, 200, 200_000)
    alone = StepCost.fit(warm_up)
    assert alone.seconds(batched) < 0.5 * truth.seconds(batched)
    both = refit(calibration, warm_up)
    assert both.seconds(batched) == pytest.approx(truth.seconds(batched), rel=0.15)
    # a calibration run of this session is among the engine's own steps: counted once
    assert refit(calibration, [*calibration, *warm_up]) == StepCost.fit([*calibration, *warm_up])


def test_a_long_prompt_is_prefilled_in_chunks_of_the_token_budget() -> None:
    # 100 prompt tokens at 64 per step: 64, then 36 (+ first token), then two decodes
    got = simulate([Work(100, 0, 3)], COST, token_budget=64, max_seqs=4)
    assert got == Simulated(
        busy_s=pytest.approx(0.074 + 0.046 + 0.012 + 0.012),
        makespan_s=pytest.approx(0.144),
        steps=4,
    )


def test_requests_batch_into_shared_steps_up_to_max_seqs() -> None:
    together = simulate([Work(10, 0, 2)] * 3, COST, token_budget=2048, max_seqs=256)
    assert together.steps == 2 and together.busy_s == pytest.approx(0.04 + 0.016)
    one_at_a_time = simulate([Work(10, 0, 2)] * 3, COST, token_budget=2048, max_seqs=1)
    assert one_at_a_time.steps == 6 and one_at_a_time.busy_s > together.busy_s


def test_context_is_charged_per_step_and_cached_prompts_still_compute_one_token() -> None:
    cost = StepCost(0.0, 0.0, 0.0, 1.0)
    # 5 cached + 1 computed prompt token, then one decode over 6 tokens of context
    got = simulate([Work(0, 5, 2)], cost, token_budget=64, max_seqs=4)
    assert got.steps == 2 and got.busy_s == pytest.approx(5 + 6)


def test_an_idle_engine_waits_for_the_next_arrival() -> None:
    got = simulate(
        [Work(10, 0, 2, arrival_s=5.0), Work(10, 0, 2, arrival_s=1.0)],
        COST,
        token_budget=2048,
        max_seqs=8,
    )
    # each: a 10-token prefill step (0.02 s) and one decode step (0.012 s); idle from 1.032 to 5
    assert got.busy_s == pytest.approx(2 * (0.02 + 0.012))
    assert got.makespan_s == pytest.approx(4.0 + 0.02 + 0.012) and got.steps == 4
    assert simulate([], COST, token_budget=1, max_seqs=1) == Simulated(0.0, 0.0, 0)
    with pytest.raises(ValueError):
        simulate([Work(1, 0, 1)], COST, token_budget=0, max_seqs=1)


def test_engines_sharing_a_device_take_turns_and_batch_what_arrived_meanwhile() -> None:
    def spec(*work: Work) -> EngineWork:
        return EngineWork(list(work), COST, token_budget=2048, max_seqs=8)

    got = simulate_shared(
        {
            "a": spec(Work(10, 0, 2)),  # prefill 0.02 s at 0, decode 0.012 s at 0.04
            "b": spec(Work(10, 0, 2)),  # prefill at 0.02, decode at 0.052
        }
    )
    assert got["a"] == Simulated(pytest.approx(0.032), pytest.approx(0.052), 2)
    assert got["b"] == Simulated(pytest.approx(0.032), pytest.approx(0.064), 2)
    # b's second request arrives while a steps: b's first step prefills both (one step, 0.03 s)
    got = simulate_shared(
        {"a": spec(Work(10, 0, 1)), "b": spec(Work(10, 0, 1), Work(10, 0, 1, arrival_s=0.015))}
    )
    assert got["b"].steps == 1 and got["b"].busy_s == pytest.approx(0.03)
    assert (
        simulate(
            [Work(10, 0, 1), Work(10, 0, 1, arrival_s=0.015)], COST, token_budget=2048, max_seqs=8
        ).steps
        == 2
    )  # alone on the device, it steps before the second request arrives


def test_tool_latency_is_a_moving_average_per_tool() -> None:
    lat = ToolLatency(alpha=0.5)
    assert lat.predict("t", default=3.0) == 3.0
    lat.observe("t", 1.0)
    lat.observe("t", 3.0)
    assert lat.predict("t") == 2.0 and lat.runs == {"t": 2}


def test_calibration_phases_fit_the_context_and_the_sequence_cap() -> None:
    for max_len, max_seqs in ((1024, 256), (256, 4), (8192, 1)):
        for phase in phases(max_len, max_seqs):
            assert 1 <= len(phase) <= max_seqs
            assert all(words + out < max_len for words, out in phase)
