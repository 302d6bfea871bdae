"""How a batch would scale over Ray replicas: a simulation from recorded call graphs.

    python -m benchmarks.ray_scaling --workloads W1,W6 --n 256 --copies 16 \\
        --replicas 1,2,4,8,16,32,64 [--out benchmarks/results/DATE-ray-scaling]

On this 2-core machine real replicas only prove correctness (``tests/test_ray_backend.py``);
the curve comes from the cost model instead. Per workload, once: Halo runs the suite's graph at
``--n`` (tiny S / M / L models on the engine host, full HTTP latency) and its consolidated graph
is kept (every call: instance, node, model, tokens, merged into which call, times) with each
engine's step cost fitted on its own steps (kept in ``~/.cache/halo/ray-scaling`` for later
runs). The batch simulated is ``--copies`` copies of that recorded batch (distinct instances
with the same shapes), replayed closed-loop by
:func:`halo_core.scheduler.forecast.forecast`: each instance's calls follow each other with the
recorded gaps (the workflow's own time) and tool times, each executed LLM call runs on a
simulated vLLM engine priced by the fitted step cost. With R replicas there are R devices of
three engines each (the engines of one device take turns, devices step at once), and each call
is placed when it starts, by the policy:

- ``prefix``: :class:`halo_core.backends.ray.placement.Placer` on the call's key (model and
  node: the calls of one node share their prompt's first block, its system prompt), bounded by
  the replicas' queued sequences as the Ray backend does;
- ``round_robin`` and ``random``: the same placer's other policies.

A call's cached prompt tokens stay cached only where its key has run before on that replica;
the first call of a key on a replica computes them (the prefix each replica must prefill once).
Dedup is unchanged (it happens before placement). Left out: the driver's CPU (its shards are
assumed to keep up) and the network. Writes ``rows.json``, ``report.md`` and ``scaling.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, cast

from benchmarks.fleet import ROLES, model_dirs, served_as_halo
from benchmarks.runners import graph_on_servers, run_halo
from halo_core.backends.ray.placement import Placer
from halo_core.backends.ray.settings import Placement
from halo_core.graph import CallRecord
from halo_core.scheduler.cost_model import EngineWork, StepCost, Work
from halo_core.scheduler.forecast import CallSpec, calls_of, forecast

log = logging.getLogger("halo.bench")
REPO = Path(__file__).resolve().parent.parent
POLICIES: tuple[Placement, ...] = ("prefix", "round_robin", "random")


@dataclasses.dataclass(frozen=True)
class Recorded:
    """One workload's recorded batch: its calls, and each engine's step cost and limits."""

    calls: list[dict[str, Any]]  # CallRecord fields
    engines: dict[str, dict[str, Any]]  # key → {"cost": StepCost fields, budget, max_seqs}

    def records(self) -> list[CallRecord]:
        return [CallRecord(**c) for c in self.calls]


def record(workload: str, n: int, max_tokens: int, max_model_len: int) -> Recorded:
    """Halo's consolidated graph of one suite workload at ``n`` (see the module doc)."""
    from benchmarks.suite import data, tools, workloads
    from benchmarks.suite.http_service import HTTPService
    from halo_core import Session, SessionConfig

    dirs = model_dirs("tiny")
    by_dir: dict[str, list[str]] = {}
    for role, d in dirs.items():
        by_dir.setdefault(d, []).append(role)
    models = {r: by_dir[dirs[r]][0] for r in ROLES}
    engines = {roles[0]: served_as_halo(d, max_model_len) for d, roles in by_dir.items()}
    wl = workloads.get(workload)
    db = data.ensure_database()
    graph = graph_on_servers(wl, {r: "http://127.0.0.1:9/v1" for r in ROLES}, max_tokens)
    with HTTPService() as url, Session(SessionConfig(engines=engines)) as s:
        tools.configure(db, url)
        inputs = wl.make_inputs(n)
        _, report = run_halo(s, graph, inputs, workload, models)
        costs = {k: s.step_cost(k) for k in s.engines}
        limits = {
            k: {
                "cost": dataclasses.asdict(c),
                "budget": s.engines[k].max_num_batched_tokens,
                "max_seqs": s.engines[k].max_num_seqs,
            }
            for k, c in costs.items()
            if c is not None
        }
    return Recorded([dataclasses.asdict(r) for r in report.records], limits)


