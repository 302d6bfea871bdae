"""The six-workload benchmark: LangGraph on ``vllm serve`` vs. Halo vs. the engine-only oracle.

Every workload (``benchmarks/suite/workloads``, W1–W6) is an unchanged LangGraph program with
three model roles S / M / L, SQL tools on a DuckDB file and HTTP tools on a local service with
Gamma-distributed latency. In one process run, on the same machine and the same models:

* **baseline** — ``graph.abatch`` with ``ChatOpenAI`` clients against one ``vllm serve`` per
  model (prefix caching on), the best of max_concurrency 16 / 64 / 256 (highest first; a later
  concurrency is stopped once it has taken longer than the best so far: it cannot win), then of
  the servers' CPU thread bindings (``--bindings``) at the best concurrency, then, where the
  graph branches, of a default executor with a thread per branch (``sweep_bindings``);
* **halo** — the same graph objects under ``halo_adapters.langgraph.abatch`` (one in-process
  engine per model);
* **oracle** — the deduplicated LLM calls Halo executed, replayed stage by stage on the engines
  with nothing else (``benchmarks.oracle.replay``): the engine-only lower bound.

    python -m benchmarks.run --workloads all --n 1024            # the full run (hours on CPU)
    python -m benchmarks.run --quick                              # N=64, latency x0.02: minutes

Writes ``benchmarks/results/<date>/report.md`` (or ``--out DIR``) with the table and PNG plots,
re-written after every workload; each workload's row is also kept in ``rows/<W>.json``, and
``--resume`` skips workloads whose row was measured with the same settings (a long run can go on
in a later process; each row's three systems always run side by side in one process).

The parts: :mod:`benchmarks.fleet` (models, the baseline's servers and their CPU bindings),
:mod:`benchmarks.runners` (one measured run of each system), :mod:`benchmarks.sweep` (the
baseline's settings), :mod:`benchmarks.ablation` (``--ablate``), :mod:`benchmarks.report`
(report, plots, ``--resume``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.ablation import run_ablation
from benchmarks.fleet import (
    BINDINGS,
    ROLES,
    BaselineServers,
    applicable_bindings,
    exit_on_sigterm,
    model_dirs,
    served_as_halo,
)
from benchmarks.framework_alone import run_framework
from benchmarks.oracle import Recording, longest_tool_chain_s
from benchmarks.report import kept_rows, write_rows
from benchmarks.runners import (
    Measured,
    graph_on_servers,
    recheck_alone,
    run_baseline,
    run_halo,
    run_oracle,
)
from benchmarks.sweep import sweep_bindings

RESULTS = Path(__file__).resolve().parent / "results"
#: Differing instances per workload that are re-run alone in both systems (each takes seconds).
RECHECK_ALONE = 8
#: Halo's settings that a row's settings name only off their defaults (so rows measured before
#: one existed still match), in this order.
HALO_SETTINGS = ("backend", "critical_path", "engine_turns", "epoch_closing", "ablate")
log = logging.getLogger("halo.bench")


def parser() -> argparse.ArgumentParser:
    """The command line of ``python -m benchmarks.run``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    switch = functools.partial(p.add_argument, action="store_true")

    def one_of(flag: str, *choices: str, help: str) -> None:  # the first is the default
        p.add_argument(flag, choices=choices, default=choices[0], help=help)

    p.add_argument("--workloads", default="all", help="all, or e.g. W1,W5")
    p.add_argument("--n", type=int, default=1024)
    switch("--quick", help="N=64, latency x0.02, one baseline setting")
    p.add_argument("--models", default="tiny", help="tiny (default), smollm2, or S=..,M=..,L=..")
    p.add_argument("--concurrency", type=int, nargs="+", default=[16, 64, 256])
    p.add_argument(
        "--bindings",
        default=",".join(BINDINGS),
        help="the baseline servers' CPU thread bindings to try, the first for the concurrency "
        "sweep: auto (vLLM's default), all (every core), nobind, per-server (a core range each; "
        "skipped with fewer cores than servers); default all that apply",
    )
    p.add_argument("--latency-scale", type=float, default=1.0, help="HTTP delay multiplier")
    p.add_argument("--max-tokens", type=int, default=24)
    p.add_argument("--max-model-len", type=int, default=2048)
    p.add_argument("--out", type=Path, help="report folder (default benchmarks/results/<date>)")
    switch("--resume", help="keep rows already in --out with the same settings")
    switch(
        "--critical-path",
        help="Halo orders requests by critical-path priority (engines on priority scheduling)",
    )
    switch("--ablate", help="also run Halo with each decision off in turn (the ablation table)")
    switch(
        "--framework-alone",
        help="also run the graph without Halo on chat models answering at once (pure tools "
        "once per distinct call): the bound's workflow CPU is then the framework's own (costs "
        "one unmeasured Halo run more, which records the answers)",
    )
    one_of(
        "--engine-turns",
        "step",
        "drain",
        help="how Halo's engines share the cores: a step each, or the model lock",
    )
    p.add_argument(
        "--tool-workers", type=int, help="Halo's tool threads (default: SessionConfig's)"
    )
    one_of(
        "--epoch-closing",
        "window",
        "cost",
        help="Halo closes epochs at the window, or as soon as waiting is predicted not to pay",
    )
    p.add_argument(
        "--backend",
        default="vllm-host",
        help="Halo's engine backend: vllm-host (the engine host, the default), vllm (engine "
        "cores in process) or vllm-mp (vLLM's own core process per engine)",
    )
    return p


