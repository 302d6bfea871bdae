"""Online serving side by side: ``halo serve`` against LangGraph's own server.

    python -m benchmarks.serve_bench --workloads W1,W6,W7 --rates 0.5,1,2,4,8,16 \\
        --duration-s 60 [--models tiny] [--out benchmarks/results/DATE-serve]

For each workload the same graph is served twice and driven by the same ``langgraph_sdk`` client
with open-loop, seeded Poisson arrivals of workflow instances (each arrival one run of the next
input), at each offered rate for ``--duration-s``:

(a) **what a LangGraph user runs today**: LangGraph's own server (``langgraph dev`` from
    ``langgraph-cli[inmem]``, installed in its own virtual environment under
    ``~/.cache/halo/langgraph-server`` with this one's LangGraph / LangChain versions, its job
    count raised to ``--jobs-per-worker`` and its sync-node executor to ``--executor-threads``:
    see :mod:`benchmarks.serve_graphs`) with ``ChatOpenAI`` on one ``vllm serve`` per model
    (the suite's server settings); the servers stop before (b) starts;
(b) ``halo serve`` of the same graph (:func:`halo_adapters.serve.serving`, the suite's engines on
    the engine host, adaptive epochs, its memo and prefix cache reset before each rate).

Per rate: throughput (runs finished / time from the first arrival to the last finish), p50 / p95
/ p99 latency (from each run's scheduled arrival: time waiting in the client counts), failures;
per workload: saturation throughput (the best), goodput (the highest rate whose p95 stays within
``--slo-x`` times the baseline's lone-run latency, with no failure), outputs compared run by run.
Rows are saved as they finish (``rows.json``); ``report.md`` and PNG plots at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.fleet import BaselineServers, exit_on_sigterm, model_dirs, served_as_halo

log = logging.getLogger("halo.bench")
REPO = Path(__file__).resolve().parent.parent
#: What LangGraph's server runs with: its CLI and in-memory runtime, and this venv's versions of
#: what the graphs import (so both sides run the same LangGraph and LangChain code).
SERVER_PACKAGES = ("langgraph", "langchain-core", "langchain-openai", "duckdb", "httpx")
#: SDK clients the driver spreads its requests over (httpx caps each at 100 connections).
CLIENTS = 16


@dataclass
class Point:
    """One system at one offered rate."""

    system: str
    workload: str
    rate: float
    offered: int
    finished: int = 0
    failed: int = 0
    span_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list, repr=False)
    outputs: list[Any] = field(default_factory=list, repr=False)
    #: runs both systems finished with equal outputs (set on Halo's points)
    equal: int | None = None
    #: the runs (input indices) whose outputs differ (set on Halo's points)
    differing: list[int] = field(default_factory=list)
    #: CPU seconds while the rate ran: this process (the client; under ``halo serve`` also the
    #: server, Halo's runtime and the graph's Python) and its child processes (the engines;
    #: LangGraph's server)
    process_cpu_s: float = 0.0
    children_cpu_s: float = 0.0

    @property
    def throughput(self) -> float:
        return self.finished / self.span_s if self.span_s else 0.0

    def quantile(self, q: float) -> float | None:
        if len(self.latencies_s) < 2:
            return self.latencies_s[0] if self.latencies_s else None
        return statistics.quantiles(self.latencies_s, n=100, method="inclusive")[int(q * 100) - 1]

    def row(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "workload": self.workload,
            "rate": self.rate,
            "offered": self.offered,
            "finished": self.finished,
            "failed": self.failed,
            "span_s": round(self.span_s, 2),
            "throughput": round(self.throughput, 3),
            **{f"p{int(q * 100)}_s": self.quantile(q) for q in (0.5, 0.95, 0.99)},
            "equal": self.equal,
            "differing": self.differing,
            "process_cpu_s": round(self.process_cpu_s, 1),
            "children_cpu_s": round(self.children_cpu_s, 1),
        }


def arrivals(rate: float, duration_s: float, seed: int) -> list[float]:
    """Poisson arrival times in ``[0, duration_s)`` at ``rate`` per second."""
    rng, t, out = random.Random(seed), 0.0, []
    while (t := t + rng.expovariate(rate)) < duration_s:
        out.append(t)
    return out


async def drive(
    url: str, assistant: str, inputs: Sequence[Any], times: Sequence[float], token: str | None
) -> tuple[list[float | None], list[Any], float]:
    """Start run ``i`` of ``inputs[i]`` at ``times[i]`` (open loop); each run's latency from its
    scheduled arrival (None: it failed), its output (or error) and the span to the last finish."""
    import httpx
    from langgraph_sdk import get_client

    timeout = httpx.Timeout(connect=30, read=3600, write=60, pool=3600)
    clients = [get_client(url=url, api_key=token, timeout=timeout) for _ in range(CLIENTS)]
    start = time.perf_counter() + 0.5
    latencies: list[float | None] = [None] * len(times)
    outputs: list[Any] = [None] * len(times)
    last = start

    async def one(i: int) -> None:
        nonlocal last
        await asyncio.sleep(max(0.0, start + times[i] - time.perf_counter()))
        client = clients[i % CLIENTS]
        try:
            out = await client.runs.wait(None, assistant, input=inputs[i])
            latencies[i] = time.perf_counter() - (start + times[i])
        except Exception as e:  # a failed run fails alone; counted
            out = e
        outputs[i] = out
        last = max(last, time.perf_counter())

    await asyncio.gather(*(one(i) for i in range(len(times))))
    return latencies, outputs, last - (start + (times[0] if times else 0.0))


def measure(
    system: str, url: str, name: str, inputs: Sequence[Any], rate: float, args: Any, seed: int
) -> Point:
    from benchmarks.runners import cpu_clock

    times = arrivals(rate, args.duration_s, seed)
    with cpu_clock() as cpu:
        latencies, outputs, span = asyncio.run(drive(url, name, inputs, times, None))
    p = Point(system, name, rate, len(times), span_s=span, outputs=outputs, **cpu)
    p.latencies_s = sorted(x for x in latencies if x is not None)
    p.finished = len(p.latencies_s)
    p.failed = p.offered - p.finished
    log.info(
        "  %s %s rate %.2f/s: %d/%d in %.1f s, %.2f runs/s, p95 %s s",
        system, name, rate, p.finished, p.offered, span, p.throughput, p.quantile(0.95),
    )  # fmt: skip
    return p


def lone_latency_s(url: str, name: str, inputs: Sequence[Any]) -> float:
    """The median latency of runs sent one at a time."""
    from langgraph_sdk import get_client

    async def sequential() -> list[float]:
        client, out = get_client(url=url, api_key=None), []
        for x in inputs:
            t0 = time.perf_counter()
            await client.runs.wait(None, name, input=x)
            out.append(time.perf_counter() - t0)
        return out

    return statistics.median(asyncio.run(sequential()))


# ---- LangGraph's own server ------------------------------------------------------------------


def server_venv() -> Path:
    """A virtual environment with ``langgraph-cli[inmem]`` and this one's versions of
    :data:`SERVER_PACKAGES` (made once; ``langgraph-api`` asks for a newer protobuf than vLLM
    runs with, so it does not go into Halo's own environment)."""
    from halo_core.models import default_cache_dir

    pins = [f"{p}=={metadata.version(p)}" for p in SERVER_PACKAGES]
    venv = default_cache_dir() / "langgraph-server"
    stamp = venv / ("installed-" + "-".join(pins).replace("=", "").replace(".", "_"))
    if stamp.exists():
        return venv
    log.info("installing langgraph-cli[inmem] into %s (once; a few minutes)", venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "langgraph-cli[inmem]", *pins], check=True)
    stamp.touch()
    return venv


