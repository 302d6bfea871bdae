"""The Ray backend on a real local Ray cluster of two nodes (one CPU each): two tiny-model
replicas as Ray actors, calls placed by their prompt's first KV block. Outputs are held against
the engine host in this process."""

from __future__ import annotations

import collections
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from halo_core import EngineConfig, OptimizerConfig, Session, SessionConfig

ray = pytest.importorskip("ray")

pytestmark = [pytest.mark.engine, pytest.mark.ray]

GROUPS, PER_GROUP = 8, 8


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    c.add_node(num_cpus=1)
    ray.init(address=c.address, namespace="halo", log_to_driver=False)
    yield c
    ray.shutdown()
    c.shutdown()


def _cfg(model: Path, backend: str = "ray", **settings: Any) -> EngineConfig:
    return EngineConfig(
        model=str(model),
        backend=backend,
        max_model_len=1024,
        calibrate=False,
        backend_settings={"replicas": 2, **settings} if backend == "ray" else {},
    )


def _prompts() -> list[list[dict[str, str]]]:
    """GROUPS system prompts longer than a KV block, PER_GROUP questions each."""
    return [
        [
            {
                "role": "system",
                "content": f"Assistant {g}. " + " ".join(f"f{g}x{i}" for i in range(90)),
            },
            {"role": "user", "content": f"Question {q}: name a colour."},
        ]
        for g in range(GROUPS)
        for q in range(PER_GROUP)
    ]


def _answers(s: Session, prompts: list[Any]) -> list[str]:
    return s.map(lambda m: s.chat(m, max_tokens=12).text, prompts, progress=False)


@pytest.fixture(scope="module")
def expected(tiny_model: Path) -> list[str]:
    with Session(SessionConfig(engines={"tiny": _cfg(tiny_model, "vllm-host")})) as s:
        return _answers(s, _prompts())


def test_calls_spread_over_two_replicas_by_prefix_with_outputs_unchanged(
    cluster: Any, tiny_model: Path, expected: list[str]
) -> None:
    with Session(SessionConfig(engines={"tiny": _cfg(tiny_model)})) as s:
        got = _answers(s, _prompts())
        engine: Any = s.engines["tiny"]
        per_replica = engine.replica_counters()
        placements = dict(engine.placements)
        nodes = {ray.get(a.connect_info.remote())[0] for a in engine.group.actors}
        pids = {ray.get(a.pid.remote()) for a in engine.group.actors}
    assert got == expected
    assert len(pids) == 2 and len(nodes) == 1  # one machine: both nodes share its address
    assert all(c.requests > 0 for c in per_replica), per_replica
    assert len(placements) == GROUPS and all(len(r) == 1 for r in placements.values())


