"""The online benchmark's report (:mod:`benchmarks.serve_bench`): ``report.md`` with a table per
workload and the saturation / goodput ratios, and ``serve.png`` (throughput and p95 latency
against the offered rate)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SYSTEMS = ("langgraph", "halo")
LABELS = {"langgraph": "LangGraph server + vllm serve", "halo": "halo serve"}


def goodput(points: list[Any], slo_s: float) -> float:
    """The highest offered rate at which every run finished and p95 stayed within ``slo_s``."""
    ok = [p.rate for p in points if p.failed == 0 and (p.quantile(0.95) or 0.0) <= slo_s]
    return max(ok, default=0.0)


def _s(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def write_serve_report(
    out: Path,
    points: Mapping[tuple[str, str, float], Any],
    lone: Mapping[tuple[str, str], float],
    slo_x: float,
    command: str,
) -> Path:
    """Write ``report.md``, ``summary.json`` and ``serve.png`` into ``out``; the report's path."""
    names = sorted({w for _, w, _ in points})
    lines = [f"# halo serve vs LangGraph's server\n\n`{command}`\n"]
    summary: dict[str, Any] = {}
    for n in names:
        by = {s: sorted((p for (t, w, _), p in points.items() if t == s and w == n),
                        key=lambda p: p.rate) for s in SYSTEMS}  # fmt: skip
        slo = slo_x * lone.get(("langgraph", n), lone.get(("halo", n), 0.0))
        sat = {s: max((p.throughput for p in by[s]), default=0.0) for s in SYSTEMS}
        good = {s: goodput(by[s], slo) for s in SYSTEMS}
        summary[n] = {
            "lone_s": {s: lone.get((s, n)) for s in SYSTEMS},
            "saturation_runs_per_s": sat,
            "saturation_ratio": sat["halo"] / sat["langgraph"] if sat["langgraph"] else None,
            "goodput_rate": good,
            "goodput_ratio": good["halo"] / good["langgraph"] if good["langgraph"] else None,
        }
        lines += [
            f"\n## {n}\n",
            f"Lone run: LangGraph {_s(lone.get(('langgraph', n)))} s, Halo "
            f"{_s(lone.get(('halo', n)))} s; goodput SLO: p95 within {slo_x:g} x LangGraph's "
            f"lone run = {slo:.1f} s.\n",
            "| offered runs/s | LangGraph runs/s | p50 s | p95 s | p99 s | failed | Halo runs/s "
            "| p50 s | p95 s | p99 s | failed | outputs equal | CPU s per run: LangGraph "
            "(client + servers) | Halo (serving process + engine host) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
        ]
        at = {s: {p.rate: p for p in by[s]} for s in SYSTEMS}
        for rate in sorted(at["langgraph"].keys() | at["halo"].keys()):
            b, h = at["langgraph"].get(rate), at["halo"].get(rate)
            cells = [f"{rate:g}", *_cells(b), *_cells(h)]
            equal = f"{h.equal}/{min(h.finished, b.finished)}" if b and h else "–"
            cells += [equal, _cpu(b), _cpu(h)]
            lines.append("| " + " | ".join(cells) + " |")
        s = summary[n]
        lines.append(
            f"\nSaturation throughput {sat['langgraph']:.2f} → {sat['halo']:.2f} runs/s "
            f"(**{_s(s['saturation_ratio'])}x**); goodput {good['langgraph']:g} → "
            f"{good['halo']:g} runs/s (**{_s(s['goodput_ratio'])}x**)."
        )
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    _plot(out / "serve.png", names, points)
    lines.append("\n![serve](serve.png)\n")
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


def _cells(p: Any) -> list[str]:
    """One system's cells at one rate: runs/s, p50 / p95 / p99, failed (dashes: not run)."""
    if p is None:
        return ["–"] * 5
    return [f"{p.throughput:.2f}", *(_s(p.quantile(q)) for q in (0.5, 0.95, 0.99)), str(p.failed)]


def _cpu(p: Any) -> str:
    """CPU seconds per finished run: this process + its children."""
    if p is None:
        return "–"
    n = max(p.finished, 1)
    return f"{p.process_cpu_s / n:.2f} + {p.children_cpu_s / n:.2f}"


def _plot(path: Path, names: list[str], points: Mapping[tuple[str, str, float], Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(names), figsize=(4.5 * len(names), 7), squeeze=False)
    for col, n in enumerate(names):
        for s in SYSTEMS:
            ps = sorted((p for (t, w, _), p in points.items() if t == s and w == n),
                        key=lambda p: p.rate)  # fmt: skip
            rates = [p.rate for p in ps]
            axes[0][col].plot(rates, [p.throughput for p in ps], marker="o", label=LABELS[s])
            axes[1][col].plot(rates, [p.quantile(0.95) for p in ps], marker="o", label=LABELS[s])
        axes[0][col].set_title(n)
        axes[0][col].set_ylabel("runs finished / s")
        axes[1][col].set_ylabel("p95 latency s")
        axes[1][col].set_yscale("log")
        for ax in axes[:, col]:
            ax.set_xlabel("offered runs / s")
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
