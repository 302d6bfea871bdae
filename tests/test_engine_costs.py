"""The cost model on the real engine: step records, calibration and its cache, the run report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from halo_core import Session
from halo_core.scheduler.calibration import cache_path, load_or_calibrate
from halo_core.scheduler.cost_model import StepCost

#: A shared prompt head several KV blocks long, so later calls find it cached.
PREFIX = "You review short product descriptions for an online shop and answer in one line. " * 12


def ask(session: Session, x: int) -> str:
    return session.chat([{"role": "user", "content": f"{PREFIX}Item {x}: a mug."}], max_tokens=12)


@pytest.mark.engine
def test_step_records_account_for_every_computed_and_generated_token(halo: Session) -> None:
    engine = halo.engines["tiny"]
    before, seen = engine.counters(), len(engine.step_records())
    report = halo.run(lambda x: ask(halo, x).text, range(24), progress=False)
    done = engine.counters() - before
    steps = engine.step_records()[seen:]
    assert len(steps) == done.steps > 0
    executed = [r for r in report.records if r.kind == "llm" and r.executed]
    assert sum(r.cached_tokens for r in executed) > 0  # the shared prefix was cached
    assert sum(s.shape.prefill_tokens for s in steps) == sum(r.computed_tokens for r in executed)
    # every output token but a request's first (sampled by its prefill step) is a decode
    assert sum(s.shape.decode_seqs for s in steps) == done.generation_tokens - done.requests
    assert sum(s.seconds for s in steps) == pytest.approx(done.step_s)


@pytest.mark.engine
def test_the_report_shows_predicted_against_measured_engine_time(halo: Session) -> None:
    assert isinstance(halo.calibrated["tiny"], StepCost) and halo.calibrated["tiny"].samples > 0
    report = halo.run(lambda x: ask(halo, x).text, range(16), progress=False)
    t = report.engine_time["tiny"]
    assert t.measured_s == report.engine["tiny"].step_s > 0
    assert t.predicted_s is not None and t.predicted_s > 0 and t.error is not None
    assert f"engine tiny      {t.measured_s:.2f} s busy, {t.predicted_s:.2f} s predicted" in (
        report.format()
    )
    m = report.makespan  # the calls replayed closed-loop: first submission to last end
    assert m is not None and m.measured_s > 0 and m.predicted_s is not None and m.predicted_s > 0
    assert f"calls' makespan  {m.measured_s:.2f} s, {m.predicted_s:.2f} s predicted" in (
        report.format()
    )


@pytest.mark.engine
def test_calibration_is_cached_per_configuration(halo: Session, tmp_path: Path) -> None:
    engine = halo.engines["tiny"]
    calibration = load_or_calibrate(engine, tmp_path)
    assert calibration is not None
    path = cache_path(engine, tmp_path)
    stored = json.loads(path.read_text())
    assert stored["cost"]["samples"] == calibration.cost.samples == len(calibration.steps) > 20
    assert stored["calibration_s"] > 0
    assert calibration.cost == StepCost.fit(calibration.steps)
    steps = engine.counters().steps
    assert load_or_calibrate(engine, tmp_path) == calibration  # read back, steps and all
    assert engine.counters().steps == steps  # not run again
    path.write_text("{not json")
    again = load_or_calibrate(engine, tmp_path)
    assert again is not None and again.cost.samples > 20  # a broken file is redone
    assert json.loads(path.read_text())["cost"]["samples"] > 20
