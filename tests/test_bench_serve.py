"""The online benchmark's arithmetic and report (the benchmark itself runs real servers and is
run by hand: ``python -m benchmarks.serve_bench``)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.report_serve import goodput, write_serve_report
from benchmarks.serve_bench import Point, arrivals


def test_arrivals_are_seeded_poisson_at_the_rate() -> None:
    times = arrivals(10.0, 100.0, seed=3)
    assert times == arrivals(10.0, 100.0, seed=3) != arrivals(10.0, 100.0, seed=4)
    assert 900 < len(times) < 1100 and times == sorted(times) and times[-1] < 100.0


def _point(system: str, rate: float, latencies: list[float], failed: int = 0) -> Point:
    p = Point(system, "W1", rate, len(latencies) + failed, len(latencies), failed, span_s=10.0)
    p.latencies_s = sorted(latencies)
    p.equal = len(latencies) if system == "halo" else None
    return p


def test_goodput_is_the_highest_rate_within_the_slo_without_failures() -> None:
    points = [
        _point("halo", 1, [1.0] * 20),
        _point("halo", 2, [1.0] * 19 + [9.0]),  # p95 1.4: within 2 s
        _point("halo", 4, [3.0] * 20),  # p95 too high
        _point("halo", 8, [1.0] * 20, failed=1),  # a failure
    ]
    assert points[1].quantile(0.95) is not None and points[1].quantile(0.95) < 2.0
    assert goodput(points, slo_s=2.0) == 2


def test_the_report_gives_saturation_and_goodput_ratios(tmp_path: Path) -> None:
    points = {}
    for rate in (1.0, 2.0, 4.0):
        points["langgraph", "W1", rate] = _point("langgraph", rate, [1.0 * rate] * int(10 * rate))
        points["halo", "W1", rate] = _point("halo", rate, [0.5] * int(20 * rate))
    lone = {("langgraph", "W1"): 1.0, ("halo", "W1"): 0.5}
    report = write_serve_report(tmp_path, points, lone, 2.5, "python -m benchmarks.serve_bench")
    text = report.read_text()
    assert "Saturation throughput 4.00 → 8.00 runs/s (**2.00x**)" in text
    assert "goodput 2 → 4 runs/s (**2.00x**)" in text
    assert (tmp_path / "serve.png").stat().st_size > 1000


def test_a_run_of_one_system_reports_its_rates_with_dashes_for_the_other(tmp_path: Path) -> None:
    points = {("halo", "W1", 48.0): _point("halo", 48.0, [2.0] * 40)}
    points["halo", "W1", 48.0].process_cpu_s, points["halo", "W1", 48.0].children_cpu_s = 8, 20
    report = write_serve_report(tmp_path, points, {("halo", "W1"): 0.5}, 5.0, "serve_bench")
    row = next(line for line in report.read_text().splitlines() if line.startswith("| 48 |"))
    assert row == "| 48 | – | – | – | – | – | 4.00 | 2.00 | 2.00 | 2.00 | 0 | – | – | 0.20 + 0.50 |"
