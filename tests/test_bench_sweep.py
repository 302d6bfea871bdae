"""The benchmark's baseline sweep: highest concurrency first, a run that can no longer be the
best is stopped (no engine: a fake graph whose batch time depends on its concurrency)."""

from __future__ import annotations

import asyncio
from typing import Any

from halo_core.backends.base import EngineCounters


class _Server:
    def reset_prefix_cache(self) -> None:
        pass

    def counters(self) -> EngineCounters:
        return EngineCounters(0, 0, 0, 0, 0)


class _Graph:
    """``abatch`` takes 0.05 s at max_concurrency 8, 30 s below that."""

    def __init__(self) -> None:
        self.cancelled: list[int] = []

    async def abatch(self, inputs: list[Any], config: dict[str, Any], **_: Any) -> list[Any]:
        c = config["max_concurrency"]
        try:
            await asyncio.sleep(0.05 if c >= 8 else 30)
        except asyncio.CancelledError:
            self.cancelled.append(c)
            raise
        return [f"out-{x}" for x in inputs]


def test_sweep_runs_highest_first_and_stops_runs_that_cannot_win() -> None:
    from benchmarks.run import sweep_baseline

    graph = _Graph()
    runs = sweep_baseline([_Server()], graph, [1, 2, 3], [2, 8, 4], "W0")
    assert [m.detail.split(",")[0] for m in runs] == [f"max_concurrency={c}" for c in (8, 4, 2)]
    first, *rest = runs
    assert not first.stopped and first.results == ["out-1", "out-2", "out-3"]
    assert all(m.stopped and m.results == [] for m in rest)
    assert all(m.wall_s < 5 for m in rest)  # stopped near the best time, not after 30 s
    assert graph.cancelled == [4, 2]
