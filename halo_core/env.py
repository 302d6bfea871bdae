"""Environment variables set for a block only: the settings vLLM and its libraries read when an
engine is created stay out of the process after it (a ``vllm serve`` started later from the same
process gets its own defaults)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

_lock = threading.RLock()  # os.environ is the process's: one block at a time sets it


@contextmanager
def scoped_env(values: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` with ``values`` set inside the block and as it was after it."""
    with _lock:
        before = {k: os.environ.get(k) for k in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for key, old in before.items():
                if old is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = old
