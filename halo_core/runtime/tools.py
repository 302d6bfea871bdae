"""The tool pool: tool bodies run on threads, so they overlap the engines' work."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
from collections.abc import Callable
from typing import Any

from halo_core.calls import ToolCall
from halo_core.runtime.retry import RetryPolicy


def _run(call: ToolCall) -> Any:
    policy = call.retry or _ONCE
    if inspect.iscoroutinefunction(call.fn):
        return asyncio.run(policy.acall(call.fn, *call.args, **call.kwargs))
    return policy.call(call.fn, *call.args, **call.kwargs)


_ONCE = RetryPolicy(attempts=1)


class ToolPool:
    """Threads running tool calls; completions come back on the runtime's loop."""

    def __init__(self, workers: int):
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="halo-tool")

    def run(
        self, loop: asyncio.AbstractEventLoop, call: ToolCall, on_done: Callable[[Any], None]
    ) -> None:
        """Run ``call`` on the pool; ``on_done(result or exception)`` runs on ``loop``."""
        task = loop.run_in_executor(self._pool, _run, call)
        task.add_done_callback(lambda t: on_done(t.exception() or t.result()))

    def shutdown(self) -> None:
        """Stop taking work; queued calls are dropped."""
        self._pool.shutdown(wait=False, cancel_futures=True)
