"""Memo: a call identical to one in flight joins it; one identical to a finished call gets its
result. Works across epochs, for LLM calls and pure tool calls. Finished results are kept up to
``SessionConfig.memo_max_entries``, least recently used out first."""

from __future__ import annotations

from typing import Any

from halo_core.calls import LLMCall, ToolCall, independent_copy
from halo_core.config import OptimizerConfig
from halo_core.lru import LRUDict
from halo_core.optimizer.base import Admission, Joined, Rule, Served


class Memo(Rule):
    """Serves calls from identical executions, in flight or finished (keyed by the call's
    dedup key). Mergeable: deterministic LLM calls (sampled ones too with ``merge_sampled``)
    and tools declared pure. Keeps at most ``max_entries`` finished results (``None``: all)."""

    name = "memo"

    def __init__(self, max_entries: int | None = None) -> None:
        self.merge_sampled = False
        #: key → (source call id, its result)
        self._done: LRUDict[str, tuple[int, Any]] = LRUDict(max_entries)
        self._inflight: dict[str, int] = {}  # key → source call id
        self._keys: dict[int, str] = {}  # source call id → the key it registered

    def configure(self, config: OptimizerConfig) -> None:
        self.merge_sampled = config.merge_sampled

    def _mergeable(self, call: LLMCall | ToolCall) -> bool:
        if isinstance(call, ToolCall):
            return call.pure
        return self.merge_sampled or not call.sampled

    def admit(self, call: LLMCall | ToolCall) -> Admission | None:
        if not self._mergeable(call):
            return None
        done = self._done.get(call.key)
        if done is not None:
            self._done.move_to_end(call.key)  # a hit keeps the result
            return Served(done[0], independent_copy(done[1]))
        source = self._inflight.get(call.key)
        return Joined(source) if source is not None else None

    def scheduled(self, call: LLMCall | ToolCall) -> None:
        if self._mergeable(call):
            self._inflight[call.key] = call.call_id
            self._keys[call.call_id] = call.key

    def finished(self, call: LLMCall | ToolCall, result: Any) -> None:
        key = self._keys.pop(call.call_id, None)
        if key is None:
            return
        if self._inflight.get(key) == call.call_id:
            del self._inflight[key]
        if not isinstance(result, BaseException):
            self._done[key] = (call.call_id, independent_copy(result))

    def forget(self) -> None:
        self._done.clear()
