"""Marks a tool function carries for Halo: :func:`pure` (and, in :mod:`halo_core.runtime.retry`,
``retry``); the function itself is unchanged.

>>> @pure                                                   # doctest: +SKIP
... def lookup(product: str) -> dict: ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
#: The attribute :func:`pure` sets on a tool function.
ATTR = "__halo_pure__"


def pure(fn: F) -> F:
    """Declare ``fn`` pure (same input, same output, no side effects): Halo may merge identical
    calls of it across instances and answer repeats from a memo. Read by ``Session.tool`` and by
    the adapters' tool hooks (for a framework tool: the function behind it)."""
    setattr(fn, ATTR, True)
    return fn


def is_pure(fn: Any) -> bool:
    """Whether ``fn`` was declared :func:`pure`."""
    return getattr(fn, ATTR, False) is True
