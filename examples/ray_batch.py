"""A batch on a Ray cluster: ``examples/durable_batch.py``'s graph, unchanged, with its engine on
Ray replicas (actors, each an engine host) and its rows in Ray tasks (shards)::

    python -m examples.ray_batch --n 256 --model tiny             # starts a local Ray
    python -m examples.ray_batch --address auto --replicas 4 ...  # joins a running cluster

(from the repository's root: the shards import the graph as ``examples.durable_batch:graph``).

It runs the rows twice and prints Halo's report each time, with a line per replica:

1. driven from this process (``halo_adapters.langgraph.batch``): the instances here, their calls
   placed on the replicas by their prompt's first KV block;
2. in ``--shards`` Ray tasks (``run_sharded``, journaled): each shard a session attached to the
   same replicas, where an identical call of another shard joins the run under way.

The two must agree row by row (greedy decoding); the rows whose tool fails (every 20th) or
whose input is malformed (every 100th) fail alone, with their error, in both. ``--dir`` holds
the price database, the side-effect files and the journal: every node must reach it (one
machine, or a shared filesystem). The CPUs are Ray's logical ones: replicas and shards must fit
the cluster together (the defaults fit 2 + 2 halves on a 2-CPU machine).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from examples import durable_batch


def main(argv: list[str] | None = None) -> tuple[Any, Any]:
    """Run the batch both ways; return the two reports."""
    import halo_adapters.langgraph as halo_lg
    from halo_adapters.sharded import run_sharded
    from halo_core import EngineConfig, Session, SessionConfig

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=256)
    p.add_argument("--model", default="smollm2", help="smollm2 (default), tiny, a model dir")
    p.add_argument("--address", help="the Ray cluster ('auto', 'ray://host:10001'); none: local")
    p.add_argument("--replicas", type=int, default=2, help="engine replicas (Ray actors)")
    p.add_argument("--replica-cpus", type=float, default=0.5, help="Ray CPUs per replica")
    p.add_argument("--shards", type=int, default=2, help="Ray tasks the rows are split over")
    p.add_argument("--shard-cpus", type=float, default=0.5, help="Ray CPUs per shard")
    p.add_argument("--dir", type=Path, default=Path("ray-batch"), help="db, effects, journal")
    args = p.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    db = str(durable_batch.make_db(args.dir / "prices.db"))
    rows = durable_batch.make_rows(args.n)
    keys = [r["id"] for r in rows]
    settings = {"address": args.address, "replicas": args.replicas, "num_cpus": args.replica_cpus}
    engine = EngineConfig(model=args.model, backend="ray", backend_settings=settings)
    with Session(SessionConfig(engines={"default": engine})) as session:
        os.environ.update(DURABLE_DB=db, DURABLE_EFFECTS=str(args.dir / "effects-driver.txt"))
        here = halo_lg.batch(durable_batch.graph, rows, session=session, progress=True)
        print(f"in this process, calls on {args.replicas} replicas\n{here.format()}\n")
        shards = run_sharded(
            "examples.durable_batch:graph",
            rows,
            session=session,
            shards=args.shards,
            journal=args.dir / "journal.db",
            keys=keys,
            shard_cpus=args.shard_cpus,
            env={"DURABLE_DB": db, "DURABLE_EFFECTS": str(args.dir / "effects-shards.txt")},
        )
        print(f"in {args.shards} shards\n{shards.format()}")
    same = sum(_same(a, b) for a, b in zip(here.results, shards.results, strict=True))
    print(f"\nrows equal in both runs: {same}/{len(rows)}")
    return here, shards


def _same(a: Any, b: Any) -> bool:
    """Equal outputs, or failures with the same message (a shard's comes back as text)."""
    if isinstance(a, BaseException) or isinstance(b, BaseException):
        return isinstance(a, BaseException) and isinstance(b, BaseException) and str(a) in str(b)
    return bool(a == b)


if __name__ == "__main__":
    main()
