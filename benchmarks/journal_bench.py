"""What a journal costs: the durable-batch example with and without one, side by side.

    python -m benchmarks.journal_bench --n 1000 [--model tiny]

In one process and one session, ``examples/durable_batch.py``'s graph runs over ``--n`` rows
(5% hit a raising tool, 1% are malformed) three times after a warm-up: without a journal, with a
fresh journal (every call and instance written), and again with that journal (every finished
instance returned from it). Prints each run's wall time, the journal's rows written, the time
spent writing them, its size, and the instances / calls it answered.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--model", default="tiny", help="tiny (default), smollm2, or a model dir")
    args = p.parse_args(argv)
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")

    import halo_adapters.langgraph as halo_lg
    from examples import durable_batch as app
    from halo_core import EngineConfig, Journal, Session, SessionConfig

    rows = app.make_rows(args.n)
    keys = [r["id"] for r in rows]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DURABLE_DB"] = str(app.make_db(Path(tmp) / "prices.db"))
        os.environ["DURABLE_EFFECTS"] = str(Path(tmp) / "effects.txt")
        engines = {"default": EngineConfig(model=args.model)}
        with Session(SessionConfig(engines=engines)) as s:
            halo_lg.batch(app.graph, rows[:8], session=s)  # warm-up, off the clock

            def run(label: str, journal: Journal | None) -> None:
                s.reset()
                t0 = time.perf_counter()
                named = keys if journal is not None else None
                report = halo_lg.batch(app.graph, rows, session=s, journal=journal, keys=named)
                wall = time.perf_counter() - t0
                j = report.journal
                out.append(
                    {
                        "run": label,
                        "wall_s": wall,
                        "failed": report.failed,
                        "llm_requested": report.summary.llm_calls,
                        **(
                            {
                                "resumed": j.resumed + j.failed_before,
                                "answered": j.answered,
                                "written": j.written,
                                "write_s": j.write_s,
                                "size_mb": j.size_bytes / 1e6,
                            }
                            if j is not None
                            else {}
                        ),
                    }
                )

            run("no journal", None)
            path = Path(tmp) / "journal.db"
            with Journal(path) as j:
                run("fresh journal", j)
            with Journal(path) as j:
                run("resume (all finished)", j)
    base = out[0]["wall_s"]
    print(f"\nexamples/durable_batch.py, N = {args.n}, model {args.model}\n")
    print(
        "| run | wall s | vs no journal | failed | LLM calls requested | instances from "
        "journal | call rows written | s writing | journal MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in out:
        print(
            f"| {r['run']} | {r['wall_s']:.2f} | {r['wall_s'] / base:.2f}x | {r['failed']} "
            f"| {r['llm_requested']} | {r.get('resumed', '-')} | {r.get('written', '-')} "
            f"| {r.get('write_s', 0):.2f} | {r.get('size_mb', 0):.2f} |"
        )
    return out


if __name__ == "__main__":
    main()