def test_identical_calls_of_two_clients_are_computed_once(
    cluster: Any, tiny_model: Path, expected: list[str]
) -> None:
    """A batch's shards attach to the driver's replicas: an identical call of another client
    joins the run under way or takes its answer."""
    prompts = _prompts()
    cfg = _cfg(tiny_model, name="shared-test")
    with Session(SessionConfig(engines={"tiny": cfg})) as driver:
        attached = cfg.model_copy(
            update={"backend_settings": {**cfg.backend_settings, "attach": True}}
        )
        with Session(SessionConfig(engines={"tiny": attached})) as shard:
            results: dict[str, list[str]] = {}
            threads = [
                threading.Thread(
                    target=lambda n=n, s=s: results.__setitem__(n, _answers(s, prompts))
                )
                for n, s in (("driver", driver), ("shard", shard))
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            a, b = driver.counters()["tiny"], shard.counters()["tiny"]
    assert results["driver"] == results["shard"] == expected
    assert a.requests + b.requests == len(prompts)
    assert a.joined + b.joined == len(prompts)


def test_a_killed_replica_hands_its_calls_to_the_other(
    cluster: Any, tiny_model: Path, expected: list[str]
) -> None:
    with Session(SessionConfig(engines={"tiny": _cfg(tiny_model, restarts=1)})) as s:
        engine: Any = s.engines["tiny"]
        victim = engine.group.actors[0]
        killed = threading.Event()

        def killer() -> None:  # kill replica 0 while it holds calls
            while not engine.clients[0].outstanding:
                time.sleep(0.001)
            ray.kill(victim, no_restart=False)
            killed.set()

        t = threading.Thread(target=killer)
        t.start()
        with s.optimizing(OptimizerConfig.direct()):
            got = _answers(s, _prompts())
        t.join()
        moved = s.counters()["tiny"].moved
    assert killed.is_set() and moved > 0
    assert got == expected


# ---- a batch in shards ------------------------------------------------------------------------


def _shard_env(
    tmp_path: Path, die_at: str | None = None, shard: list[str] | None = None
) -> dict[str, str]:
    """The shards' environment; ``die_at`` kills its worker once ``shard``'s tools are done."""
    env = {"SHARD_EFFECTS": str(tmp_path / "effects.txt")}  # PYTHONPATH: run_sharded's own
    if die_at and shard:
        env |= {
            "SHARD_DIE_AT": die_at,
            "SHARD_DIE_AFTER": ",".join(shard),
            "SHARD_MARKER": str(tmp_path / "died"),
            "SHARD_JOURNAL": str(tmp_path / "journal.db"),
        }
    return env


def _effects(tmp_path: Path) -> collections.Counter[str]:
    return collections.Counter((tmp_path / "effects.txt").read_text().split())


@pytest.fixture(scope="module")
def single(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    """The batch in one process, on the engine host: what the shards must return."""
    from halo_adapters.rows import run_rows
    from tests import shard_targets

    tmp = tmp_path_factory.mktemp("single")
    rows = shard_targets.make_rows(64)
    old = os.environ.get("SHARD_EFFECTS")
    os.environ["SHARD_EFFECTS"] = str(tmp / "effects.txt")
    try:
        with Session(SessionConfig(engines={"tiny": _cfg(tiny_model, "vllm-host")})) as s:
            return run_rows(shard_targets.graph, rows, session=s, progress=False).results
    finally:
        os.environ.pop("SHARD_EFFECTS") if old is None else os.environ.update(SHARD_EFFECTS=old)


def _sharded(model: Path, rows: list[Any], env: dict[str, str], **kw: Any) -> Any:
    """``rows`` through ``tests.shard_targets:graph`` in two shards on two replicas."""
    from halo_adapters.sharded import run_sharded

    cfg = _cfg(model, num_cpus=0.5)
    with Session(SessionConfig(engines={"tiny": cfg})) as s:
        return run_sharded(
            "tests.shard_targets:graph",
            rows,
            session=s,
            shards=2,
            shard_cpus=0.5,
            env=env,
            progress=False,
            **kw,
        )


def test_a_batch_in_two_shards_equals_one_process_and_computes_identical_calls_once(
    cluster: Any, tiny_model: Path, tmp_path: Path, single: list[Any]
) -> None:
    from tests import shard_targets

    rows = shard_targets.make_rows(64)
    report = _sharded(tiny_model, rows, _shard_env(tmp_path))
    assert report.failed == 0, [r for r in report.results if isinstance(r, BaseException)]
    assert [r["answer"] for r in report.results] == [r["answer"] for r in single]
    per_replica = report.replicas["tiny"]
    assert all(c.requests > 0 for c in per_replica), per_replica
    # each shard dedups its own 32 rows to 8 calls; the other shard's 8 join them at a replica
    counts = report.engine["tiny"]
    assert counts.requests == shard_targets.DISTINCT and counts.joined == shard_targets.DISTINCT
    assert report.summary.llm_calls == len(rows)
    assert set(_effects(tmp_path).values()) == {1} and len(_effects(tmp_path)) == len(rows)


def test_a_shard_whose_worker_dies_is_run_again_from_the_journal(
    cluster: Any, tiny_model: Path, tmp_path: Path, single: list[Any]
) -> None:
    from tests import shard_targets

    rows = shard_targets.make_rows(64)
    keys = [r["id"] for r in rows]
    env = _shard_env(tmp_path, die_at="row-0010", shard=keys[: len(keys) // 2])
    report = _sharded(tiny_model, rows, env, journal=tmp_path / "journal.db", keys=keys)
    assert (tmp_path / "died").exists()  # a shard's worker was killed mid-batch
    assert report.failed == 0, [r for r in report.results if isinstance(r, BaseException)]
    assert [r["answer"] for r in report.results] == [r["answer"] for r in single]
    assert report.journal is not None and report.journal.resumed + report.journal.answered > 0
    assert max(_effects(tmp_path).values()) == 1  # no side effect ran twice
    assert len(_effects(tmp_path)) == len(rows)


def test_halo_batch_with_shards_writes_the_rows_of_the_one_process_run(
    cluster: Any, tiny_model: Path, tmp_path: Path, single: list[Any]
) -> None:
    """``halo batch --config ray.json --shards 2`` over a file of rows: one result row per
    input, in input order, outputs equal to the one-process run."""
    from halo_adapters.app.cli import main
    from halo_core.journal.codec import decode
    from tests import shard_targets

    rows = shard_targets.make_rows(16)
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = _cfg(tiny_model, num_cpus=0.5).model_dump(mode="json", exclude_defaults=True)
    (tmp_path / "ray.json").write_text(json.dumps({"engines": {"tiny": cfg}}))
    out = tmp_path / "out.jsonl"
    effects = f"SHARD_EFFECTS={tmp_path / 'effects.txt'}"
    argv = ["batch", "tests.shard_targets:graph", "--input", str(tmp_path / "rows.jsonl")]
    argv += ["--output", str(out), "--config", str(tmp_path / "ray.json"), "--key", "id"]
    argv += ["--shards", "2", "--shard-cpus", "0.5", "--shard-env", effects, "--no-progress"]
    assert main(argv) == 0
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [g["key"] for g in got] == [r["id"] for r in rows]
    assert all(g["status"] == "done" for g in got), got
    assert [decode(g["output"])["answer"] for g in got] == [r["answer"] for r in single[:16]]
    assert len(_effects(tmp_path)) == len(rows)


def test_the_ray_example_gives_the_same_rows_driven_here_and_in_shards(
    cluster: Any, tiny_model: Path, tmp_path: Path
) -> None:
    """``examples/ray_batch.py``: the durable-batch graph on two replicas, calibrated, run
    from the driver and in two shards; failing rows fail alone, with the same error."""
    from examples import ray_batch

    argv = ["--n", "40", "--model", str(tiny_model), "--dir", str(tmp_path)]
    here, shards = ray_batch.main(argv)
    pairs = zip(here.results, shards.results, strict=True)
    assert [ray_batch._same(a, b) for a, b in pairs] == [True] * 40
    assert here.failed == shards.failed == 2  # rows 7 and 27: their tool raises
    assert len(here.replicas["default"]) == len(shards.replicas["default"]) == 2
    effects = (tmp_path / "effects-shards.txt").read_text().split()
    assert len(effects) == len(set(effects)) == 38
