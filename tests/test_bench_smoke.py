"""CI smoke run of the seven-workload benchmark: every workload under all three systems and the
framework alone, N = 64, HTTP latency scaled down. Checks that everything runs and outputs
match; never timings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.engine, pytest.mark.slow]


def test_quick_benchmark_runs_all_workloads_with_equal_outputs(tmp_path: Path) -> None:
    from benchmarks import run

    report = run.main(["--quick", "--framework-alone", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "results.json").read_text())
    rows = {r["workload"]: r for r in data["rows"]}
    assert sorted(rows) == ["W1", "W2", "W3", "W4", "W5", "W6", "W7"]
    for name, r in rows.items():
        for system in ("baseline", "halo", "oracle"):
            assert r[system]["n"] == 64 and r[system]["wall_s"] > 0, (name, system)
        assert r["baseline"]["failed"] == r["halo"]["failed"] == 0, name
        assert r["equal"] == 64, name  # Halo's output equals the baseline's for every instance
        assert r["differing"] == r["rechecked_alone"] == [], name
        assert r["halo"]["llm_issued"] > 0 and r["oracle"]["engine_requests"] > 0, name
        for system in ("baseline", "halo", "oracle"):  # each engine's own step counter
            assert r[system]["engine_steps"] > 0, (name, system)
        assert r["halo"]["step_s"] > 0 and r["oracle"]["step_s"] > 0, name
        # the framework alone answered every call from the recorded ones
        assert r["framework"]["failed"] == 0 and r["framework"]["process_cpu_s"] > 0, name
    assert (tmp_path / "speedup.png").stat().st_size > 0 and (tmp_path / "time.png").exists()
    assert "Geomean speedup" in report.read_text()
    assert sorted(f.stem for f in (tmp_path / "rows").glob("*.json")) == sorted(rows)
    run.main(["--quick", "--out", str(tmp_path), "--resume"])  # every row kept: nothing re-run
    assert json.loads((tmp_path / "results.json").read_text())["rows"] == data["rows"]