@contextmanager
def vllm_servers(
    by_dir: Mapping[str, list[str]], args: Any
) -> Iterator[tuple[BaselineServers, dict[str, str]]]:
    """One ``vllm serve`` per model (the suite's settings, CPU binding ``auto``) and their URLs
    by role, stopped on exit."""
    fleet = BaselineServers(by_dir, args.max_model_len, os.cpu_count() or 1)
    try:
        fleet.launch("auto")
        yield fleet, fleet.wait_ready()
    finally:
        fleet.stop()


@contextmanager
def langgraph_server(
    names: Sequence[str], urls: Mapping[str, str], db: Path, http_url: str, args: Any
) -> Iterator[str]:
    """``langgraph dev`` serving the workloads' graphs (:mod:`benchmarks.serve_graphs`) on a
    free port; yields its URL."""
    import httpx

    venv = server_venv()
    with tempfile.TemporaryDirectory() as tmp:
        config = {
            "dependencies": [str(REPO)],
            "graphs": {n: f"{REPO}/benchmarks/serve_graphs.py:{n}" for n in names},
            "http": {"app": f"{REPO}/benchmarks/serve_graphs.py:app"},
        }
        (Path(tmp) / "langgraph.json").write_text(json.dumps(config))
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "HALO_BENCH_URLS": json.dumps(dict(urls)),
            "HALO_BENCH_DB": str(db),
            "HALO_BENCH_HTTP": http_url,
            "HALO_BENCH_MAX_TOKENS": str(args.max_tokens),
            "HALO_BENCH_WORKLOADS": ",".join(names),
            "HALO_BENCH_THREADS": str(args.executor_threads),
            "LANGSMITH_TRACING": "false",
        }
        port = args.langgraph_port
        cmd = [
            str(venv / "bin" / "langgraph"),
            "dev",
            "--config",
            str(Path(tmp) / "langgraph.json"),
            "--port",
            str(port),
            "--no-browser",
            "--no-reload",
            "--n-jobs-per-worker",
            str(args.jobs_per_worker),
        ]
        logs = open(Path(tmp) / "server.log", "w")  # noqa: SIM115 (closed below)
        proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=logs, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 300
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(
                        "langgraph dev exited:\n" + (Path(tmp) / "server.log").read_text()[-3000:]
                    )
                try:
                    if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("langgraph dev did not answer /ok within 300 s")
                time.sleep(1)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
            logs.close()