def recording_path(workload: str, n: int, max_tokens: int, max_model_len: int) -> Path:
    """Where a recorded batch is kept for later runs (the cache, not the results)."""
    from halo_core.models import default_cache_dir

    folder = default_cache_dir() / "ray-scaling"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"recorded-{workload}-n{n}-t{max_tokens}-l{max_model_len}.json"


def copied(calls: list[CallSpec], copies: int) -> list[CallSpec]:
    """``copies`` copies of a batch's calls, each copy's ids shifted past the one before."""
    if copies <= 1:
        return calls
    span = max(c.call_id for c in calls) + 1
    out = []
    for k in range(copies):
        shift = k * span

        def moved(i: int | None, shift: int = shift) -> int | None:
            return None if i is None else i + shift

        for c in calls:
            out.append(
                dataclasses.replace(
                    c,
                    call_id=c.call_id + shift,
                    after=moved(c.after),
                    source=moved(c.source),
                )
            )
    return out


class Router:
    """Places each executed LLM call on a replica (see the module doc)."""

    def __init__(
        self,
        policy: Placement,
        replicas: int,
        keys: Mapping[int, bytes],
        models: Sequence[str],
        bound: Mapping[str, float] | None = None,
    ):
        self.placer = Placer(replicas, policy, **(bound or {}))
        self.replicas = replicas
        self.keys = keys
        self.models = models
        self.warm: set[tuple[int, bytes]] = set()
        self.cold_tokens = 0  # cached tokens recomputed because their key was cold there

    def __call__(self, call: CallSpec, queued: Mapping[str, int]) -> tuple[str, Work]:
        key = self.keys[call.call_id]
        loads = [sum(queued[f"{m}@{i}"] for m in self.models) for i in range(self.replicas)]
        i = self.placer.choose(key, loads, [True] * self.replicas)
        work = call.work
        assert work is not None
        if (i, key) not in self.warm:
            self.warm.add((i, key))
            self.cold_tokens += work.cached_tokens
            work = Work(work.prefill_tokens + work.cached_tokens, 0, work.output_tokens)
        return f"{call.engine}@{i}", work


