"""The operators Halo defers: LLM calls and tool calls, their keys and their results."""

from __future__ import annotations

import asyncio
import contextvars
import copy
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from halo_core.errors import MalformedCallError

if TYPE_CHECKING:  # both import this module
    from halo_core.journal.replay import InstanceJournal
    from halo_core.runtime.retry import RetryPolicy

#: Request parameters a chat call may set besides messages / tools / tool_choice /
#: response_format: vLLM's sampling parameters Halo forwards, and ``parallel_tool_calls``.
SAMPLING_KEYS = frozenset(
    {
        "parallel_tool_calls",
        "temperature",
        "top_p",
        "top_k",
        "min_p",
        "max_tokens",
        "min_tokens",
        "seed",
        "stop",
        "presence_penalty",
        "frequency_penalty",
        "repetition_penalty",
        "ignore_eos",
    }
)
_ROLES = frozenset({"system", "user", "assistant", "tool", "developer"})


@dataclass
class InstanceRef:
    """The workflow instance a call belongs to.

    ``uid`` is unique in the session; ``index`` is the instance's position in its batch's inputs.
    """

    uid: int
    index: int
    calls_made: int = 0
    #: The instance's :class:`~halo_core.journal.InstanceJournal` in a journaled run.
    journal: InstanceJournal | None = None

    def next_call_index(self) -> int:
        """Number this instance's next call (calls are numbered in issue order)."""
        n = self.calls_made
        self.calls_made += 1
        return n


@dataclass
class ChatResult:
    """What one LLM call returns. Every caller gets its own copy, also when calls were merged.

    ``text`` is the raw generated text; ``content`` / ``tool_calls`` / ``reasoning`` are the
    response message as ``vllm serve`` would build it from that text (tool calls in OpenAI form:
    ``{"id", "type": "function", "function": {"name", "arguments"}}``, arguments a JSON string).
    """

    text: str
    prompt_tokens: int
    output_tokens: int
    cached_tokens: int
    finish_reason: str | None
    token_ids: list[int] = field(default_factory=list)
    content: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    reasoning: str | None = None


@dataclass(frozen=True)
class ChatRequest:
    """One chat call as the caller states it (OpenAI chat-completions fields)."""

    messages: list[dict[str, Any]]
    sampling: dict[str, Any]
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    response_format: dict[str, Any] | None = None

    def key(self, model: str) -> str:
        """Dedup key of this request to ``model``: messages, tools, tool_choice, response
        format and every sampling parameter."""
        return _digest(
            [
                model,
                self.messages,
                self.tools,
                self.tool_choice,
                self.response_format,
                self.sampling,
            ]
        )


def validate_messages(messages: Any) -> list[dict[str, Any]]:
    """Check chat messages are a list of ``{"role", "content"}`` dicts; return a plain copy."""
    if not isinstance(messages, list) or not messages:
        raise MalformedCallError(
            f"messages must be a non-empty list of dicts, got {type(messages).__name__}"
        )
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise MalformedCallError(f"message {i} is a {type(m).__name__}, not a dict")
        if m.get("role") not in _ROLES:
            raise MalformedCallError(
                f"message {i} has role {m.get('role')!r}; use one of {sorted(_ROLES)}"
            )
        content = m.get("content")
        if content is not None and not isinstance(content, str | list):
            raise MalformedCallError(f"message {i} content is a {type(content).__name__}, not str")
        out.append(dict(m))
    return out


def validate_sampling(sampling: dict[str, Any], default_max_tokens: int) -> dict[str, Any]:
    """Return sampling params with Halo's defaults (greedy, ``default_max_tokens``) filled in.

    A key set to ``None`` keeps the engine's own default, as ``vllm serve`` applies it (the
    model's generation config, else OpenAI's: temperature 1; max_tokens up to the context end).
    """
    unknown = set(sampling) - SAMPLING_KEYS
    if unknown:
        raise MalformedCallError(
            f"unknown sampling parameter(s) {sorted(unknown)}; allowed: {sorted(SAMPLING_KEYS)}"
        )
    out = {"temperature": 0.0, "max_tokens": default_max_tokens, **sampling}
    if isinstance(out.get("stop"), str):
        out["stop"] = [out["stop"]]
    return out


def independent_copy(value: Any) -> Any:
    """A deep copy for one caller of a merged call (an un-copyable value, such as a handle or a
    connection, is shared)."""
    try:
        return copy.deepcopy(value)
    except Exception:
        return value


def exception_copy(exc: BaseException) -> BaseException:
    """An exception equal to ``exc`` for one more caller of a merged call: same class, ``args``,
    attributes, cause, context, notes and traceback, made without running its ``__init__`` (which
    may format its message again). An exception that cannot be made so is shared."""
    cls = type(exc)
    try:
        twin = cls.__new__(cls, *exc.args)
        twin.args = exc.args
        twin.__dict__.update(vars(exc))
    except Exception:
        return exc
    twin.__cause__ = exc.__cause__
    twin.__context__ = exc.__context__
    twin.__suppress_context__ = exc.__suppress_context__
    return twin.with_traceback(exc.__traceback__)


def _digest(obj: Any) -> str:
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=repr)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class LLMCall:
    """One chat call of one instance, as deferred into the consolidated graph.

    ``sampled`` says whether its output is random (temperature > 0 and no seed, after the
    engine's defaults). ``prompt_token_ids`` and ``params`` (what the engine prepared for it,
    opaque to the processor) are filled when the call is prepared, which only a call that goes
    to the engine is: one answered by an identical call or the memo never is.
    """

    call_id: int
    model: str
    request: ChatRequest
    sampled: bool
    instance: InstanceRef | None = None
    node: str = ""
    prompt_token_ids: list[int] = field(default_factory=list)
    params: Any = None

    @cached_property
    def key(self) -> str:
        """Dedup key: model, full messages, tools, tool_choice, response format, all sampling.

        Computed once: a call is not changed after it is submitted.
        """
        return self.request.key(self.model)


@dataclass
class ToolCall:
    """One tool invocation of one instance. Only ``pure`` tools are merged across instances."""

    call_id: int
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    pure: bool
    instance: InstanceRef | None = None
    node: str = ""
    #: How often to try it (a :class:`~halo_core.runtime.retry.RetryPolicy`; None: once).
    retry: RetryPolicy | None = None
    #: Where an ``async def`` tool runs: its caller's event loop and context (None: a fresh loop
    #: on a pool thread), so loop-bound clients and the caller's context variables keep working.
    loop: asyncio.AbstractEventLoop | None = None
    context: contextvars.Context | None = None

    @property
    def name(self) -> str:
        """The tool's qualified name."""
        qualname = getattr(self.fn, "__qualname__", repr(self.fn))
        return f"{getattr(self.fn, '__module__', '?')}.{qualname}"

    @cached_property
    def key(self) -> str:
        """Dedup key: tool name and arguments."""
        return _digest([self.name, self.args, self.kwargs])
