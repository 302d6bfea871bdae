"""What the AutoGen examples share (not part of any team): the model client, the batch, the CLI.

Each example module defines ``make_team(client)`` (a fresh team: AutoGen teams hold state and
run one task at a time) and ``make_inputs(n)`` (the task strings). :func:`run_tasks` is how an
AutoGen user batches: one team per task, ``asyncio.gather(*(team.run(task=t) ...))``.
:func:`run_example` parses the options of :mod:`examples._common` and runs that code either
without Halo, against an OpenAI-compatible server (``--base-url``, e.g. ``vllm serve``), or
under Halo (the default): the same code inside ``halo_adapters.bind(session, models=...)``.
:func:`comparable` / :func:`mismatches` compare two runs' ``TaskResult`` s (tests, benchmark).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from autogen_agentchat.base import TaskResult, Team
from autogen_core.models import ModelFamily, ModelInfo
from autogen_core.tools import BaseTool
from autogen_ext.models.openai import OpenAIChatCompletionClient

try:  # imported as examples._autogen_common
    from examples._common import UNUSED_URL, parse_args, short
except ImportError:  # an example run as a script: python examples/autogen_*.py
    from _common import UNUSED_URL, parse_args, short  # type: ignore[no-redef]

#: What a vLLM-served model can do, told to AutoGen (required for non-OpenAI model names):
#: tool calls (``--enable-auto-tool-choice``) and guided JSON, text only, one system message.
MODEL_INFO: ModelInfo = {
    "vision": False,
    "function_calling": True,
    "json_output": True,
    "structured_output": True,
    "family": ModelFamily.UNKNOWN,
    "multiple_system_messages": False,
}

ToolT = TypeVar("ToolT", bound=BaseTool[Any, Any])

#: The engine key of ``Session(model=...)`` (the one engine it starts).
ENGINE = "default"

#: Tasks per run, and the cap on output tokens per reply, unless the command line says otherwise.
DEFAULT_N, DEFAULT_MAX_TOKENS = 32, 64


def model_client(model: str, base_url: str, max_tokens: int) -> OpenAIChatCompletionClient:
    """The client every example's agents share (greedy, short answers)."""
    return OpenAIChatCompletionClient(
        model=model,
        base_url=base_url,
        api_key="unused",
        temperature=0,
        max_tokens=max_tokens,
        model_info=MODEL_INFO,
    )


def pure(tool: ToolT) -> ToolT:
    """``tool`` declared pure to Halo (read-only: the same arguments always give the same
    result), so identical calls of different tasks run once; unchanged without Halo."""
    try:
        from halo_adapters import pure as declare
    except ImportError:  # Halo (or its AutoGen adapter) is not installed
        return tool
    return declare(tool)


async def run_tasks(
    make_team: Callable[[Any], Team], client: Any, tasks: Sequence[str], limit: int | None = None
) -> list[TaskResult | BaseException]:
    """Each task on its own new team, all at once; ``limit`` caps how many run together. A
    failed task's entry is its exception (the others go on)."""
    teams = [make_team(client) for _ in tasks]
    gate: Any = asyncio.Semaphore(limit) if limit else contextlib.nullcontext()

    async def run(team: Team, task: str) -> TaskResult:
        async with gate:
            return await team.run(task=task)

    return await asyncio.gather(
        *(run(team, task) for team, task in zip(teams, tasks, strict=True)),
        return_exceptions=True,
    )


def describe(result: TaskResult | BaseException) -> str:
    """A few lines about one task's result (or its error)."""
    if isinstance(result, BaseException):
        return f"  failed: {type(result).__name__}: {result}"
    lines = [
        f"    {m.source:<11} {type(m).__name__:<22} {short(m.to_text(), 90)}"
        for m in result.messages
    ]
    return "\n".join([*lines, f"  stop: {result.stop_reason}"])


async def run_batch(
    make_team: Callable[[Any], Team],
    tasks: Sequence[str],
    *,
    model: str,
    base_url: str,
    max_tokens: int,
    limit: int | None = None,
) -> list[TaskResult | BaseException]:
    """:func:`run_tasks` with a new client for ``model`` at ``base_url``, closed at the end."""
    client = model_client(model, base_url, max_tokens)
    try:
        return await run_tasks(make_team, client, tasks, limit)
    finally:
        await client.close()


