"""Run a graph, a team factory or a row function over rows: what ``halo batch`` and
:func:`run_frame` (a pandas DataFrame in, one out) share.

A target is a compiled LangGraph graph (each row is the graph's input), a zero-argument factory
of AutoGen teams (each row's ``task`` column is the team's task) or a function of one row;
``MODULE:ATTR`` names one for the command line (a zero-argument function that returns a graph
is called once).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from halo_adapters.binding import bind
from halo_core import ConfigError, Journal, RunReport, Session
from halo_core.rows import result_rows

__all__ = ["load_target", "run_frame", "run_rows"]


def _is_graph(obj: Any) -> bool:
    try:
        from langgraph.pregel import Pregel
    except ImportError:
        return False
    return isinstance(obj, Pregel)


def _is_team(obj: Any) -> bool:
    """An AutoGen team or agent (``TaskRunner`` is a protocol without runtime checks)."""
    return type(obj).__module__.startswith("autogen_agentchat") and callable(
        getattr(obj, "run_stream", None)
    )


def load_target(spec: str) -> Any:
    """The object ``MODULE:ATTR`` names (``ATTR`` may be dotted); a zero-argument function
    that returns a graph is called, one that returns a team is kept as the team factory."""
    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise ConfigError(f"{spec!r}: name the target as MODULE:ATTR, e.g. my_app.graphs:graph")
    try:
        obj: Any = importlib.import_module(module)
    except ImportError as e:
        raise ConfigError(f"{spec!r}: cannot import {module!r}: {e}") from e
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{spec!r}: {module!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if _is_graph(obj) or not callable(obj) or _arity(obj) != 0:
        return _checked(obj, spec)
    made = obj()
    if _is_graph(made):
        return made
    if _is_team(made):
        return obj
    raise ConfigError(f"{spec!r} returned a {type(made).__name__}: not a graph or a team")


def _arity(fn: Any) -> int | None:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    return sum(
        p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        for p in params
    )


def _checked(obj: Any, spec: str) -> Any:
    if _is_graph(obj) or (callable(obj) and _arity(obj) == 1):
        return obj
    raise ConfigError(
        f"{spec!r} is a {type(obj).__name__}: give a compiled LangGraph graph, a zero-argument "
        "team factory or a function of one row"
    )


def run_rows(
    target: Any,
    rows: Sequence[Any],
    *,
    session: Session,
    journal: Journal | None = None,
    keys: Sequence[Any] | None = None,
    progress: bool | None = None,
    models: Mapping[str, str] | None = None,
) -> RunReport:
    """Run ``target`` over ``rows`` as Halo instances. ``models`` maps the target's model ids
    to the session's engines (as :func:`halo_adapters.bind`); without it every chat model the
    target uses goes to the session's default engine."""
    unmapped: Any = None if models else "default"
    if _is_graph(target):
        from halo_adapters import langgraph

        return langgraph.batch(
            target,
            rows,
            session=session,
            journal=journal,
            keys=keys,
            progress=progress,
            models=models,
            unmapped=unmapped,
        )
    if callable(target) and _arity(target) == 0:
        from halo_adapters import autogen

        missing = [i for i, r in enumerate(rows) if not isinstance(r, dict) or "task" not in r]
        if missing:
            raise ConfigError(f"row {missing[0]} has no 'task' column: a team needs its task")
        tasks = [r["task"] for r in rows]
        return autogen.batch(
            target,
            tasks,
            session=session,
            journal=journal,
            keys=keys,
            progress=progress,
            models=models,
            unmapped=unmapped,
        )
    with bind(session, models, unmapped=unmapped):
        return session.run(target, rows, journal=journal, keys=keys, progress=progress)


def run_frame(
    target: Any,
    frame: Any,
    *,
    session: Session,
    journal: Journal | None = None,
    key: str | None = None,
    progress: bool | None = None,
) -> Any:
    """A pandas DataFrame in, one out: ``target`` over every row (a dict per row), results as
    columns ``key`` / ``status`` / ``error`` / ``output`` (JSON text) in row order; ``key``
    names the column of instance keys (default: position and input hash)."""
    import pandas as pd

    rows = frame.to_dict(orient="records")
    keys = [str(k) for k in frame[key]] if key is not None else None
    report = run_rows(target, rows, session=session, journal=journal, keys=keys, progress=progress)
    shown = keys if keys is not None else [str(i) for i in range(len(rows))]
    return pd.DataFrame(result_rows(shown, report.results), index=frame.index)
