"""The two ways a caller waits for a call it submitted: blocking its thread, or awaiting on its
event loop. Each call is written once, as a method returning a future; these make its sync and
async forms."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

S = TypeVar("S")
P = ParamSpec("P")
R = TypeVar("R")
Submit = Callable[Concatenate[S, P], concurrent.futures.Future[R]]

_awaiting: contextvars.ContextVar[bool] = contextvars.ContextVar("halo_awaiting", default=False)


def awaiting() -> bool:
    """Whether the call being submitted now will be awaited on the caller's running loop."""
    return _awaiting.get()


def blocking(submit: Submit[S, P, R], name: str, doc: str) -> Callable[Concatenate[S, P], R]:
    """``submit`` as a method that blocks until the call is done."""

    @functools.wraps(submit)
    def call(self: S, *args: P.args, **kwargs: P.kwargs) -> R:
        return submit(self, *args, **kwargs).result()

    _named(call, submit, name, doc)
    return call


def awaited(
    submit: Submit[S, P, R], name: str, doc: str
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, R]]:
    """``submit`` as a coroutine method, for async workflows on any event loop."""

    @functools.wraps(submit)
    async def call(self: S, *args: P.args, **kwargs: P.kwargs) -> R:
        token = _awaiting.set(True)
        try:
            fut = submit(self, *args, **kwargs)
        finally:
            _awaiting.reset(token)
        return await asyncio.wrap_future(fut)

    _named(call, submit, name, doc)
    return call


def _named(call: Any, submit: Any, name: str, doc: str) -> None:
    """Name, document and sign ``call`` as the method it is (returning what the future holds)."""
    call.__name__, call.__doc__ = name, doc
    call.__qualname__ = f"{submit.__qualname__.rpartition('.')[0]}.{name}"
    sig = inspect.signature(submit)
    held = str(sig.return_annotation)
    future = "concurrent.futures.Future["
    ret = held[len(future) : -1] if held.startswith(future) else inspect.Signature.empty
    call.__signature__ = sig.replace(return_annotation=ret)
