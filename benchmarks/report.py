"""The benchmark's report: ``report.md`` with the table (and the ablation's, with ``--ablate``),
``speedup.png`` and ``time.png``, ``results.json``; and the rows kept from an earlier run of the
same settings (``--resume``)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def kept_rows(out: Path, settings: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The rows in ``out/rows`` measured with ``settings``, by workload."""
    rows = {}
    for f in sorted((out / "rows").glob("*.json")):
        row = json.loads(f.read_text())
        if row.get("settings") == settings:
            rows[row["workload"]] = row
    return rows


def write_rows(out: Path, rows: Mapping[str, Any], meta: dict[str, Any], started: float) -> Path:
    """The report of ``rows`` (by workload, written in name order) with ``meta`` and the
    totals: the rows' time, this process's since ``started``, the geomeans; returns report.md."""
    ordered = [rows[k] for k in sorted(rows)]
    meta = {
        **meta,
        "total_s": sum(r["elapsed_s"] for r in ordered),
        "process_s": time.perf_counter() - started,
        "geomean_speedup": _geomean([r["speedup"] for r in ordered]),
        "geomean_oracle_fraction": _geomean([r["oracle_fraction"] for r in ordered]),
        "geomean_bound_fraction": _geomean(
            [r.get("bound_fraction", r["oracle_fraction"]) for r in ordered]
        ),
    }
    return write_report(out, ordered, meta)


def _geomean(xs: Sequence[float]) -> float:
    xs = [x for x in xs if x > 0]
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else float("nan")


def write_report(out: Path, rows: list[dict[str, Any]], meta: dict[str, Any]) -> Path:
    """``report.md`` with the table, plus ``speedup.png`` and ``time.png``; returns report.md."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    lines = [
        f"# Halo benchmark, {meta['date']}",
        "",
        f"`{meta['command']}` — {meta['machine']}; models {meta['models']}; "
        f"HTTP latency scale {meta['latency_scale']}; rows took {meta['total_s'] / 60:.1f} min "
        f"(this process {meta['process_s'] / 60:.1f} min, with start-up).",
        "",
        "| workload | N | baseline s (best c, binding) | Halo s | oracle s | "
        "longest tool chain s | speedup | oracle/Halo | bound/Halo | "
        "LLM calls issued → engine requests (base → Halo) | prompt tokens computed "
        "(base → Halo) | tool calls issued → run | engine busy s | "
        "plan s (share of Halo's wall) | outputs equal | "
        "engine steps (base → Halo → oracle) | s in steps: Halo (cost model's prediction, "
        "error) / oracle | calls' makespan: Halo (cost model's closed-loop forecast, error) | "
        "oracle replay: calls with changed output |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|---:|---:|---|---|---|---|---|",
    ]
    for r in rows:
        b, h, o = r["baseline"], r["halo"], r["oracle"]
        lines.append(
            f"| {r['workload']} {r['title']} | {h['n']} | {b['wall_s']:.1f} ({b['detail']}) | "
            f"{h['wall_s']:.1f} | {o['wall_s']:.1f} | {r.get('tool_chain_s', 0):.1f} | "
            f"**{r['speedup']:.2f}x** | {r['oracle_fraction']:.2f} | "
            f"{r.get('bound_fraction', r['oracle_fraction']):.2f} | "
            f"{h['llm_issued']} → {b['engine_requests']} → "
            f"{h['engine_requests']} | {b['prompt_tokens'] - b['cached_tokens']:,} → "
            f"{h['prompt_tokens'] - h['cached_tokens']:,} | {h['tool_issued']} → "
            f"{h['tool_executed']} | {h['engine_busy_s']:.1f} | "
            f"{h['plan_s']:.2f} ({h['plan_s'] / h['wall_s']:.1%}) | "
            f"{_equal(r)} | {_steps(b)} → {_steps(h)} → {_steps(o)} | "
            f"{h.get('step_s', 0):.1f}{_prediction(h)} / {o.get('step_s', 0):.1f} | "
            f"{_makespan(h)} | {o['detail'].split('; ')[-1]} |"
        )
    ablated = [r for r in rows if r.get("ablation")]
    if ablated:
        cases = list(dict.fromkeys(c for r in ablated for c in r["ablation"]))
        lines += [
            "",
            "Ablation: Halo's wall time with one decision off or flipped (x = slowdown against "
            "the run's configuration; outputs equal to that run's):",
            "",
            "| workload | everything on s | " + " | ".join(cases) + " |",
            "|---|---:|" + "---:|" * len(cases),
        ]
        for r in ablated:
            cells = [
                f"{a['wall_s']:.1f} ({a['slowdown']:.2f}x, {a['equal']}/{r['halo']['n']})"
                if (a := r["ablation"].get(c))
                else "—"
                for c in cases
            ]
            lines.append(
                f"| {r['workload']} | {r['halo']['wall_s']:.1f} | " + " | ".join(cells) + " |"
            )
    lines += [
        "",
        "Baseline runs (highest concurrency first on the first CPU binding, then each other "
        "binding at the best concurrency; a run slower than the best so far is stopped):",
    ]
    for r in rows:
        runs = "; ".join(
            f"{m['detail']}" + ("" if m["stopped"] else f": {m['wall_s']:.1f} s")
            for m in r["baseline_all"]
        )
        lines.append(f"- {r['workload']}: {runs}; this row took {r['elapsed_s'] / 60:.1f} min")
    lines += [
        "",
        f"Geomean speedup **{meta['geomean_speedup']:.2f}x**; geomean oracle/Halo "
        f"{meta['geomean_oracle_fraction']:.2f} (1.0 = Halo as fast as the engine-only replay); "
        f"geomean bound/Halo {meta['geomean_bound_fraction']:.2f} (bound = max(oracle, the "
        "longest tool chain one instance must wait through, (the workflow's own CPU + the "
        "oracle's CPU) / cores): what no schedule on this machine can beat; the workflow's own "
        "CPU is the framework alone's (the graph on instant models, pure tools once per "
        f"distinct call) for {_alone(rows)}, else the smaller of the baseline's and Halo's "
        "workflow process, an upper estimate).",
        "",
        "![speedup](speedup.png) ![time](time.png)",
        "",
    ]
    _plots(out, rows)
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


def _alone(rows: list[dict[str, Any]]) -> str:
    """The workloads whose framework-alone CPU was measured, with it (or "none")."""
    measured = [
        f"{r['workload']} ({r['framework']['process_cpu_s']:.1f} CPU-s)"
        for r in rows
        if r.get("framework")
    ]
    return ", ".join(measured) or "none"


def _equal(r: dict[str, Any]) -> str:
    """Instances equal; for the differing ones, how many took output from a call that the
    oracle's replay answered differently, how many agree when re-run alone, and in how many
    each system's batch output is not what it returns alone."""
    text = f"{r['equal']}/{r['halo']['n']}"
    if not r.get("differing"):
        return text
    alone = r["rechecked_alone"]

    def count(key: str, want: bool) -> int:
        return sum(a[key] == want for a in alone)

    return (
        f"{text} ({len(r['fed_by_variant_call'])} of {len(r['differing'])} fed by a "
        f"batch-variant call; re-run alone {count('equal_alone', True)}/{len(alone)} equal; "
        f"batch output not the lone one: Halo {count('halo_batch_as_alone', False)}, "
        f"baseline {count('baseline_batch_as_alone', False)})"
    )


