"""Waiting helpers shared by the tests of cancellation and online runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from halo_core import Session
from halo_core.testing.fake_engine import FakeEngine


async def until(ready: Callable[[], Any], timeout_s: float = 10.0) -> None:
    """Return once ``ready()`` is true (fail after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


def held(s: Session) -> FakeEngine:
    """``s``'s fake engine, holding every request until :meth:`FakeEngine.release`."""
    engine = s.engines["m"]
    assert isinstance(engine, FakeEngine)
    engine.hold = True
    return engine
