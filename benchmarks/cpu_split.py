"""Where a Halo run's CPU goes: the workflow's own process vs. the engines.

    python -m benchmarks.cpu_split --workload W3 --n 256 [--gil]

Runs one suite workload (full HTTP latency, the tiny S / M / L models) under Halo once per
``--backends`` entry in one process run — ``vllm-host`` (the engine host, the default),
``vllm`` (engine cores in this process), ``vllm-mp`` (vLLM's own core process per engine) —
then replays the first run's LLM calls with nothing else (the oracle), then runs the graph
without Halo on chat models that answer at once from the first run's recorded answers, its pure
tools computed once per distinct call as under Halo (:mod:`benchmarks.framework_alone`: the
framework alone). It prints per run: wall time, CPU seconds
of this process (the workflow's Python: LangGraph, LangChain, tools, the HTTP service's
threads, Halo, and in-process engine cores), per requested LLM call, Halo's own CPU per
requested call (the framework-alone run's CPU taken off), CPU seconds of its child processes
(the engine host, engine cores under ``vllm-mp``), and the engines' steps with their mean time
(the fixed cost per step, on the tiny models).

With the engines out of the process, this process's CPU seconds are what the workflow side
needs under one GIL: a floor under Halo's wall time that no engine schedule lowers, and one the
engine-only oracle does not see. ``--gil`` samples the GIL holder of each run with
``py-spy`` (``pip install py-spy``) and prints the frames that hold it longest.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.fleet import ROLES, model_dirs, served_as_halo
from benchmarks.framework_alone import run_framework
from benchmarks.oracle import Recording
from benchmarks.runners import Measured, graph_on_servers, run_halo, run_oracle


@dataclass
class Split:
    """One run's wall time and where its CPU went."""

    label: str
    run: Measured
    gil_frames: list[tuple[float, str]] = field(default_factory=list)

    def row(self, framework: Measured | None) -> str:
        """The run's table row; ``framework``: the framework-only run, whose CPU per call is
        taken off this run's for its own (Halo runs only)."""
        r = self.run

        def per_call(cpu_s: float) -> str:
            return f"{1000 * cpu_s / r.llm_issued:.2f}" if r.llm_issued else "-"

        own = "-"
        if framework is not None and r.system == "halo" and framework.llm_issued:
            own = per_call(r.process_cpu_s - framework.process_cpu_s)
        per_step = f"{1000 * r.step_s / r.engine_steps:.1f}" if r.engine_steps else "-"
        return (
            f"| {self.label} | {r.wall_s:.1f} | {r.process_cpu_s:.1f} | "
            f"{per_call(r.process_cpu_s)} | {own} | {r.children_cpu_s:.1f} "
            f"| {r.step_s:.1f} s in {r.engine_steps} | {per_step} | {r.detail} |"
        )


@contextmanager
def gil_sampler(enabled: bool, rate: int = 100) -> Iterator[list[tuple[float, str]]]:
    """While open, ``py-spy`` samples this process's GIL holder; on close the list given out is
    filled with (share of samples, frame) for the frames that hold the GIL most, inclusive."""
    frames: list[tuple[float, str]] = []
    if not enabled:
        yield frames
        return
    beside = Path(sys.executable).parent / "py-spy"  # a virtual environment's, if not on PATH
    spy = shutil.which("py-spy") or (str(beside) if beside.exists() else None)
    if spy is None:
        raise SystemExit("--gil needs py-spy on PATH: pip install py-spy")
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.txt"
        cmd = [spy, "record", "--gil", "--nonblocking", "--format", "raw", "-r", str(rate)]
        proc = subprocess.Popen(
            [*cmd, "-o", str(raw), "-p", str(os.getpid())],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)  # attached before the run starts
        try:
            yield frames
        finally:
            proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            proc.wait(timeout=60)
        frames.extend(top_frames(raw.read_text().splitlines()))


