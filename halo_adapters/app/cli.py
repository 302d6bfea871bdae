"""The ``halo`` command line.

``halo run`` runs the product-review-analyst demo (:mod:`halo_adapters.app.demo`) as one batch on an
embedded model and prints what Halo did::

    halo run                         # SmolLM2-135M-Instruct, 64 reviews
    halo run --model tiny --n 16     # a tiny random model: a quick smoke test

``halo batch`` runs a graph, an AutoGen team factory or a row function over a file of rows and
writes one result row per input; with ``--journal`` a killed run resumes where it stopped::

    halo batch my_app.graphs:graph --input rows.parquet --output results.parquet \
        --journal batch.db [--retry-failed]

``halo serve`` serves a graph or a team factory behind LangGraph's HTTP run API (what
``langgraph_sdk`` clients speak), every run a Halo instance of one session::

    halo serve my_app.graphs:graph --port 2024 [--host 0.0.0.0 --token ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

import pydantic

from halo_adapters.app import demo
from halo_core import rows
from halo_core.config import EngineConfig, OptimizerConfig, SessionConfig
from halo_core.errors import ConfigError
from halo_core.journal import Journal
from halo_core.session import Session


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _session(
    model: str | None,
    verbose: bool,
    command: str,
    config_file: Path | None = None,
    **defaults: Any,
) -> Session | None:
    """The command's session: one engine of ``model`` (default smollm2), or the
    ``SessionConfig`` a JSON file gives (``defaults`` fill what it leaves out)."""
    settings = {**defaults, "engine_log_level": "info" if verbose else "error"}
    if config_file is not None:
        if model is not None:
            raise ConfigError("give --model or --config, not both (the file names the engines)")
        try:
            settings |= json.loads(config_file.read_text())
            config = SessionConfig.model_validate(settings)
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"--config {config_file}: {e}") from None
        except pydantic.ValidationError as e:
            raise ConfigError(f"--config {config_file}: {_wrong(e, '')}") from None
    else:
        engine = EngineConfig(model=model or "smollm2")
        config = SessionConfig(engines={"default": engine}, **settings)
    try:
        return Session(config)
    except (ConfigError, RuntimeError) as e:
        print(f"halo {command}: could not start the engine: {e}", file=sys.stderr)
        return None


def _wrong(e: pydantic.ValidationError, prefix: str) -> str:
    """A validation error's fields and messages on one line (``prefix``: an option's dashes)."""
    return "; ".join(f"{prefix}{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())


def _models(pairs: list[str] | None) -> dict[str, str] | None:
    """``--map ID=KEY`` options as a model mapping (None: none given)."""
    return _pairs(pairs, "--map", "MODEL_ID=ENGINE_KEY") or None


def _pairs(pairs: list[str] | None, option: str, form: str) -> dict[str, str]:
    """Repeated ``option A=B`` values as a dict."""
    bad = [p for p in pairs or () if "=" not in p]
    if bad:
        raise ConfigError(f"{option} {bad[0]!r}: give {form}")
    return dict(p.split("=", 1) for p in pairs or ())


def _journal(args: argparse.Namespace) -> Journal | None:
    if args.journal is None:
        if args.retry_failed:
            raise ConfigError("--retry-failed re-runs the failures a journal holds: give --journal")
        return None
    return Journal(args.journal, run=args.run_id, retry_failed=args.retry_failed)


def _cmd_run(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise SystemExit("halo run: --n must be at least 1")
    if args.max_tokens is not None and args.max_tokens < 1:
        raise SystemExit("halo run: --max-tokens must be at least 1")
    max_tokens = args.max_tokens if args.max_tokens is not None else demo.DEFAULT_MAX_TOKENS
    _logging(args.verbose)
    journal = _journal(args)
    print(f"halo run: {args.n} product reviews on model {args.model!r}", flush=True)
    session = _session(args.model, args.verbose, "run")
    if session is None:
        return 1
    with session, journal or contextlib.nullcontext():
        resolved = session.engines[session.config.default_model].model
        report = session.run(
            demo.make_workflow(session, max_tokens=max_tokens),
            demo.make_inputs(args.n),
            progress=not args.no_progress,
            desc="reviews",
            journal=journal,
        )
    print()
    print(f"model            {args.model} ({resolved})")
    print(report.format())
    samples = report.results[: args.samples]
    if samples:
        print("\nsample results:")
        for r in samples:
            print(demo.format_result(r))
    return 1 if report.failed == len(report.results) else 0


def _cmd_batch(args: argparse.Namespace) -> int:
    from halo_adapters.rows import load_target, run_rows  # imports the frameworks: when asked

    _logging(args.verbose)
    rows.check_paths(args.input, args.output)
    target = load_target(args.target)
    inputs = rows.read_rows(args.input)
    keys = rows.row_keys(inputs, args.key)
    journal = _journal(args)
    print(f"halo batch: {len(inputs)} rows of {args.input} through {args.target}", flush=True)
    session = _session(args.model, args.verbose, "batch", args.config)
    if session is None:
        return 1
    with session, journal or contextlib.nullcontext():
        if args.shards:
            from halo_adapters.sharded import run_sharded  # imports Ray: when asked

            report = run_sharded(
                args.target,
                inputs,
                session=session,
                shards=args.shards,
                journal=args.journal,
                run=args.run_id,
                retry_failed=args.retry_failed,
                keys=keys if journal is not None else None,
                models=_models(args.map),
                shard_cpus=args.shard_cpus,
                env=_pairs(args.shard_env, "--shard-env", "NAME=VALUE"),
                progress=not args.no_progress,
            )
        else:
            report = run_rows(
                target,
                inputs,
                session=session,
                models=_models(args.map),
                journal=journal,
                keys=keys if journal is not None else None,  # --key also names output rows
                progress=not args.no_progress,
            )
    shown = keys if keys is not None else [str(i) for i in range(len(inputs))]
    rows.write_rows(args.output, rows.result_rows(shown, report.results))
    print(report.format())
    print(f"results          {args.output} ({len(inputs)} rows, {report.failed} failed)")
    return 1 if report.failed == len(report.results) else 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from halo_adapters.rows import load_target  # imports the frameworks: when asked
    from halo_adapters.serve import ServeConfig, serve

    _logging(args.verbose)
    try:
        config = ServeConfig(
            host=args.host,
            port=args.port,
            token=args.token,
            live=args.live,
            queued=args.queued,
            deadline_s=args.deadline_s,
            drain_s=args.drain_s,
        )
    except pydantic.ValidationError as e:
        raise ConfigError(_wrong(e, "--").replace("_", "-")) from None
    target = load_target(args.target)
    name = args.name or args.target.partition(":")[2].rsplit(".", 1)[-1]
    models = _models(args.map)
    session = _session(
        args.model,
        args.verbose,
        "serve",
        args.config,
        # a long-lived session: bounded memory, epochs that follow the load
        memo_max_entries=args.memo_max_entries,
        graph_max_records=args.graph_max_records,
        optimizer=OptimizerConfig(epoch_closing="adaptive"),
    )
    if session is None:
        return 1

    def ready(url: str) -> None:
        print(f"halo serve: {args.target} as {name!r} on {url}", flush=True)

    with session:
        serve(target, session, config, name=name, models=models, on_ready=ready)
    print("halo serve: stopped", flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="halo",
        description="Halo: run batches of agentic LLM workflows fast on a shared vLLM engine.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser(
        "run",
        help="run the product-review-analyst demo batch and print what Halo did",
        description=(
            "Run the demo workflow of halo_adapters.app.demo (tool lookup, category, sentiment, "
            "main point, one-line summary per review) over a batch of reviews under Halo, then "
            "print calls requested vs executed, prompt tokens computed vs cached and wall time."
        ),
    )
    run.add_argument(
        "--model",
        default="smollm2",
        help="smollm2 (embedded SmolLM2-135M-Instruct, default), tiny, a model dir or HF id",
    )
    run.add_argument("--n", type=int, default=64, help="number of reviews (default 64)")
    run.add_argument(
        "--max-tokens", type=int, default=None, help="output-token cap of the free-text steps"
    )
    run.add_argument("--samples", type=int, default=3, help="sample results to print (default 3)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("-v", "--verbose", action="store_true", help="show the engine's start-up log")
    _journal_args(run)
    run.set_defaults(func=_cmd_run)

    batch = sub.add_parser(
        "batch",
        help="run a graph, team factory or row function over a file of rows",
        description=(
            "Run TARGET (MODULE:ATTR: a compiled LangGraph graph, a zero-argument AutoGen team "
            "factory whose rows carry a 'task' column, or a function of one row) over every row "
            "of --input under Halo and write one result row per input (key, status, error, "
            "output as JSON) to --output. With --journal, a re-run after a crash resumes: "
            "finished rows are not recomputed and side-effecting tools never run twice."
        ),
    )
    batch.add_argument("target", help="MODULE:ATTR, e.g. my_app.graphs:graph")
    batch.add_argument("--input", type=Path, required=True, help="rows: .jsonl, .csv or .parquet")
    batch.add_argument("--output", type=Path, required=True, help="results: .jsonl or .parquet")
    batch.add_argument("--key", help="column of row ids naming the instances in the journal")
    _engine_args(batch)
    batch.add_argument("--no-progress", action="store_true", help="no progress bar")
    batch.add_argument("-v", "--verbose", action="store_true", help="show the engine's log")
    batch.add_argument(
        "--shards",
        type=int,
        default=0,
        help="run the rows in this many Ray tasks (needs every engine on backend 'ray', "
        "from --config; the target must import on the cluster's workers)",
    )
    batch.add_argument("--shard-cpus", type=float, default=1.0, help="CPUs per shard task")
    batch.add_argument(
        "--shard-env",
        action="append",
        metavar="NAME=VALUE",
        help="an environment variable of the shards' workers (repeatable)",
    )
    _journal_args(batch)
    batch.set_defaults(func=_cmd_batch)

    srv = sub.add_parser(
        "serve",
        help="serve a graph or a team factory behind LangGraph's HTTP run API",
        description=(
            "Serve TARGET (MODULE:ATTR: a compiled LangGraph graph or a zero-argument AutoGen "
            "team factory) over HTTP: LangGraph's stateless runs (POST /runs/wait, /runs/stream, "
            "/runs/batch, /assistants/search) for langgraph_sdk clients, a team's plain "
            'POST /runs/wait {"task": ...}, GET /metrics (Prometheus), /health and /ok. Every '
            "run is a Halo instance: the calls of the runs in flight coalesce. SIGTERM drains."
        ),
    )
    srv.add_argument("target", help="MODULE:ATTR, e.g. my_app.graphs:graph")
    srv.add_argument("--name", help="the assistant / graph id clients name (default: ATTR)")
    srv.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (loopback)")
    srv.add_argument("--port", type=int, default=2024, help="default 2024; 0 = any free port")
    srv.add_argument(
        "--token",
        help="bearer token clients must send (default $HALO_SERVE_TOKEN); required beyond loopback",
    )
    srv.add_argument("--live", type=int, help="runs executing at once (default: the session's)")
    srv.add_argument("--queued", type=int, default=1024, help="runs waiting; beyond: 429")
    srv.add_argument("--deadline-s", type=float, default=300.0, help="a run's deadline")
    srv.add_argument("--drain-s", type=float, default=60.0, help="SIGTERM: time to drain")
    _engine_args(srv)
    srv.add_argument(
        "--memo-max-entries",
        type=int,
        default=100_000,
        help="finished results the dedup memo keeps (least recently used dropped; default 100k)",
    )
    srv.add_argument(
        "--graph-max-records",
        type=int,
        default=50_000,
        help="call records the consolidated graph keeps (oldest finished dropped; default 50k)",
    )
    srv.add_argument("-v", "--verbose", action="store_true", help="show the engine's log")
    srv.set_defaults(func=_cmd_serve)
    return parser


def _engine_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        help="the one engine every chat model goes to: smollm2 (embedded, default), tiny, a "
        "model dir or HF id",
    )
    p.add_argument(
        "--config",
        type=Path,
        help="a JSON file of SessionConfig fields instead (several engines, optimizer, bounds), "
        'e.g. {"engines": {"small": {"model": "..."}, "large": {"model": "..."}}}',
    )
    p.add_argument(
        "--map",
        action="append",
        metavar="MODEL_ID=ENGINE_KEY",
        help="send the framework's model MODEL_ID (ChatOpenAI(model=...)) to the engine "
        "ENGINE_KEY; repeat for each (default: every model to the first engine)",
    )


def _journal_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--journal", type=Path, help="journal file (SQLite): a re-run resumes")
    p.add_argument("--run-id", default="default", help="run id within the journal file")
    p.add_argument(
        "--retry-failed", action="store_true", help="re-run the instances that failed before"
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``halo`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except ConfigError as e:
        print(f"halo {args.command}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