# ---- the run -----------------------------------------------------------------------------------


def compare(halo: Point, base: Point) -> int:
    """Runs both systems finished whose outputs are equal (those that differ: in
    ``halo.differing``)."""
    from halo_adapters.testing import messages_from_json, mismatches

    both = [
        i
        for i, (h, b) in enumerate(zip(halo.outputs, base.outputs, strict=True))
        if isinstance(h, dict) and isinstance(b, dict) and "__error__" not in h | b
    ]
    got = messages_from_json([halo.outputs[i] for i in both])
    expected = messages_from_json([base.outputs[i] for i in both])
    diff = mismatches(got, expected)
    for line in list(diff.values())[:3]:
        log.warning("  output differs: %s", line[:300])
    halo.differing = [both[k] for k in sorted(diff)]
    return len(both) - len(diff)


def main(argv: Sequence[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", default="W1,W6,W7")
    p.add_argument("--rates", default="0.5,1,2,4,8,16", help="offered runs per second")
    p.add_argument("--duration-s", type=float, default=60.0, help="arrivals per rate, seconds")
    p.add_argument("--models", default="tiny", help="tiny, smollm2 or S=...,M=...,L=...")
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--max-model-len", type=int, default=2048)
    p.add_argument("--latency-scale", type=float, default=1.0, help="the HTTP tools' latency")
    p.add_argument("--slo-x", type=float, default=5.0, help="goodput: p95 within this x lone")
    p.add_argument("--jobs-per-worker", type=int, default=256, help="LangGraph server's jobs")
    p.add_argument(
        "--executor-threads", type=int, default=1024, help="LangGraph server's sync-node threads"
    )
    p.add_argument("--langgraph-port", type=int, default=2025)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--systems",
        default="langgraph,halo",
        help="which to run: both (side by side) or one alone (e.g. halo past the top rate)",
    )
    p.add_argument(
        "--recheck", type=int, default=4, help="differing runs per workload re-run alone"
    )
    p.add_argument("--out", type=Path, default=REPO / f"benchmarks/results/{date.today()}-serve")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    exit_on_sigterm()

    from benchmarks.report_serve import write_serve_report
    from benchmarks.runners import graph_on_servers
    from benchmarks.suite import data, tools, workloads
    from benchmarks.suite.http_service import HTTPService
    from halo_adapters.serve import ServeConfig, serving
    from halo_core import OptimizerConfig, Session, SessionConfig

    names = [n.strip().upper() for n in args.workloads.split(",")]
    systems = {x.strip() for x in args.systems.split(",")}
    if not systems or not systems <= {"langgraph", "halo"}:
        raise SystemExit(f"--systems {args.systems!r}: give langgraph, halo or both")
    command = "python -m benchmarks.serve_bench " + " ".join(sys.argv[1:] if argv is None else argv)
    rates = [float(r) for r in args.rates.split(",")]
    dirs = model_dirs(args.models)
    by_dir: dict[str, list[str]] = {}
    for role, d in dirs.items():
        by_dir.setdefault(d, []).append(role)
    db = data.ensure_database()
    args.out.mkdir(parents=True, exist_ok=True)
    need = int(max(rates) * args.duration_s * 1.5) + 16
    points: dict[tuple[str, str, float], Point] = {}
    lone: dict[tuple[str, str], float] = {}

    def save() -> None:
        rows = [pt.row() for pt in points.values()]
        (args.out / "rows.json").write_text(json.dumps({"lone_s": _keyed(lone), "rows": rows}))

    with HTTPService(scale=args.latency_scale) as http_url:
        tools.configure(db, http_url)
        inputs = {n: workloads.get(n).make_inputs(need, seed=args.seed) for n in names}
        if "langgraph" in systems:
            with (
                vllm_servers(by_dir, args) as (_, urls),
                langgraph_server(names, urls, db, http_url, args) as url,
            ):
                for n in names:
                    lone["langgraph", n] = lone_latency_s(url, n, inputs[n][-3:])
                    for k, rate in enumerate(rates):
                        points["langgraph", n, rate] = measure(
                            "langgraph", url, n, inputs[n], rate, args, args.seed + k
                        )
                        save()
        if "halo" not in systems:
            return write_serve_report(args.out, points, lone, args.slo_x, command)

        engines = {
            roles[0]: served_as_halo(d, args.max_model_len, scheduling_policy="fcfs")
            for d, roles in by_dir.items()
        }
        models = {r: roles[0] for roles in by_dir.values() for r in roles}
        session_config = SessionConfig(
            engines=engines,
            optimizer=OptimizerConfig(epoch_closing="adaptive"),
            memo_max_entries=100_000,
            graph_max_records=50_000,
        )
        unused = dict.fromkeys(models, "http://127.0.0.1:9/v1")
        with Session(session_config) as session:
            for n in names:
                graph = graph_on_servers(workloads.get(n), unused, args.max_tokens)
                config = ServeConfig(port=0, queued=1 << 20, deadline_s=None)
                with serving(graph, session, config, name=n, models=models) as url:
                    session.reset()
                    lone["halo", n] = lone_latency_s(url, n, inputs[n][-3:])
                    for k, rate in enumerate(rates):
                        session.reset()  # no answer carried over from the rate before
                        h = measure("halo", url, n, inputs[n], rate, args, args.seed + k)
                        points["halo", n, rate] = h
                        if ("langgraph", n, rate) in points:
                            h.equal = compare(h, points["langgraph", n, rate])
                        save()
            differing = {
                n: sorted({i for (_, w, _), p in points.items() if w == n for i in p.differing})
                for n in names
            }
            rechecked = recheck_alone(session, differing, inputs, by_dir, models, args)
    report = write_serve_report(args.out, points, lone, args.slo_x, command)
    append_recheck(args.out, rechecked)
    return report


def recheck_alone(
    session: Any,
    differing: Mapping[str, Sequence[int]],
    inputs: Mapping[str, Sequence[Any]],
    by_dir: Mapping[str, list[str]],
    models: Mapping[str, str],
    args: Any,
) -> dict[str, list[dict[str, Any]]]:
    """Up to ``args.recheck`` runs per workload whose outputs differed, re-run alone in both
    systems (``graph.invoke`` on ``vllm serve``, and Halo on ``session``): equal alone means
    the load changed a token (vLLM's CPU kernels are not batch-invariant), not Halo."""
    from benchmarks.runners import graph_on_servers, run_alone
    from benchmarks.suite import workloads
    from halo_adapters.testing import mismatches

    todo = {n: list(ix)[: args.recheck] for n, ix in differing.items() if ix and args.recheck}
    if not todo:
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    with vllm_servers(by_dir, args) as (fleet, urls):
        for n, indices in todo.items():
            graph = graph_on_servers(workloads.get(n), urls, args.max_tokens)
            out[n] = []
            for i in indices:
                halo, base = run_alone(fleet.servers, session, graph, inputs[n][i], n, models)
                out[n].append({"input": i, "equal_alone": not mismatches(halo, base)})
                log.info("  %s input %d alone: equal %s", n, i, out[n][-1]["equal_alone"])
    return out


def append_recheck(out: Path, rechecked: Mapping[str, list[dict[str, Any]]]) -> None:
    """Add the re-runs alone to ``report.md`` and ``summary.json``."""
    if not rechecked:
        return
    lines = ["\n## Differing runs re-run alone\n"]
    for n, rows in rechecked.items():
        equal = [r["input"] for r in rows if r["equal_alone"]]
        lines.append(
            f"- {n}: {len(equal)} of {len(rows)} equal alone in both systems (inputs "
            f"{', '.join(str(r['input']) for r in rows)})"
        )
    with (out / "report.md").open("a") as f:
        f.write("\n".join(lines) + "\n")
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    for n, rows in rechecked.items():
        summary.setdefault(n, {})["recheck_alone"] = rows
    summary_path.write_text(json.dumps(summary, indent=1))


def _keyed(lone: Mapping[tuple[str, str], float]) -> dict[str, float]:
    return {f"{s}/{n}": v for (s, n), v in lone.items()}


if __name__ == "__main__":
    main()