def simulate(
    rec: Recorded,
    replicas: int,
    policy: Placement,
    copies: int,
    bound: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The recorded batch (``copies`` times) on ``replicas`` replicas placed by ``policy``;
    ``bound``: the prefix policy's ``load_factor`` / ``min_spill`` (default: the backend's)."""
    records = rec.records()
    node = {r.call_id: (r.model, r.node) for r in records}
    calls = copied(calls_of(records), copies)
    span = max(r.call_id for r in records) + 1
    keys = {
        c.call_id: hashlib.blake2b(repr(node[c.call_id % span]).encode(), digest_size=8).digest()
        for c in calls
    }
    models = list(rec.engines)
    engines = {
        f"{m}@{i}": EngineWork(
            (), StepCost(**rec.engines[m]["cost"]), rec.engines[m]["budget"],
            rec.engines[m]["max_seqs"],
        )
        for m in models
        for i in range(replicas)
    }  # fmt: skip
    devices = {f"{m}@{i}": f"replica-{i}" for m in models for i in range(replicas)}
    router = Router(policy, replicas, keys, models, bound)
    f = forecast(calls, engines, devices, router)
    instances = copies * len({r.instance for r in records if r.instance is not None})
    busy = [sum(f.engines[f"{m}@{i}"].busy_s for m in models) for i in range(replicas)]
    return {
        "replicas": replicas,
        "policy": policy,
        "instances": instances,
        "makespan_s": f.makespan_s,
        "runs_per_s": instances / f.makespan_s if f.makespan_s else 0.0,
        "busy_s": sum(busy),
        "busiest_s": max(busy),
        "cold_tokens": router.cold_tokens,
    }


def write_report(out: Path, rows: list[dict[str, Any]], command: str) -> None:
    """``report.md`` and ``scaling.png``: throughput over one replica's against replicas."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = sorted({r["workload"] for r in rows})
    fig, axes = plt.subplots(1, len(workloads), figsize=(5 * len(workloads), 4), squeeze=False)
    lines = [
        "# Replica scaling (simulated)",
        "",
        f"`{command}`",
        "",
        "| workload | replicas | policy | instances | makespan s | runs/s | speedup over 1 | "
        "busiest replica s | engines' busy s | cold prefix tokens |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for ax, w in zip(axes[0], workloads, strict=True):
        ones = [r for r in rows if r["workload"] == w and r["replicas"] == 1]
        base = {r["policy"]: r["runs_per_s"] for r in ones}
        for policy in POLICIES:
            mine = sorted(
                (r for r in rows if r["workload"] == w and r["policy"] == policy),
                key=lambda r: r["replicas"],
            )
            for r in mine:
                lines.append(
                    f"| {w} | {r['replicas']} | {policy} | {r['instances']:,} | "
                    f"{r['makespan_s']:.1f} | {r['runs_per_s']:.1f} | "
                    f"{r['runs_per_s'] / base[policy]:.2f}x | {r['busiest_s']:.1f} | "
                    f"{r['busy_s']:.1f} | {r['cold_tokens']:,} |"
                )
            ax.plot(
                [r["replicas"] for r in mine],
                [r["runs_per_s"] / base[policy] for r in mine],
                marker="o",
                label=policy,
            )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.set_title(w)
        ax.set_xlabel("replicas")
        ax.set_ylabel("throughput over one replica")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "scaling.png", dpi=120)
    (out / "report.md").write_text("\n".join(lines) + "\n")


def main(argv: Sequence[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", default="W1,W6")
    p.add_argument("--n", type=int, default=256, help="instances recorded")
    p.add_argument("--copies", type=int, default=16, help="copies of the recorded batch")
    p.add_argument(
        "--weak",
        action="store_true",
        help="--copies per replica (the batch grows with the replicas: throughput scaling)",
    )
    p.add_argument("--replicas", default="1,2,4,8,16,32,64")
    p.add_argument("--policies", default=",".join(POLICIES), help="placement policies compared")
    p.add_argument("--load-factor", type=float, help="the prefix policy's load bound")
    p.add_argument("--min-spill", type=int, help="the prefix policy's spill margin")
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--max-model-len", type=int, default=2048)
    p.add_argument(
        "--out", type=Path, default=REPO / f"benchmarks/results/{date.today()}-ray-scaling"
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    args.out.mkdir(parents=True, exist_ok=True)
    policies = args.policies.split(",")
    if not set(policies) <= set(POLICIES):
        raise SystemExit(f"--policies {args.policies!r}: choose from {', '.join(POLICIES)}")
    bound = {
        k: v
        for k, v in (("load_factor", args.load_factor), ("min_spill", args.min_spill))
        if v is not None
    }
    rows: list[dict[str, Any]] = []
    for w in args.workloads.split(","):
        path = recording_path(w, args.n, args.max_tokens, args.max_model_len)
        if path.exists():
            rec = Recorded(**json.loads(path.read_text()))
        else:
            rec = record(w, args.n, args.max_tokens, args.max_model_len)
            path.write_text(json.dumps(dataclasses.asdict(rec)))
        for r in (int(x) for x in args.replicas.split(",")):
            for policy in cast(list[Placement], policies):
                copies = args.copies * r if args.weak else args.copies
                row = {"workload": w, **simulate(rec, r, policy, copies, bound)}
                log.info("%s", row)
                rows.append(row)
                (args.out / "rows.json").write_text(json.dumps(rows, indent=1))
    given = list(argv) if argv is not None else sys.argv[1:]
    command = "python -m benchmarks.ray_scaling " + " ".join(given)
    write_report(args.out, rows, command)
    return args.out


if __name__ == "__main__":
    main()