def top_frames(raw_lines: Sequence[str], top: int = 25) -> list[tuple[float, str]]:
    """The ``top`` frames by inclusive share of samples in py-spy's raw (collapsed) output."""
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw_lines:
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        total += int(count)
        frames = {re.sub(r":\d+\)$", ")", f) for f in stack.split(";")}  # per function
        for f in frames:
            inclusive[f] += int(count)
    return [(c / total, f) for f, c in inclusive.most_common(top)] if total else []


def measure(backend: str, args: argparse.Namespace, oracle: bool) -> list[Split]:
    """Halo on ``backend`` (and, if ``oracle``, the oracle after it) in one Session."""
    from benchmarks.suite import data, tools, workloads
    from benchmarks.suite.http_service import HTTPService
    from halo_core import Session, SessionConfig

    dirs = model_dirs("tiny")
    by_dir: dict[str, list[str]] = {}
    for role, d in dirs.items():
        by_dir.setdefault(d, []).append(role)
    models = {r: by_dir[dirs[r]][0] for r in ROLES}
    engines = {
        roles[0]: served_as_halo(d, args.max_model_len, backend=backend)
        for d, roles in by_dir.items()
    }
    wl = workloads.get(args.workload)
    db = data.ensure_database()
    unused = {r: "http://127.0.0.1:9/v1" for r in ROLES}  # Halo swaps the graph's models
    graph = graph_on_servers(wl, unused, args.max_tokens)
    out = []
    with HTTPService(scale=args.latency_scale) as url, Session(SessionConfig(engines=engines)) as s:
        tools.configure(db, url)
        inputs = wl.make_inputs(args.n)  # drawn from the database
        run_halo(s, graph, inputs[:4], args.workload, models)  # first-use costs off the clock
        recording = Recording()
        with gil_sampler(args.gil) as frames:
            halo, report = run_halo(s, graph, inputs, args.workload, models, recording)
        halo.detail = f"tools run {halo.tool_executed} times"
        out.append(Split(f"Halo, {backend}", halo, frames))
        if oracle:
            o, _ = run_oracle(s, report, recording, args.workload)
            out.append(Split(f"oracle, {backend}", o))
            alone = run_framework(s, graph, wl, inputs, models, args.max_tokens, halo.llm_issued)
            same = sum(a == h for a, h in zip(alone.results, halo.results, strict=True))
            alone.detail += f"; outputs equal to Halo's {same}/{len(inputs)}"
            out.append(Split("framework alone (instant LLM, pure tools once)", alone))
    return out


def main(argv: Sequence[str] | None = None) -> list[Split]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workload", default="W3", help="one suite workload, e.g. W3")
    p.add_argument("--n", type=int, default=256)
    p.add_argument("--backends", default="vllm-host,vllm", help="comma-separated engine backends")
    p.add_argument("--latency-scale", type=float, default=1.0, help="HTTP delay multiplier")
    p.add_argument("--max-tokens", type=int, default=24)
    p.add_argument("--max-model-len", type=int, default=2048)
    p.add_argument("--gil", action="store_true", help="sample the GIL holder with py-spy")
    args = p.parse_args(argv)
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    backends = args.backends.split(",")
    splits: list[Any] = []
    for i, backend in enumerate(backends):
        splits += measure(backend, args, oracle=i == 0)
    print(f"\n{args.workload}, N = {args.n}, {os.cpu_count()} cores\n")
    framework = next((sp.run for sp in splits if sp.run.system == "framework"), None)
    print(
        "| run | wall s | this process CPU s | its CPU ms per requested LLM call "
        "| Halo's own CPU ms per requested call (framework's taken off) "
        "| child processes CPU s | engine steps | ms per step | note |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for sp in splits:
        print(sp.row(framework))
    for sp in splits:
        if sp.gil_frames:
            print(f"\nGIL held by (inclusive share of samples), {sp.label}:")
            for share, frame in sp.gil_frames:
                print(f"  {100 * share:5.1f}%  {frame}")
    return splits


if __name__ == "__main__":  # vllm-mp starts engine processes by spawn: guard the entry point
    main()
