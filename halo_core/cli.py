"""The ``halo`` command line.

``halo run`` runs the product-review-analyst demo (:mod:`halo_core.demo`) as one batch on an
embedded model and prints what Halo did::

    halo run                         # SmolLM2-135M-Instruct, 64 reviews
    halo run --model tiny --n 16     # a tiny random model: a quick smoke test
"""

from __future__ import annotations

import argparse
import logging
import sys

from halo_core import demo
from halo_core.config import EngineConfig, SessionConfig
from halo_core.errors import ConfigError
from halo_core.session import Session


def _cmd_run(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise SystemExit("halo run: --n must be at least 1")
    if args.max_tokens is not None and args.max_tokens < 1:
        raise SystemExit("halo run: --max-tokens must be at least 1")
    max_tokens = args.max_tokens if args.max_tokens is not None else demo.DEFAULT_MAX_TOKENS
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    print(f"halo run: {args.n} product reviews on model {args.model!r}", flush=True)
    try:
        session = Session(
            SessionConfig(
                engines={"default": EngineConfig(model=args.model)},
                engine_log_level="info" if args.verbose else "error",
            )
        )
    except (ConfigError, RuntimeError) as e:
        print(f"halo run: could not start the engine: {e}", file=sys.stderr)
        return 1
    with session:
        resolved = session.engines[session.config.default_model].model
        report = session.run(
            demo.make_workflow(session, max_tokens=max_tokens),
            demo.make_inputs(args.n),
            progress=not args.no_progress,
            desc="reviews",
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
            "Run the demo workflow of halo_core.demo (tool lookup, category, sentiment, main "
            "point, one-line summary per review) over a batch of reviews under Halo, then print "
            "calls requested vs executed, prompt tokens computed vs cached and wall time."
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
    run.set_defaults(func=_cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``halo`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
