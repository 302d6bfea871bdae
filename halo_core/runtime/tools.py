"""The tool pool: tool bodies run on threads, so they overlap the engines' work; ``async def``
tools submitted from an event loop run as tasks on that loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
from collections.abc import Callable
from typing import Any

from halo_core.calls import ToolCall
from halo_core.runtime.retry import RetryPolicy

_ONCE = RetryPolicy(attempts=1)


def _run(call: ToolCall) -> Any:
    policy = call.retry or _ONCE
    if inspect.iscoroutinefunction(call.fn):
        return asyncio.run(policy.acall(call.fn, *call.args, **call.kwargs))
    return policy.call(call.fn, *call.args, **call.kwargs)


def _outcome(task: asyncio.Future[Any]) -> Any:
    """A finished task's result, or its exception (``CancelledError`` when it was cancelled)."""
    if task.cancelled():
        return asyncio.CancelledError()
    return task.exception() or task.result()


class ToolPool:
    """Threads running tool calls; completions come back on the runtime's loop."""

    def __init__(self, workers: int):
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="halo-tool")

    def run(
        self, loop: asyncio.AbstractEventLoop, call: ToolCall, on_done: Callable[[Any], None]
    ) -> None:
        """Run ``call`` on the pool (or, for an async tool with a caller loop, on that loop);
        ``on_done(result or exception)`` runs on ``loop``."""
        if call.loop is None:
            task = loop.run_in_executor(self._pool, _run, call)
            task.add_done_callback(lambda t: on_done(_outcome(t)))
            return

        def start() -> None:  # on the caller's loop, in the caller's context
            coro = (call.retry or _ONCE).acall(call.fn, *call.args, **call.kwargs)
            task = asyncio.ensure_future(coro)
            task.add_done_callback(lambda t: _deliver(loop, on_done, _outcome(t)))

        try:
            call.loop.call_soon_threadsafe(start, context=call.context)
        except RuntimeError as e:  # the caller's loop closed meanwhile
            on_done(e)

    def shutdown(self) -> None:
        """Stop taking work; queued calls are dropped."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def _deliver(loop: asyncio.AbstractEventLoop, on_done: Callable[[Any], None], value: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the runtime's loop closed: the session is gone
        loop.call_soon_threadsafe(on_done, value)
