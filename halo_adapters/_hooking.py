"""What both framework hooks need: their class-level patches and self-test session, context scopes
around each step of a stream, the tool's own exception, tool bodies named for their dedup key,
and warnings attributed past Halo's frames."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import logging
import os
import sys
import threading
import warnings
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import halo_core
from halo_core import ChatResult, ToolCallError

T = TypeVar("T")
log = logging.getLogger("halo")
Scope = Callable[[], contextlib.AbstractContextManager[Any]]


def _noop() -> None:
    pass


@contextlib.contextmanager
def set_var(var: contextvars.ContextVar[T], value: T) -> Iterator[None]:
    """``var`` set to ``value`` for the block."""
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


def stepped(it: Iterator[T], scope: Scope) -> Iterator[T]:
    """``it``'s items with ``scope()`` entered around each of its steps only: a context variable
    set inside a generator stays set in its consumer between items."""
    try:
        while True:
            with scope():
                try:
                    item = next(it)
                except StopIteration:
                    return
            yield item
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            with scope():
                close()


async def astepped(it: AsyncIterator[T], scope: Scope) -> AsyncGenerator[T, None]:
    """Async :func:`stepped`."""
    try:
        while True:
            with scope():
                try:
                    item = await anext(it)
                except StopAsyncIteration:
                    return
            yield item
    finally:
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            with scope():
                await aclose()


def own_error(e: ToolCallError) -> BaseException:
    """The exception the tool itself raised (the very object; a merged caller's equal twin), to
    raise to the framework as it would be raised without Halo. Halo's context goes to the log.
    Raise it outside the ``except`` block, so Python does not chain ``e`` to it."""
    cause = e.__cause__
    if cause is None:  # Halo's own failure (the session closed, an interrupted journaled call)
        return e
    log.debug("halo: %s", e)
    return cause


def name_body(body: Callable[..., Any], func: Any, owner: type, tool_name: str) -> None:
    """Name a tool body after the function behind the tool and the tool's name: with the
    arguments, the dedup key of a pure tool."""
    body.__module__ = getattr(func, "__module__", None) or owner.__module__
    body.__qualname__ = f"{getattr(func, '__qualname__', owner.__qualname__)}[{tool_name}]"
    body.__name__ = tool_name


# ---- warnings --------------------------------------------------------------------------------

_HALO_DIRS = tuple(
    os.path.dirname(os.path.abspath(m.__file__)) + os.sep
    for m in (halo_core, sys.modules[__package__ or "halo_adapters"])
    if m.__file__
)
_real_warn = warnings.warn
_warn_lock = threading.Lock()


def _is_halo(frame: Any) -> bool:
    return frame.f_code.co_filename.startswith(_HALO_DIRS)


def _warn(
    message: Any,
    category: type[Warning] | None = None,
    stacklevel: int = 1,
    source: Any = None,
    **kw: Any,
) -> None:
    """``warnings.warn`` that does not count Halo's frames towards ``stacklevel``: a framework's
    warning inside a hooked call points at the user's code, as without Halo."""
    extra = 0
    frame: Any = sys._getframe(1)  # the caller of warn: stacklevel 1
    for _ in range(max(stacklevel, 1) - 1):
        frame = frame.f_back
        while frame is not None and _is_halo(frame):
            frame, extra = frame.f_back, extra + 1
        if frame is None:
            break
    _real_warn(message, category, stacklevel + 1 + extra, source, **kw)


def keep_warning_sites() -> None:
    """Install :func:`_warn` as ``warnings.warn`` (idempotent; inert where no Halo frame is
    in the counted frames)."""
    with _warn_lock:
        if warnings.warn is not _warn:
            warnings.warn = _warn


# ---- class-level hooks and the self-tests' stand-in session ---------------------------------

Hook = Callable[..., Any]
#: ``key -> (class, method name, make(original) -> hook)``
PatchSpec = dict[str, tuple[type, str, Callable[[Hook], Hook]]]


class Patches:
    """One framework's class-level hooks, put in place once and taken out again; ``spec()`` is
    read when they are installed (a framework's classes as that version has them)."""

    def __init__(self, spec: Callable[[], PatchSpec], on_uninstall: Callable[[], None] = _noop):
        self._spec = spec
        self._on_uninstall = on_uninstall
        #: each hooked method's own implementation, by key
        self.originals: dict[str, Hook] = {}
        self._places: dict[str, tuple[type, str]] = {}
        self._lock = threading.RLock()

    def installed(self) -> bool:
        """Whether the hooks are in place."""
        return bool(self.originals)

    def install(self) -> None:
        """Put the hooks in place (idempotent)."""
        with self._lock:
            if self.originals:
                return
            keep_warning_sites()
            for key, (cls, name, make) in self._spec().items():
                original = vars(cls)[name]
                self.originals[key] = original
                self._places[key] = (cls, name)
                setattr(cls, name, functools.wraps(original)(make(original)))

    def uninstall(self) -> None:
        """Restore the framework's own methods."""
        with self._lock:
            for key, (cls, name) in self._places.items():
                setattr(cls, name, self.originals[key])
            self.originals.clear()
            self._places.clear()
            self._on_uninstall()

    @contextlib.contextmanager
    def held(self) -> Iterator[bool]:
        """The hooks' lock for the block; yields whether they were installed before it."""
        with self._lock:
            yield self.installed()


class ProbeSession:
    """Stands in for a Session in the hooks' self-tests: records what reaches it, answers
    every chat with ``"probe"`` and runs tools in the caller."""

    def __init__(self) -> None:
        self.chats: list[list[dict[str, Any]]] = []
        self.tools: list[str] = []

    def chat(self, messages: list[dict[str, Any]], **kw: Any) -> ChatResult:
        self.chats.append(messages)
        return ChatResult("probe", 1, 1, 0, "stop", [], content="probe")

    async def achat(self, messages: list[dict[str, Any]], **kw: Any) -> ChatResult:
        return self.chat(messages)

    def call_tool(self, fn: Hook, args: Any = (), kwargs: Any = None, **options: Any) -> Any:
        self.tools.append(fn.__name__)
        return fn(*args, **(kwargs or {}))

    async def acall_tool(self, fn: Hook, args: Any = (), kwargs: Any = None, **options: Any) -> Any:
        result = self.call_tool(fn, args, kwargs)
        return await result if inspect.isawaitable(result) else result
