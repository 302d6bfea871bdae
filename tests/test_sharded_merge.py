"""How a sharded batch's plain shard reports become one run report (no Ray needed)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from halo_adapters.sharded import _merge, _shard_env
from halo_core import RemoteInstanceError
from halo_core.backends import EngineCounters
from halo_core.rows import result_rows


def _shard(keys: list[str], results: list[object], requests: int, per_replica: list[int]) -> dict:
    counters = EngineCounters(requests, 10 * requests, 0, 0, 0)
    return {
        "rows": result_rows(keys, results),
        "summary": {"llm": {"calls": len(keys), "executed": requests}, "tool": {}, "epochs": 2},
        "engine": {"m": dataclasses.asdict(counters)},
        "replicas": {"m": [dataclasses.asdict(EngineCounters(n, 0, 0, 0, 0)) for n in per_replica]},
        "plan_s": 0.5,
        "journal": None,
    }


def test_shards_merge_in_input_order_with_counters_summed_per_replica() -> None:
    keys = [f"k{i}" for i in range(5)]
    done = {
        (3, 5): _shard(keys[3:], [{"a": 3}, {"a": 4}], 2, [2, 0]),
        (0, 3): _shard(keys[:3], [{"a": 0}, ValueError("bad row"), {"a": 2}], 3, [1, 2]),
    }
    report = _merge(done, keys, 1.5)
    assert report.results[0] == {"a": 0} and report.results[4] == {"a": 4}
    assert isinstance(report.results[1], RemoteInstanceError)
    assert "ValueError: bad row" in str(report.results[1]) and report.failed == 1
    assert report.engine["m"].requests == 5 and report.engine["m"].prompt_tokens == 50
    assert [c.requests for c in report.replicas["m"]] == [3, 2]
    assert report.summary.llm_calls == 5 and report.summary.epochs == 4 and report.plan_s == 1.0
    assert "replicas m" in report.format()


def test_a_shard_that_failed_for_good_fails_its_instances_alone() -> None:
    keys = ["a", "b", "c"]
    done = {(0, 1): _shard(keys[:1], [{"x": 1}], 1, [1]), (1, 3): RuntimeError("worker died")}
    report = _merge(done, keys, 1.0)
    assert report.results[0] == {"x": 1}
    assert all(isinstance(r, RemoteInstanceError) for r in report.results[1:])
    assert "worker died" in str(report.results[2])


def test_shards_import_the_target_from_where_the_driver_found_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = str(Path(__file__).resolve().parent.parent)  # tests/ is a package in the repo root
    monkeypatch.setenv("PYTHONPATH", "/driver/extra")
    env = _shard_env("tests.shard_targets:graph", {"A": "1"})
    assert env == {"A": "1", "PYTHONPATH": os.pathsep.join([root, "/driver/extra"])}
    given = _shard_env("tests.shard_targets:graph", {"PYTHONPATH": "/mine"})
    assert given["PYTHONPATH"] == os.pathsep.join([root, "/mine"])
