"""A batch over a Ray cluster: its instances in shards, each a Ray task with a session of its
own attached to the driver's replicas (``EngineConfig(backend="ray")``).

Each shard imports the target by name (``MODULE:ATTR``, as ``halo batch`` takes it), runs its
slice of the rows with :func:`~halo_adapters.rows.run_rows`, and sends back plain data: its
result rows (outputs through the journal's codecs, errors as text) and its counters. Its calls
go to the replicas placed as the driver's would be, and an identical call of another shard
joins the run already under way there (or takes its answer), so it is computed once. With a
journal (one SQLite file every shard reaches, WAL) a shard whose worker dies is run again by
Ray: its finished instances and completed calls come from the journal, and a side-effecting
tool never runs twice. Results come back in input order in one :class:`~halo_core.RunReport`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import itertools
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from halo_adapters.journal_codecs import register_autogen, register_langchain
from halo_core import (
    ConfigError,
    GraphSummary,
    Journal,
    RemoteInstanceError,
    RunReport,
    Session,
    SessionConfig,
    Stats,
)
from halo_core.backends import EngineCounters
from halo_core.journal import JournalCounts
from halo_core.journal.codec import decode

__all__ = ["run_sharded"]

log = logging.getLogger("halo.shards")


def shard_config(session: Session) -> SessionConfig:
    """The driver's session config with every engine attached to the driver's replicas."""
    engines = {}
    for key, cfg in session.config.engines.items():
        group = getattr(session.engines[key], "group", None)
        if cfg.backend != "ray" or group is None:
            raise ConfigError(
                f"a sharded batch needs every engine on the Ray backend: engine {key!r} is "
                f"backend={cfg.backend!r}; give it backend='ray' and backend_settings"
            )
        settings = {**cfg.backend_settings, "name": group.name, "attach": True}
        engines[key] = cfg.model_copy(update={"backend_settings": settings})
    return session.config.model_copy(update={"engines": engines})


def run_sharded(
    target: str,
    rows: Sequence[Any],
    *,
    session: Session,
    shards: int,
    journal: str | Path | None = None,
    run: str = "default",
    retry_failed: bool = False,
    keys: Sequence[Any] | None = None,
    models: Mapping[str, str] | None = None,
    shard_cpus: float = 1.0,
    retries: int = 2,
    env: Mapping[str, str] | None = None,
    progress: bool | None = None,
) -> RunReport:
    """Run ``target`` (``MODULE:ATTR``: a graph, a team factory or a row function) over
    ``rows`` in ``shards`` Ray tasks of ``shard_cpus`` each (see the module doc). ``journal``:
    the SQLite file of a durable batch (every shard must reach it), under run id ``run``
    (``retry_failed`` as :class:`~halo_core.Journal` takes it); with one, a shard that dies is
    run again up to ``retries`` times. ``env``: environment variables the shards' workers get
    (Ray's ``runtime_env``); their ``PYTHONPATH`` starts with the folder the driver imported the
    target's package from (the same path on every node: one machine or a shared filesystem)."""
    import ray

    from halo_adapters.rows import load_target

    if shards < 1:
        raise ConfigError(f"shards={shards}: give at least one")
    load_target(target)  # fails fast here, not in every shard
    for register in (register_langchain, register_autogen):  # outputs decode here too
        with contextlib.suppress(ImportError):
            register()
    config = shard_config(session).model_dump_json()
    names = Journal.keys(rows, keys)
    bounds = [len(rows) * i // shards for i in range(shards + 1)]
    task = ray.remote(_run_shard).options(
        num_cpus=shard_cpus,
        max_retries=retries if journal is not None else 0,
        runtime_env={"env_vars": _shard_env(target, env or {})},
    )
    t0 = time.perf_counter()
    pending = {
        task.remote(
            target,
            list(rows[lo:hi]),
            names[lo:hi],
            config,
            str(journal) if journal is not None else None,
            run,
            retry_failed,
            dict(models) if models else None,
        ): (lo, hi)
        for lo, hi in itertools.pairwise(bounds)
        if hi > lo
    }
    done: dict[tuple[int, int], dict[str, Any] | BaseException] = {}
    bar = tqdm(total=len(rows), desc="shards", disable=None if progress is None else not progress)
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        span = pending.pop(ready[0])
        try:
            done[span] = ray.get(ready[0])
        except Exception as e:  # the shard failed for good: its instances fail, the rest stand
            log.error("shard of rows %d-%d failed: %s", span[0], span[1] - 1, e)
            done[span] = e
        bar.update(span[1] - span[0])
    bar.close()
    return _merge(done, names, time.perf_counter() - t0)


def _shard_env(target: str, env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with the folder holding the target's top-level module first on PYTHONPATH."""
    spec = importlib.util.find_spec(target.partition(":")[0].split(".")[0])
    root = None
    if spec is not None and spec.submodule_search_locations:  # a package: the folder above
        root = Path(next(iter(spec.submodule_search_locations))).parent
    elif spec is not None and spec.has_location and spec.origin:
        root = Path(spec.origin).parent
    rest = env.get("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
    paths = [p for p in (str(root) if root else "", rest) if p]
    return {**env, "PYTHONPATH": os.pathsep.join(paths)} if paths else dict(env)


def _run_shard(
    target: str,
    rows: list[Any],
    keys: list[str],
    config: str,
    journal: str | None,
    run: str,
    retry_failed: bool,
    models: dict[str, str] | None,
) -> dict[str, Any]:
    """One shard, in a Ray worker: its rows through a session attached to the replicas."""
    from halo_adapters.rows import load_target, run_rows
    from halo_core.rows import result_rows

    with (
        Session(SessionConfig.model_validate_json(config)) as session,
        Journal(journal, run=run, retry_failed=retry_failed)
        if journal
        else contextlib.nullcontext() as jr,
    ):
        report = run_rows(
            load_target(target),
            rows,
            session=session,
            journal=jr,
            keys=keys if jr is not None else None,
            progress=False,
            models=models,
        )
    return {
        "rows": result_rows(keys, report.results),
        "summary": {
            "llm": _stats(report.summary.llm),
            "tool": _stats(report.summary.tool),
            "epochs": report.summary.epochs,
        },
        "engine": {k: dataclasses.asdict(c) for k, c in report.engine.items()},
        "replicas": {k: [dataclasses.asdict(c) for c in per] for k, per in report.replicas.items()},
        "plan_s": report.plan_s,
        "journal": dataclasses.asdict(report.journal) if report.journal else None,
    }


def _stats(s: Stats) -> dict[str, Any]:
    return {f.name: getattr(s, f.name) for f in dataclasses.fields(s) if f.name != "instance_ids"}


def _merge(
    done: dict[tuple[int, int], dict[str, Any] | BaseException], keys: list[str], wall: float
) -> RunReport:
    """The shards' plain reports as one run report, results in input order."""
    results: list[Any] = [None] * len(keys)
    summary = GraphSummary()
    engine: dict[str, EngineCounters] = {}
    replicas: dict[str, list[EngineCounters]] = {}
    journals: list[JournalCounts] = []
    plan_s = 0.0
    for (lo, hi), shard in sorted(done.items()):
        if isinstance(shard, BaseException):
            error = f"its shard failed: {type(shard).__name__}: {shard}"
            for i in range(lo, hi):
                results[i] = RemoteInstanceError(keys[i], error)
            continue
        for i, row in enumerate(shard["rows"], lo):
            if row["status"] == "done":
                results[i] = decode(row["output"])
            else:
                results[i] = RemoteInstanceError(row["key"], row["error"])
        s = shard["summary"]
        summary = GraphSummary(
            summary.llm + Stats(**s["llm"]), summary.tool + Stats(**s["tool"]),
            summary.epochs + s["epochs"],
        )  # fmt: skip
        for k, c in shard["engine"].items():
            engine[k] = engine[k] + EngineCounters(**c) if k in engine else EngineCounters(**c)
        for k, per in shard["replicas"].items():
            now = [EngineCounters(**c) for c in per]
            seen = replicas.get(k)
            replicas[k] = now if seen is None else [a + b for a, b in zip(seen, now, strict=True)]
        plan_s += shard["plan_s"]
        if shard["journal"]:
            journals.append(JournalCounts(**shard["journal"]))
    return RunReport(
        results,
        wall,
        summary,
        engine,
        plan_s=plan_s,
        journal=_add_journals(journals) if journals else None,
        replicas=replicas,
    )


def _add_journals(counts: list[JournalCounts]) -> JournalCounts:
    fields = dataclasses.fields(JournalCounts)
    sums = {f.name: sum(getattr(c, f.name) for c in counts) for f in fields}
    sums["size_bytes"] = max(c.size_bytes for c in counts)  # one file
    return JournalCounts(**sums)
