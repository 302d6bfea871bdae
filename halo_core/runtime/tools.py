"""The tool pool: tool bodies run on threads, so they overlap the engines' work; ``async def``
tools submitted from an event loop run as tasks on that loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
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


def _outcome(fut: asyncio.Future[Any] | concurrent.futures.Future[Any]) -> Any:
    """A finished call's result, or its exception (``CancelledError`` when it was cancelled)."""
    if fut.cancelled():
        return asyncio.CancelledError()
    return fut.exception() or fut.result()


class ToolPool:
    """Threads running tool calls."""

    def __init__(self, workers: int):
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="halo-tool")

    def run(self, call: ToolCall, on_done: Callable[[Any], None]) -> None:
        """Run ``call`` on the pool (or, for an async tool with a caller loop, as a task on that
        loop, in the caller's context); ``on_done(result or exception)`` is called from whichever
        thread finished it."""
        if call.loop is None:
            self._pool.submit(_run, call).add_done_callback(lambda f: on_done(_outcome(f)))
            return

        def start() -> None:
            coro = (call.retry or _ONCE).acall(call.fn, *call.args, **call.kwargs)
            asyncio.ensure_future(coro).add_done_callback(lambda t: on_done(_outcome(t)))

        try:
            call.loop.call_soon_threadsafe(start, context=call.context)
        except RuntimeError as e:  # the caller's loop closed meanwhile
            on_done(e)

    def shutdown(self) -> None:
        """Stop taking work; queued calls are dropped."""
        self._pool.shutdown(wait=False, cancel_futures=True)