def _prediction(m: Mapping[str, Any], key: str = "step_s") -> str:
    """`` (predicted, ±error)`` for a row that has the cost model's prediction of ``key``."""
    predicted, measured = m.get(f"predicted_{key}"), m.get(key) or 0
    if predicted is None or not measured:
        return ""
    return f" ({predicted:.1f}, {(predicted - measured) / measured:+.0%})"


def _makespan(m: Mapping[str, Any]) -> str:
    """Halo's calls' makespan with its closed-loop forecast, or ``-`` (rows without it)."""
    if not m.get("makespan_s"):
        return "-"
    return f"{m['makespan_s']:.1f}{_prediction(m, 'makespan_s')}"


def _steps(m: dict[str, Any]) -> str:
    """A run's engine steps ("?" for rows measured before steps were counted)."""
    return f"{m['engine_steps']:,}" if m.get("engine_steps") else "?"


def _plots(out: Path, rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["workload"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(names, [r["speedup"] for r in rows], color="#3b7dd8")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_ylabel("speedup vs LangGraph on vllm serve")
    fig.tight_layout()
    fig.savefig(out / "speedup.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4))
    x = range(len(rows))
    for offset, system in ((-0.27, "baseline"), (0.0, "halo"), (0.27, "oracle")):
        walls = [r[system]["wall_s"] for r in rows]
        if system == "halo":
            eng = [r["halo"]["engine_busy_s"] for r in rows]
            tools = [r["halo"]["tool_only_s"] for r in rows]
            rest = [max(0.0, w - e - t) for w, e, t in zip(walls, eng, tools, strict=True)]
            xs = [i + offset for i in x]
            ax.bar(xs, eng, 0.25, label="Halo: engine busy", color="#3b7dd8")
            ax.bar(xs, tools, 0.25, bottom=eng, label="Halo: tools only", color="#f2a541")
            bottom = [e + t for e, t in zip(eng, tools, strict=True)]
            ax.bar(xs, rest, 0.25, bottom=bottom, label="Halo: other", color="#bbbbbb")
        else:
            color = "#d85b3b" if system == "baseline" else "#5bb870"
            ax.bar([i + offset for i in x], walls, 0.25, label=system, color=color)
    ax.set_xticks(list(x), names)
    ax.set_ylabel("makespan (s)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "time.png", dpi=120)
    plt.close(fig)
