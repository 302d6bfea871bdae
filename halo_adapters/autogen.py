"""Drop-in AutoGen AgentChat adapter: unchanged teams, run by the hundred through one Halo session.

>>> import halo_adapters, halo_adapters.autogen as halo_ag                  # doctest: +SKIP
>>> client = OpenAIChatCompletionClient(model="Qwen/Qwen3-14B", base_url=url, api_key="x",
...                                     model_info=info)                    # doctest: +SKIP
>>> teams = [make_team(client) for _ in tasks]                             # doctest: +SKIP
>>> with halo_adapters.bind(s, models={"Qwen/Qwen3-14B": "qwen"}):         # doctest: +SKIP
...     results = await asyncio.gather(*(t.run(task=x) for t, x in zip(teams, tasks)))
>>> report = await halo_ag.abatch(lambda: make_team(client), tasks, session=s)  # doctest: +SKIP
>>> report.results, print(report.format())                                 # doctest: +SKIP

Under a binding every ``OpenAIChatCompletionClient`` call and every sync ``FunctionTool`` call
of the teams goes through the session, and each top-level ``team.run`` / ``agent.run`` is one
Halo instance, so the teams' calls coalesce (see :mod:`halo_adapters._autogen_hook`).
:func:`batch` / :func:`abatch` also return the run report. Tools merge across instances only
when declared :func:`halo_adapters.pure`; :func:`plan_of` / :func:`explain` draw a team's plan.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

from halo_adapters._autogen_plan import explain, plan_of
from halo_adapters.binding import Unmapped, bind
from halo_adapters.journal_codecs import register_autogen
from halo_core import Journal, RunReport, Session

__all__ = ["abatch", "batch", "explain", "plan_of"]

P = ParamSpec("P")
R = TypeVar("R")

#: one team (or agent) per task, or a factory called once per task
Teams = Sequence[Any] | Callable[[], Any]


async def abatch(
    teams: Teams,
    tasks: Sequence[Any],
    *,
    session: Session,
    models: Mapping[str, str] | None = None,
    unmapped: Unmapped | None = None,
    progress: bool | None = False,
    journal: Journal | None = None,
    keys: Sequence[Any] | None = None,
) -> RunReport:
    """``await team.run(task=task)`` for every task, each as one Halo instance; the run report.

    ``teams``: one team or agent object per task (each runs once: AutoGen teams hold state), or
    a factory ``() -> team`` called once per task. ``models`` / ``unmapped`` bind as
    :func:`halo_adapters.bind`. ``report.results[i]`` is task i's ``TaskResult``, or its exception
    (a failed instance fails alone). ``journal`` / ``keys``: a durable batch, as
    :func:`halo_adapters.langgraph.batch`.
    """
    tasks = list(tasks)
    runners = [teams() for _ in tasks] if callable(teams) else list(teams)
    if len(runners) != len(tasks):
        raise ValueError(f"{len(runners)} teams for {len(tasks)} tasks: give one team per task")
    if journal is not None:
        register_autogen()

    async def one(pair: tuple[int, Any]) -> Any:
        return await runners[pair[0]].run(task=pair[1])

    with bind(session, models, unmapped=unmapped):
        return await session.arun(
            one,
            list(enumerate(tasks)),
            progress=progress,
            desc="autogen",
            journal=journal,
            keys=keys,
        )


def _on_a_fresh_loop(afn: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, R]:
    @functools.wraps(afn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return asyncio.run(afn(*args, **kwargs))

    run.__name__ = run.__qualname__ = afn.__name__.removeprefix("a")
    run.__doc__ = f":func:`{afn.__name__}` on a fresh event loop (from sync code)."
    return run


batch = _on_a_fresh_loop(abatch)