def cpu_bound_s(
    baseline: Measured, halo: Measured, oracle: Measured, framework: Measured | None
) -> float:
    """What this machine's cores bound a run by: the workflow's own CPU and the engines' (the
    oracle's, all of it) spread over every core. The workflow's own CPU is the framework-alone
    run's (``framework``: :mod:`benchmarks.framework_alone`) where measured, else the smaller of
    the two workflow processes' (the baseline's: the framework and its HTTP client; Halo's: the
    framework and Halo, engines out of process): an upper estimate, and so is the bound then."""
    engines = oracle.process_cpu_s + oracle.children_cpu_s
    if framework is not None:
        workflow = framework.process_cpu_s
    else:
        workflow = min(baseline.process_cpu_s, halo.process_cpu_s)
    return (workflow + engines) / (os.cpu_count() or 1)


def main(argv: Sequence[str] | None = None) -> Path:
    p = parser()
    args = p.parse_args(argv)
    requested = args.bindings.split(",")
    if args.quick:
        args.n, args.latency_scale, args.concurrency = 64, 0.02, [64]
        requested = requested[:1]
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for client_log in ("httpx", "httpx2"):  # openai's client logs every request at INFO
        logging.getLogger(client_log).setLevel(logging.WARNING)

    from benchmarks.suite import data, tools, workloads
    from benchmarks.suite.http_service import HTTPService
    from halo_adapters.testing import mismatches
    from halo_core import OptimizerConfig, Session, SessionConfig

    started = time.perf_counter()
    today = dt.date.today().isoformat()
    out: Path = args.out or RESULTS / today
    names = workloads.all_names() if args.workloads == "all" else args.workloads.split(",")
    modules = {name: workloads.get(name) for name in names}  # all imported before any run
    dirs = model_dirs(args.models)
    by_dir: dict[str, list[str]] = {}
    for role, d in dirs.items():
        by_dir.setdefault(d, []).append(role)
    cpus = os.cpu_count() or 1
    try:
        bindings = applicable_bindings(requested, len(by_dir), cpus)
    except ValueError as e:
        raise SystemExit(f"--bindings: {e}") from None
    if not bindings:
        raise SystemExit(f"--bindings {args.bindings}: none applies to {len(by_dir)} servers")
    optimizer = OptimizerConfig(
        critical_path=args.critical_path,
        engine_turns=args.engine_turns,
        epoch_closing=args.epoch_closing,
    )
    tool_workers = {"tool_workers": args.tool_workers} if args.tool_workers else {}
    settings = {
        "n": args.n,
        "latency_scale": args.latency_scale,
        "models": args.models,
        "concurrency": sorted(args.concurrency),
        "max_tokens": args.max_tokens,
        "max_model_len": args.max_model_len,
        "halo_engines": "compiled",
        "bindings": bindings,
        **{k: getattr(args, k) for k in HALO_SETTINGS if getattr(args, k) != p.get_default(k)},
        **tool_workers,
    }
    kept = kept_rows(out, settings) if args.resume else {}
    todo = [n for n in names if n not in kept]
    log.info("to run: %s; kept from %s: %s", todo, out, sorted(kept) or "none")
    log.info("baseline CPU bindings: %s", ", ".join(bindings))
    db = data.ensure_database()
    fleet = BaselineServers(by_dir, args.max_model_len, cpus)
    # one in-process engine per distinct model, as one server per distinct model
    models = {r: by_dir[dirs[r]][0] for r in ROLES}
    engines = {
        roles[0]: served_as_halo(
            d,
            args.max_model_len,
            backend=args.backend,
            scheduling_policy="priority" if args.critical_path else "fcfs",
        )
        for d, roles in by_dir.items()
    }
    meta = {
        "date": today,
        "command": "python -m benchmarks.run "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "models": {r: Path(d).name for r, d in dirs.items()},
        "latency_scale": args.latency_scale,
    }
    rows = dict(kept)
    if not todo:
        path = write_rows(out, rows, meta, started)
        print(path.read_text())
        return path
    try:
        fleet.launch(bindings[0])  # the servers start while the in-process engines load
        with (
            HTTPService(scale=args.latency_scale) as http_url,
            Session(
                SessionConfig(
                    engines=engines,
                    optimizer=optimizer,
                    **tool_workers,
                )
            ) as session,
        ):
            fleet.wait_ready()
            tools.configure(db, http_url)
            log.info("servers and engines ready after %.0f s", time.perf_counter() - started)
            for name in todo:
                t_row = time.perf_counter()
                wl = modules[name]
                graph_for = functools.partial(graph_on_servers, wl, max_tokens=args.max_tokens)
                fleet.use(bindings[0])  # back from the previous workload's last binding
                graph = graph_for(urls := fleet.urls)
                inputs = wl.make_inputs(args.n)
                log.info("%s %s: N=%d", name, wl.TITLE, len(inputs))
                warm = inputs[:4]  # first-use costs (grammar compilation, ...) off the clock
                run_baseline(fleet.servers, graph, warm, 4, name)
                base = sweep_bindings(
                    fleet,
                    graph,
                    graph_for,
                    inputs,
                    args.concurrency,
                    bindings,
                    name,
                    branch_threads=not args.quick,
                )
                best = min((m for m in base if not m.stopped), key=lambda m: m.wall_s)
                if fleet.urls != urls:  # the graph's models talk to live servers only
                    graph = graph_for(fleet.urls)
                run_halo(session, graph, warm, name, models)
                recording = Recording()
                halo, report = run_halo(session, graph, inputs, name, models, recording)
                log.info("  halo: %.1f s", halo.wall_s)
                oracle, variant = run_oracle(session, report, recording, name)
                log.info("  oracle: %.1f s (%s)", oracle.wall_s, oracle.detail)
                framework = None
                if args.framework_alone:
                    framework = run_framework(
                        session, graph, wl, inputs, models, args.max_tokens, halo.llm_issued
                    )
                    log.info("  framework alone: %.1f CPU-s", framework.process_cpu_s)
                diff = mismatches(halo.results, best.results)
                for line in list(diff.values())[:3]:
                    log.warning("  output differs: %s", line[:300])
                differing = sorted(diff)
                ablation = (
                    run_ablation(session, graph, inputs, name, models, halo, optimizer)
                    if args.ablate
                    else {}
                )
                recheck = differing[:RECHECK_ALONE]
                if recheck and fleet.use(best.binding):  # re-run alone as the best ran
                    graph = graph_for(fleet.urls)
                alone = recheck_alone(
                    fleet.servers, session, graph, inputs, recheck, (halo, best), models
                )
                rows[name] = {
                    "workload": name,
                    "title": wl.TITLE,
                    "settings": settings,
                    "baseline": best.as_row(),
                    "baseline_all": [m.as_row() for m in base],
                    "halo": halo.as_row(),
                    "oracle": oracle.as_row(),
                    "speedup": best.wall_s / halo.wall_s,
                    "oracle_fraction": oracle.wall_s / halo.wall_s,
                    "tool_chain_s": (chain := longest_tool_chain_s(report.records)),
                    "framework": framework.as_row() if framework else None,
                    "cpu_bound_s": (cpu_bound := cpu_bound_s(best, halo, oracle, framework)),
                    "bound_fraction": max(oracle.wall_s, chain, cpu_bound) / halo.wall_s,
                    "equal": len(inputs) - len(diff),
                    "differences": [line[:2000] for line in diff.values()],
                    "differing": differing,
                    "fed_by_variant_call": sorted(set(differing) & set(variant)),
                    "rechecked_alone": alone,
                    "ablation": ablation,
                    "elapsed_s": time.perf_counter() - t_row,
                }
                (out / "rows").mkdir(parents=True, exist_ok=True)
                (out / "rows" / f"{name}.json").write_text(json.dumps(rows[name], indent=1))
                write_rows(out, rows, meta, started)  # the report so far, after every row
    finally:
        fleet.stop()
    path = write_rows(out, rows, meta, started)
    print(path.read_text())
    return path


if __name__ == "__main__":
    exit_on_sigterm()
    main()
