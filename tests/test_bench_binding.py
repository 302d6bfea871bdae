"""The benchmark baseline's sweeps: concurrency (highest first, a run that can no longer be the
best is stopped) and CPU thread bindings (binding name → each server's
``VLLM_CPU_OMP_THREADS_BIND``, the server's environment, other bindings at the best
concurrency). No server: fakes whose batch time depends on concurrency and binding."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from halo_core.backends.base import EngineCounters


def test_cpu_binds_gives_each_server_its_binding() -> None:
    from benchmarks.fleet import cpu_binds

    assert cpu_binds("auto", 3, 2) == [None, None, None]  # vLLM's default: variable unset
    assert cpu_binds("all", 3, 2) == ["0-1"] * 3
    assert cpu_binds("all", 1, 1) == ["0"]
    assert cpu_binds("nobind", 2, 8) == ["nobind", "nobind"]
    assert cpu_binds("per-server", 2, 2) == ["0", "1"]
    assert cpu_binds("per-server", 3, 8) == ["0-1", "2-4", "5-7"]  # distinct, split evenly
    assert cpu_binds("per-server", 1, 4) == ["0-3"]
    with pytest.raises(ValueError, match="3 servers, only 2 cores"):
        cpu_binds("per-server", 3, 2)
    with pytest.raises(ValueError, match="unknown binding"):
        cpu_binds("half", 3, 2)


def test_applicable_bindings_skip_what_cannot_apply_or_repeats_another() -> None:
    from benchmarks.fleet import BINDINGS, applicable_bindings

    assert applicable_bindings(BINDINGS, 3, 2) == ["auto", "all", "nobind"]  # 3 servers, 2 cores
    assert applicable_bindings(BINDINGS, 3, 4) == list(BINDINGS)
    assert applicable_bindings(BINDINGS, 1, 4) == ["auto", "all", "nobind"]  # per-server = all
    assert applicable_bindings(["nobind", "auto"], 3, 2) == ["nobind", "auto"]  # order kept
    with pytest.raises(ValueError, match="unknown binding"):
        applicable_bindings(["auto", "half"], 3, 2)


def test_vllm_server_env_sets_cpu_bind_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from halo_core.testing.vllm_server import VLLMServer

    # where a user's (or an in-process engine's) environment says how to place vLLM's engine
    monkeypatch.setenv("VLLM_CPU_OMP_THREADS_BIND", "0-1")
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    default = VLLMServer("model", log_path=tmp_path / "a.log")
    assert default.cpu_bind is None
    assert "VLLM_CPU_OMP_THREADS_BIND" not in default.env  # vLLM's own default (auto)
    assert "VLLM_ENABLE_V1_MULTIPROCESSING" not in default.env
    bound = VLLMServer("model", log_path=tmp_path / "b.log", cpu_bind="nobind")
    assert bound.env["VLLM_CPU_OMP_THREADS_BIND"] == "nobind"
    assert "VLLM_ENABLE_V1_MULTIPROCESSING" not in bound.env
    assert bound._proc is None  # constructed, not launched


def test_baseline_servers_give_each_server_its_bind(monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import fleet as bench_fleet

    made: list[Any] = []

    class _Fake:
        def __init__(self, d: str, roles: list[str], _len: int, cpu_bind: str | None) -> None:
            self.url, self.cpu_bind, self.events = f"http://{d}/v1", cpu_bind, ["made"]
            made.append(self)

        def launch(self) -> None:
            self.events.append("launch")

        def wait_ready(self) -> str:
            self.events.append("ready")
            return self.url

        def stop(self) -> None:
            self.events.append("stop")

    monkeypatch.setattr(bench_fleet, "baseline_server", _Fake)
    fleet = bench_fleet.BaselineServers({"a": ["S"], "b": ["M", "L"]}, 1024, cpus=4)
    assert fleet.use("per-server") and fleet.binding == "per-server"
    assert [s.cpu_bind for s in fleet.servers] == ["0-1", "2-3"]
    assert fleet.urls == {"S": "http://a/v1", "M": "http://b/v1", "L": "http://b/v1"}
    assert not fleet.use("per-server")  # already on it: no restart
    first = list(fleet.servers)
    assert fleet.use("auto") and [s.cpu_bind for s in fleet.servers] == [None, None]
    assert all(s.events == ["made", "launch", "ready", "stop"] for s in first)
    assert len(made) == 4
    fleet.stop()
    assert fleet.binding is None


class _Server:
    def reset_prefix_cache(self) -> None:
        pass

    def counters(self) -> EngineCounters:
        return EngineCounters(0, 0, 0, 0, 0)


class _Graph:
    """``abatch`` takes ``fast`` s at max_concurrency 8 or more, 30 s below that, times
    ``wide`` with a default executor wider than max_concurrency; a warm-up (fewer than 5
    inputs) returns at once. ``fan`` branches leave its first node."""

    def __init__(
        self, fast: float, cancelled: list[tuple[float, int]], fan: int = 1, wide: float = 1.0
    ) -> None:
        self.fast, self.cancelled, self.warmed = fast, cancelled, 0
        self.fan, self.wide = fan, wide

    def get_graph(self) -> Any:
        return SimpleNamespace(edges=[SimpleNamespace(source="first")] * self.fan)

    async def abatch(self, inputs: list[Any], config: dict[str, Any], **_: Any) -> list[Any]:
        c = config["max_concurrency"]
        if len(inputs) < 5:
            self.warmed += 1
            return inputs
        threads = asyncio.get_running_loop()._default_executor._max_workers  # type: ignore[attr-defined]
        try:
            await asyncio.sleep((self.fast if c >= 8 else 30) * (self.wide if threads > c else 1))
        except asyncio.CancelledError:
            self.cancelled.append((self.fast, c))
            raise
        return [f"out-{x}" for x in inputs]


class _Fleet:
    def __init__(self, binding: str) -> None:
        self.binding: str | None = binding
        self.servers, self.used = [_Server()], [binding]

    def use(self, binding: str) -> bool:
        if binding == "broken":
            from halo_core.testing.vllm_server import ServerStartError

            self.binding = None
            raise ServerStartError("vLLM server exited with 1")
        if binding == self.binding:
            return False
        self.used.append(binding)
        self.binding = binding
        return True

    @property
    def urls(self) -> dict[str, str]:
        return {"S": f"http://{self.binding}/v1"}


def test_sweep_bindings_runs_other_bindings_at_the_best_concurrency() -> None:
    from benchmarks.sweep import sweep_bindings

    fast = {"auto": 0.2, "all": 0.05, "nobind": 30.0}  # the batch's time on each binding
    cancelled: list[tuple[float, int]] = []
    built: list[tuple[str, _Graph]] = []

    def graph_for(urls: Mapping[str, str]) -> _Graph:
        built.append((urls["S"], _Graph(fast[urls["S"].split("/")[2]], cancelled)))
        return built[-1][1]

    fleet = _Fleet("auto")
    graph = graph_for(fleet.urls)
    bindings = ["auto", "all", "broken", "nobind"]
    inputs = [1, 2, 3, 4, 5]
    runs = sweep_bindings(cast(Any, fleet), graph, graph_for, inputs, [4, 8], bindings, "W0")
    assert [m.detail.split(", stopped")[0] for m in runs] == [
        "max_concurrency=8, bind=auto",
        "max_concurrency=4, bind=auto",
        "max_concurrency=8, bind=all",
        "max_concurrency=8, bind=broken, servers did not start",
        "max_concurrency=8, bind=nobind",
    ]
    assert [(m.binding, m.concurrency, m.stopped) for m in runs] == [
        ("auto", 8, False),
        ("auto", 4, True),
        ("all", 8, False),
        ("broken", 8, True),
        ("nobind", 8, True),
    ]
    assert runs[2].results == [f"out-{x}" for x in inputs] and runs[2].wall_s < runs[0].wall_s
    assert runs[4].wall_s < 5  # stopped near the best time so far (all's), not after 30 s
    assert fleet.used == ["auto", "all", "nobind"] and fleet.binding == "nobind"
    # a graph per server set: the first (warmed by the caller), then one per restart, warmed
    assert [url for url, _ in built] == ["http://auto/v1", "http://all/v1", "http://nobind/v1"]
    assert [g.warmed for _, g in built] == [0, 1, 1]
    assert cancelled == [(0.2, 4), (30.0, 8)]


@pytest.mark.parametrize("wide", [0.2, 100.0])
def test_sweep_bindings_tries_an_executor_per_branch_where_the_graph_branches(wide: float) -> None:
    from benchmarks.sweep import sweep_bindings

    cancelled: list[tuple[float, int]] = []
    built: list[_Graph] = []

    def graph_for(urls: Mapping[str, str]) -> _Graph:
        built.append(_Graph(0.1, cancelled, fan=3, wide=wide))
        return built[-1]

    fleet = _Fleet("auto")
    graph = graph_for(fleet.urls)
    runs = sweep_bindings(cast(Any, fleet), graph, graph_for, [1, 2, 3, 4, 5], [8], ["auto"], "W0")
    assert [(m.detail.split(", stopped")[0], m.threads) for m in runs] == [
        ("max_concurrency=8, bind=auto", 0),
        ("max_concurrency=8, bind=auto, threads=24", 24),
    ]
    assert fleet.used == ["auto"] and [g.warmed for g in built] == [0, 0]  # no restart, no warm-up
    best = min((m for m in runs if not m.stopped), key=lambda m: m.wall_s)
    assert best.threads == (24 if wide < 1 else 0)
    assert runs[1].stopped == (wide > 1) and runs[1].wall_s < 5


def test_sweep_runs_highest_first_and_stops_runs_that_cannot_win() -> None:
    from benchmarks.sweep import sweep_baseline

    cancelled: list[tuple[float, int]] = []
    runs = sweep_baseline([_Server()], _Graph(0.05, cancelled), list(range(5)), [2, 8, 4], "W0")
    assert [m.detail.split(",")[0] for m in runs] == [f"max_concurrency={c}" for c in (8, 4, 2)]
    first, *rest = runs
    assert not first.stopped and first.results == [f"out-{x}" for x in range(5)]
    assert all(m.stopped and m.results == [] for m in rest)
    assert all(m.wall_s < 5 for m in rest)  # stopped near the best time, not after 30 s
    assert cancelled == [(0.05, 4), (0.05, 2)]


def test_a_killed_benchmark_stops_its_servers(tmp_path: Path) -> None:
    """``kill`` (SIGTERM) of a benchmark process runs its ``finally`` blocks, which stop its
    ``vllm serve`` processes; a ``sleep`` stands in for the server here."""
    import os
    import signal
    import subprocess
    import sys
    import time

    pid_file = tmp_path / "server.pid"
    script = (
        "import subprocess, time\n"
        "from benchmarks.fleet import exit_on_sigterm\n"
        "exit_on_sigterm()\n"
        "server = subprocess.Popen(['sleep', '600'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(server.pid))\n"
        "try:\n"
        "    time.sleep(600)\n"
        "finally:\n"
        "    server.terminate()\n"
        "    server.wait()\n"
    )
    bench = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).parents[1])
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert bench.poll() is None and time.monotonic() < deadline, "the script did not start"
        time.sleep(0.1)
    server_pid = int(pid_file.read_text())
    bench.send_signal(signal.SIGTERM)
    assert bench.wait(60) == 128 + signal.SIGTERM
    with pytest.raises(ProcessLookupError):  # reaped by the benchmark: gone
        os.kill(server_pid, 0)


def test_fan_out_counts_the_widest_branching_of_a_graph() -> None:
    from langgraph.graph import END, START, StateGraph
    from typing_extensions import TypedDict

    from benchmarks.sweep import fan_out

    class S(TypedDict):
        x: int

    g = StateGraph(S)
    for name in ("a", "b", "c", "d"):
        g.add_node(name, lambda s: {})
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("a", "c")
    g.add_edge("a", "d")
    g.add_edge(["b", "c", "d"], END)
    assert fan_out(g.compile()) == 3
    chain = StateGraph(S)
    chain.add_node("a", lambda s: {})
    chain.add_edge(START, "a")
    chain.add_edge("a", END)
    assert fan_out(chain.compile()) == 1
