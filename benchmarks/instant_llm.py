"""The workflow's own cost, measured apart from any LLM: chat models that answer at once with
what an earlier run's models answered.

:class:`CallLog` (a LangChain callback handler) records each chat-model call of a run (the
model, the messages as the model sees them, the answer); :func:`instant_models` gives
``ChatOpenAI`` models whose ``_generate`` / ``_agenerate`` return the recorded answer without
a request. A graph built on them runs the workflow's own Python (LangGraph, LangChain message
handling and callbacks, tools) and nothing else, so its CPU seconds are the framework's share
of a run, to take off Halo's when Halo's own cost per call is wanted.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult, LLMResult
from langchain_openai import ChatOpenAI


def call_key(model: str, messages: Sequence[BaseMessage]) -> str:
    """A chat call's identity across runs: the model and what each message says (ids, which
    differ from run to run, left out)."""

    def said(m: BaseMessage) -> list[Any]:
        calls = [(c["name"], c["args"]) for c in getattr(m, "tool_calls", None) or []]
        return [m.type, m.content, calls, m.name]

    return json.dumps([model, [said(m) for m in messages]], sort_keys=True, default=str)


class CallLog(BaseCallbackHandler):
    """Every chat-model call of the runs it is a callback of: key → the model's answer."""

    def __init__(self) -> None:
        self.answers: dict[str, BaseMessage] = {}
        self.conflicts = 0  # keys answered differently (the replay gives the first answer)
        self._open: dict[UUID, str] = {}
        self._lock = threading.Lock()

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        **kwargs: Any,
    ) -> None:
        model = str(kwargs.get("invocation_params", {}).get("model", ""))
        with self._lock:
            self._open[run_id] = call_key(model, messages[0])

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        generation = response.generations[0][0]
        if not isinstance(generation, ChatGeneration):
            return
        with self._lock:
            key = self._open.pop(run_id, None)
            if key is None:
                return
            known = self.answers.setdefault(key, generation.message)
            if known is not generation.message and known.content != generation.message.content:
                self.conflicts += 1


class InstantChat(ChatOpenAI):
    """``ChatOpenAI`` answering from a :class:`CallLog` at once (a call it never saw raises
    ``KeyError``)."""

    log: Any = None  # the CallLog

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        answer = self.log.answers[call_key(self.model_name, messages)]
        return ChatResult(generations=[ChatGeneration(message=answer.model_copy())])

    async def _agenerate(
        self, messages: list[BaseMessage], *args: Any, **kwargs: Any
    ) -> ChatResult:
        return self._generate(messages)


def instant_models(
    log: CallLog, roles: Sequence[str], max_tokens: int
) -> Mapping[str, InstantChat]:
    """One instant model per role, configured as the suite's ``ChatOpenAI`` models are."""
    unused = "http://127.0.0.1:9/v1"
    return {
        r: InstantChat(
            model=r,
            base_url=unused,
            api_key="unused",
            temperature=0,
            max_tokens=max_tokens,
            log=log,
        )
        for r in roles
    }
