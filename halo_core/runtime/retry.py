"""Tool retry policies: off unless a tool declares one (a side-effecting tool must never be
retried blindly).

>>> @retry(attempts=3, backoff_s=0.5, on=(TimeoutError, ConnectionError))   # doctest: +SKIP
... def fetch(url): ...
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from halo_core.errors import ConfigError

log = logging.getLogger("halo.retry")
F = TypeVar("F", bound=Callable[..., Any])
#: The attribute :func:`retry` sets on a tool function.
ATTR = "__halo_retry__"


@dataclass(frozen=True)
class RetryPolicy:
    """Try a tool up to ``attempts`` times while it raises one of ``on``, sleeping
    ``backoff_s``, then ``backoff_s * multiplier``, ... between tries."""

    attempts: int = 3
    backoff_s: float = 0.5
    multiplier: float = 2.0
    on: tuple[type[BaseException], ...] = (Exception,)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigError(f"RetryPolicy(attempts={self.attempts}): at least 1 try")
        if self.backoff_s < 0 or self.multiplier < 1:
            raise ConfigError("RetryPolicy: backoff_s must be >= 0 and multiplier >= 1")

    def delays(self) -> list[float]:
        """The sleeps between tries."""
        return [self.backoff_s * self.multiplier**i for i in range(self.attempts - 1)]

    def call(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` under this policy."""
        for delay in self.delays():
            try:
                return fn(*args, **kwargs)
            except self.on as e:
                log.info("%s raised %s: retrying in %.2f s", _name(fn), e, delay)
                time.sleep(delay)
        return fn(*args, **kwargs)

    async def acall(self, fn: Callable[..., Awaitable[Any]], /, *args: Any, **kwargs: Any) -> Any:
        """Awaitable :meth:`call` for ``async def`` tools."""
        for delay in self.delays():
            try:
                return await fn(*args, **kwargs)
            except self.on as e:
                log.info("%s raised %s: retrying in %.2f s", _name(fn), e, delay)
                await asyncio.sleep(delay)
        return await fn(*args, **kwargs)


def retry(
    attempts: int = 3,
    *,
    backoff_s: float = 0.5,
    multiplier: float = 2.0,
    on: tuple[type[BaseException], ...] = (Exception,),
) -> Callable[[F], F]:
    """Declare a tool function's retry policy (read by :meth:`Session.tool` and the adapters'
    tool hooks; the function itself is unchanged)."""
    policy = RetryPolicy(attempts, backoff_s, multiplier, on)

    def mark(fn: F) -> F:
        setattr(fn, ATTR, policy)
        return fn

    return mark


def policy_of(fn: Any) -> RetryPolicy | None:
    """The retry policy declared on ``fn`` (by :func:`retry`), if any."""
    policy = getattr(fn, ATTR, None)
    return policy if isinstance(policy, RetryPolicy) else None


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", repr(fn))
