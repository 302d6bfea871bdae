"""A callback handler the tests use to count LangChain events with and without Halo."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler


class CountingHandler(BaseCallbackHandler):
    """Counts callback events (thread-safe)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _hit(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1

    def on_llm_start(self, *a: Any, **k: Any) -> None:
        self._hit("llm_start")

    def on_chat_model_start(self, *a: Any, **k: Any) -> None:
        self._hit("chat_model_start")

    def on_llm_end(self, *a: Any, **k: Any) -> None:
        self._hit("llm_end")

    def on_llm_error(self, *a: Any, **k: Any) -> None:
        self._hit("llm_error")

    def on_tool_start(self, *a: Any, **k: Any) -> None:
        self._hit("tool_start")

    def on_tool_end(self, *a: Any, **k: Any) -> None:
        self._hit("tool_end")

    def on_tool_error(self, *a: Any, **k: Any) -> None:
        self._hit("tool_error")

    def on_chain_start(self, *a: Any, **k: Any) -> None:
        self._hit("chain_start")

    def on_chain_end(self, *a: Any, **k: Any) -> None:
        self._hit("chain_end")

    def on_chain_error(self, *a: Any, **k: Any) -> None:
        self._hit("chain_error")