def run_example(
    doc: str | None,
    make_team: Callable[[Any], Team],
    make_inputs: Callable[[int], list[str]],
    argv: Sequence[str] | None = None,
) -> list[TaskResult | BaseException]:
    """An example's ``main``: parse the options (described by the first line of ``doc``), run one
    team per task of ``make_inputs(n)``, print a few results; return all."""
    args = parse_args(
        (doc or "").split("\n", 1)[0],
        default_n=DEFAULT_N,
        default_max_tokens=DEFAULT_MAX_TOKENS,
        argv=argv,
    )
    tasks = make_inputs(args.n)

    def batch(base_url: str, limit: int | None = None) -> list[TaskResult | BaseException]:
        return asyncio.run(
            run_batch(
                make_team,
                tasks,
                model=args.served_model,
                base_url=base_url,
                max_tokens=args.max_tokens,
                limit=limit,
            )
        )

    if args.base_url:  # the plain AutoGen way, over HTTP
        start = time.perf_counter()
        results = batch(args.base_url, args.concurrency)
        wall = time.perf_counter() - start
        failed = sum(isinstance(r, BaseException) for r in results)
        print(f"without Halo: {len(results) - failed} done, {failed} failed in {wall:.2f} s")
    else:  # the same code, every team's model and tool calls routed through one Halo session
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
        import halo_adapters
        from halo_core import RunReport, Session
        from halo_core.testing.vllm_server import DEFAULT_TOOL_PARSER

        with Session(
            model=args.model, tool_call_parser=DEFAULT_TOOL_PARSER, compact_json=True
        ) as session:
            start = time.perf_counter()
            with halo_adapters.bind(session, models={args.served_model: ENGINE}):
                # nothing listens at UNUSED_URL: a call that slipped past Halo fails at once
                results = batch(UNUSED_URL)
            report = RunReport(results, time.perf_counter() - start, session.graph.summary())
        print(f"\nunder Halo on {args.model}:\n{report.format()}")
    print("\nsample results:", *map(describe, results[: args.show]), sep="\n")
    return results


# ---- comparing two runs --------------------------------------------------------------------------

#: Fields that differ between runs of the same greedy conversation: message ids, timestamps,
#: token usage.
_DROPPED = frozenset({"id", "created_at", "models_usage"})


def comparable(value: Any, ids: dict[str, str] | None = None) -> Any:
    """``value`` (a ``TaskResult``, a message, an exception, ...) as plain data without what is
    random per run: message ids, timestamps and usage dropped, tool-call ids renamed in order of
    appearance (``id0``, ``id1``, ... the same in ``FunctionCall.id`` and
    ``FunctionExecutionResult.call_id``), exceptions as (type, first line). What stays: each
    message's source, type and content, tool calls and their arguments, tool results and their
    error flags, handoff targets and context, the stop reason."""
    ids = {} if ids is None else ids
    if isinstance(value, BaseException):
        return ("raised", type(value).__name__, str(value).splitlines()[0] if str(value) else "")
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        call = {"id", "name", "arguments"} <= value.keys()  # a FunctionCall: its id is the link
        out = {}
        for k, v in value.items():
            if k == "call_id" or (k == "id" and call):
                out[k] = ids.setdefault(v, f"id{len(ids)}")
            elif k not in _DROPPED:
                out[k] = comparable(v, ids)
        return out
    if isinstance(value, list | tuple):
        return [comparable(v, ids) for v in value]
    return value


def mismatches(got: Sequence[Any], expected: Sequence[Any]) -> dict[int, str]:
    """Index → ``task i[path]: got != expected`` for each task whose results differ after
    :func:`comparable`; empty when the runs agree."""
    from halo_adapters.testing import first_difference

    if len(got) != len(expected):
        raise ValueError(f"runs have {len(got)} and {len(expected)} results")
    return {
        i: f"task {i}{d}"
        for i, (g, e) in enumerate(zip(got, expected, strict=True))
        if (d := first_difference(comparable(g), comparable(e)))
    }
