"""The ablation (``--ablate``): Halo's run again with each of its decisions off, or flipped to
its alternative, in turn."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from benchmarks.runners import Measured, run_halo

log = logging.getLogger("halo.bench")


def ablations(on: Any, n: int, config: Any) -> dict[str, tuple[Any, dict[str, Any] | None]]:
    """Each scheduler / optimizer decision of ``on`` (the run's ``OptimizerConfig``) switched
    off, or to its alternative, in turn, for ``n`` inputs on a session of ``config``: name →
    (the optimizer configuration to run with, the graph's run config). Where the session admits
    every input at once, the admission case caps it at the engines' summed ``max_num_seqs``."""
    from halo_core import OptimizerConfig

    other_turns = "drain" if on.engine_turns == "step" else "step"
    other_closing = "cost" if on.epoch_closing == "window" else "window"

    def changed(**update: Any) -> tuple[Any, None]:
        return on.model_copy(update=update), None

    seqs = sum(e.max_num_seqs for e in config.engines.values())
    admission = (
        ("every instance live (no admission cap)", n)
        if config.live_width(n) < n
        else (f"live instances capped at the engines' max_num_seqs ({seqs})", seqs)
    )
    cases: dict[str, tuple[Any, dict[str, Any] | None]] = {
        admission[0]: (on, {"max_concurrency": admission[1]}),
        "no optimizer rules (dedup, memo, prefix groups, order)": changed(rules=()),
        "no deferral (rules on, every epoch closes at once)": changed(defer=False),
        "nothing deferred or merged (each call sent at once)": (OptimizerConfig.direct(), None),
        f"engine turns {other_turns!r}": changed(engine_turns=other_turns),
        f"epoch closing {other_closing!r}": changed(epoch_closing=other_closing),
    }
    if on.critical_path:
        cases["no critical-path priority"] = changed(critical_path=False)
    return cases


def run_ablation(
    session: Any,
    graph: Any,
    inputs: list[Any],
    name: str,
    models: Mapping[str, str],
    halo: Measured,
    on: Any,
) -> dict[str, dict[str, Any]]:
    """Halo's run again with each decision off (:func:`ablations`): wall time, its ratio to
    everything on, and how many outputs equal everything-on's."""
    from halo_adapters.testing import mismatches

    out = {}
    for case, (optimizer, config) in ablations(on, len(inputs), session.config).items():
        with session.optimizing(optimizer):
            m, _ = run_halo(session, graph, inputs, name, models, config=config)
        out[case] = {
            "wall_s": m.wall_s,
            "slowdown": m.wall_s / halo.wall_s,
            "equal": len(inputs) - len(mismatches(m.results, halo.results)),
        }
        log.info("  ablation %s: %.1f s", case, m.wall_s)
    return out
