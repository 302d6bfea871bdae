"""Chat-completions semantics exactly as ``vllm serve`` implements them, without the HTTP server.

A Halo chat call is turned into what vLLM's OpenAI server would send its engine, by vLLM's own
code: the request model (``ChatCompletionRequest``: validation, sampling defaults from the model's
generation config), the online renderer (chat template, tool schemas, and the tool parser's
``adjust_request``, which turns ``tool_choice="required"`` / a named tool into guided decoding),
and ``get_max_tokens``. The online renderer is async (the server tokenizes on worker threads);
here it runs on the caller's thread, with the renderer's synchronous ``render_chat`` (the one
``LLM.chat`` uses) under it, so a call is rendered without thread hops. Should vLLM's renderer
ever wait on something there, the call is rendered again on its full async path instead.

The engine's output is read back by the same parser the server uses (``--tool-call-parser`` /
``--reasoning-parser``) and the same message rules, so content, ``tool_calls`` and
``finish_reason`` are what a ``ChatOpenAI`` client of ``vllm serve`` would get.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from halo_core.backends.base import PreparedChat
from halo_core.calls import ChatRequest
from halo_core.errors import MalformedCallError

T = TypeVar("T")


class _SyncRenderer:
    """A vLLM renderer whose ``render_chat_async`` is its synchronous ``render_chat``."""

    def __init__(self, renderer: Any):
        self._renderer = renderer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._renderer, name)

    async def render_chat_async(self, *args: Any, **kwargs: Any) -> Any:
        return self._renderer.render_chat(*args, **kwargs)


class _Suspended(Exception):
    """A coroutine driven synchronously waited on something."""


def _run_now(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never waits to its end, on this thread."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise _Suspended


@dataclass(frozen=True)
class VLLMChatParams:
    """What the engine needs to run one prepared call and to read its output back."""

    sampling: Any  # vllm.SamplingParams
    request: Any  # vllm ChatCompletionRequest, after the parser's adjust_request


@dataclass(frozen=True)
class ParsedOutput:
    """An output read the way ``vllm serve`` builds its response message."""

    content: str | None
    tool_calls: list[dict[str, Any]]
    reasoning: str | None
    finish_reason: str | None


class ChatFrontend:
    """vLLM's chat front end (renderer, request model, parsers) for one engine's configuration
    (``vllm_config``) and its renderer, wherever the engine runs."""

    def __init__(
        self,
        vllm_config: Any,
        renderer: Any,
        *,
        tool_call_parser: str | None,
        reasoning_parser: str | None,
    ) -> None:
        from vllm.renderers.online_renderer import OnlineRenderer

        self.model_config = vllm_config.model_config
        self.tokenizer = renderer.get_tokenizer()
        self.auto_tools = tool_call_parser is not None

        def online(under: Any) -> Any:
            return OnlineRenderer(
                self.model_config,
                under,
                request_logger=None,
                chat_template=None,
                chat_template_content_format="auto",
                enable_auto_tools=self.auto_tools,
                tool_parser=tool_call_parser,
                reasoning_parser=reasoning_parser,
            )

        # vllm serve's online renderer, run on the caller's thread; its async original (and a
        # loop thread for it) only if that ever has to wait (see _render)
        self.online = online(_SyncRenderer(renderer))
        self._async_online = lambda: online(renderer)
        self.default_sampling: dict[str, Any] = self.model_config.get_diff_sampling_param()
        gen_cfg = self.model_config.generation_config
        self.override_max_tokens = (
            self.default_sampling.get("max_tokens")
            if gen_cfg not in ("auto", "vllm")
            else (getattr(self.model_config, "override_generation_config", None) or {}).get(
                "max_new_tokens"
            )
        )
        self._loop: asyncio.AbstractEventLoop | None = None  # for the full async path, if ever
        self._full: Any = None
        self._lock = threading.Lock()

    def _render(self, request: Any) -> Any:
        """vLLM's online rendering of ``request``: on this thread, or else on its async path."""
        try:
            return _run_now(self.online.render_chat(request))
        except _Suspended:
            pass
        with self._lock:
            if self._loop is None:
                self._full = self._async_online()
                self._loop = asyncio.new_event_loop()
                threading.Thread(
                    target=self._loop.run_forever, name="halo-chat-render", daemon=True
                ).start()
        return asyncio.run_coroutine_threadsafe(
            self._full.render_chat(request), self._loop
        ).result()

    def close(self) -> None:
        """Stop the async path's loop thread, if it ever started."""
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)

    def sampled(self, req: ChatRequest) -> bool:
        """Whether ``req``'s output is random: its temperature (else the model's default, else
        OpenAI's 1.0, as ``vllm serve`` resolves it) is above 0 and it gives no seed."""
        temperature = req.sampling.get("temperature")
        if temperature is None:
            temperature = self.default_sampling.get("temperature", 1.0)
        return float(temperature) > 0 and req.sampling.get("seed") is None

    def prepare(self, req: ChatRequest, max_model_len: int) -> PreparedChat:
        """Render and tokenize ``req`` and build its sampling params, as ``vllm serve`` would.

        Raises :class:`MalformedCallError` with the server's message for a request it would reject.
        """
        from pydantic import ValidationError
        from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest
        from vllm.entrypoints.serve.engine.protocol import ErrorResponse
        from vllm.entrypoints.serve.utils.api_utils import get_max_tokens

        fields = dict(req.sampling)
        if "max_tokens" in fields:  # the field's current name (max_tokens is deprecated)
            fields["max_completion_tokens"] = fields.pop("max_tokens")
        body: dict[str, Any] = {"messages": req.messages, **fields}
        for key in ("tools", "tool_choice", "response_format"):
            value = getattr(req, key)
            if value is not None:
                body[key] = value
        try:
            request = ChatCompletionRequest.model_validate(body)
        except (ValidationError, ValueError) as e:
            raise MalformedCallError(f"invalid chat request: {e}") from e
        try:
            rendered = self._render(request)
        except Exception as e:
            raise MalformedCallError(f"could not render the chat request: {e}") from e
        if isinstance(rendered, ErrorResponse):
            raise MalformedCallError(rendered.error.message)
        _, engine_inputs = rendered
        ids = list(engine_inputs[0]["prompt_token_ids"])
        if len(ids) + 1 > max_model_len:
            raise MalformedCallError(
                f"prompt has {len(ids)} tokens, over the model's max_model_len {max_model_len}"
            )
        requested = request.max_completion_tokens
        try:
            max_tokens = get_max_tokens(
                max_model_len, requested, len(ids), self.default_sampling, self.override_max_tokens
            )
            sampling = request.to_sampling_params(max_tokens, self.default_sampling)
        except ValueError as e:
            raise MalformedCallError(str(e)) from e
        return PreparedChat(ids, VLLMChatParams(sampling, request))

    def parse(
        self, params: VLLMChatParams, text: str, token_ids: list[int], finish_reason: str | None
    ) -> ParsedOutput:
        """Content, tool calls and finish reason of one output, by ``vllm serve``'s rules."""
        from vllm.entrypoints.openai.chat_completion.protocol import (
            ChatCompletionNamedToolChoiceParam,
        )
        from vllm.renderers.chat_utils import make_tool_call_id

        request = params.request
        parser_cls = self.online.parser
        reasoning: str | None = None
        content: str | None = text
        calls: list[Any] = []
        if parser_cls is not None:
            parser = parser_cls(
                self.tokenizer,
                request.tools,
                chat_template_kwargs=self.online.effective_chat_template_kwargs(request),
                model_config=self.model_config,
            )
            reasoning, content, parsed = parser.parse(
                text, request, enable_auto_tools=self.auto_tools, model_output_token_ids=token_ids
            )
            calls = list(parsed or [])
            if not request.include_reasoning:
                reasoning = None
        named = type(request.tool_choice) is ChatCompletionNamedToolChoiceParam
        required = request.tool_choice == "required"
        tool_parser = parser_cls.tool_parser_cls if parser_cls is not None else None
        auto_called = False
        if named or required:
            content = content or ""
        elif (
            request.tools
            and request.tool_choice in ("auto", None)
            and self.auto_tools
            and tool_parser is not None
        ):
            auto_called = bool(calls)
        else:
            calls = []  # the server reports tool calls only for auto / required / named choice
        if request.parallel_tool_calls is False:
            calls = calls[:1]
        tool_calls = [
            {
                "id": tc.id or make_tool_call_id(),
                "type": "function",
                "function": {"name": tc.name, "arguments": tc.arguments},
            }
            for tc in calls
        ]
        if auto_called or (required and finish_reason == "stop"):
            finish_reason = "tool_calls"
        return ParsedOutput(content, tool_calls, reasoning, finish_reason or "stop")
