"""Chat-completions semantics exactly as ``vllm serve`` implements them, without the HTTP server.

A Halo chat call is turned into what vLLM's OpenAI server would send its engine, by vLLM's own
code: the request model (``ChatCompletionRequest``: validation, sampling defaults from the model's
generation config), the online renderer (chat template, tool schemas, and the tool parser's
``adjust_request``, which turns ``tool_choice="required"`` / a named tool into guided decoding),
and ``get_max_tokens``. The online renderer is async (the server tokenizes on worker threads);
here it runs on the caller's thread, over the renderer's synchronous steps (``render_chat``,
the one ``LLM.chat`` uses, with its tokenization taken out): each call's coroutine is driven
until its chat template is rendered and it asks for token ids, then the texts of all the calls
prepared together are encoded in one batch (a fast tokenizer's batch encode runs outside the
GIL), and each coroutine runs on to its end. Should vLLM's renderer ever wait on something
else, the call is rendered again on its full async path instead.

The engine's output is read back by the same parser the server uses (``--tool-call-parser`` /
``--reasoning-parser``) and the same message rules, so content, ``tool_calls`` and
``finish_reason`` are what a ``ChatOpenAI`` client of ``vllm serve`` would get.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from halo_core.backends.base import PreparedChat
from halo_core.calls import ChatRequest
from halo_core.errors import MalformedCallError

T = TypeVar("T")


class _Encode:
    """What a :class:`_BatchingRenderer` awaits: ``texts`` encoded with the tokenizer's
    arguments ``kwargs``; the coroutine's driver sends back their token ids."""

    def __init__(self, texts: list[str], kwargs: dict[str, Any]):
        self.texts = texts
        self.kwargs = kwargs

    def __await__(self) -> Generator[_Encode, list[list[int]], list[list[int]]]:
        return (yield self)


class _BatchingRenderer:
    """A vLLM renderer whose ``render_chat_async`` is its synchronous ``render_chat`` with the
    tokenization of plain text prompts handed to its driver (:class:`_Encode`)."""

    def __init__(self, renderer: Any):
        self._renderer = renderer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._renderer, name)

    async def render_chat_async(
        self,
        conversations: Sequence[list[Any]],
        chat_params: Any,
        tok_params: Any = None,
        *,
        prompt_extras: dict[str, Any] | None = None,
        skip_mm_cache: bool = False,
    ) -> tuple[list[Any], list[Any]]:
        # vLLM's BaseRenderer.render_chat, step by step, with the texts encoded by the driver
        r = self._renderer
        arrival_time = time.time()
        tok_params = tok_params or r.default_chat_tok_params
        rendered = [r.render_messages(c, chat_params) for c in conversations]
        dict_prompts = [prompt for _, prompt in rendered]
        plain = [p for p in dict_prompts if _plain_text(p, tok_params)]
        if plain:
            texts = [tok_params.apply_pre_tokenization(r.tokenizer, p)["prompt"] for p in plain]
            ids = await _Encode(texts, tok_params.get_encode_kwargs())
            for p, one in zip(plain, ids, strict=True):
                p["prompt_token_ids"] = one  # as _tokenize_prompt builds it: ids beside the text
        tok_prompts = r.tokenize_prompts(dict_prompts, tok_params)  # checks; tokenizes the rest
        extras = dict(prompt_extras or {})
        extras["media_io_kwargs"] = chat_params.media_io_kwargs or {}
        r._apply_prompt_extras(tok_prompts, extras)
        engine_inputs = [
            r.process_for_engine(
                p, arrival_time, skip_mm_cache=skip_mm_cache, tok_params=tok_params
            )
            for p in tok_prompts
        ]
        return [conv for conv, _ in rendered], engine_inputs


def _plain_text(prompt: dict[str, Any], tok_params: Any) -> bool:
    """Whether vLLM tokenizes ``prompt`` with nothing but one encode of its text (no token
    offsets, no truncation, no multimodal data, not encoder-decoder)."""
    others = ("prompt_token_ids", "prompt_embeds", "encoder_prompt", "multi_modal_data")
    return (
        isinstance(prompt.get("prompt"), str)
        and not any(k in prompt for k in others)
        and not tok_params.return_token_offsets
        and tok_params.truncate_prompt_tokens is None
    )


class _Suspended(Exception):
    """A coroutine driven synchronously waited on something other than :class:`_Encode`."""


def _advance(coro: Coroutine[Any, Any, T], value: Any) -> tuple[T | None, _Encode | None]:
    """Run ``coro`` on this thread until it ends (its result, None) or awaits an
    :class:`_Encode` (None, that); anything else it awaits raises :class:`_Suspended`."""
    try:
        waits = coro.send(value)
    except StopIteration as done:
        return done.value, None
    if isinstance(waits, _Encode):
        return None, waits
    coro.close()
    raise _Suspended


def _encode(tokenizer: Any, texts: list[str], kwargs: dict[str, Any]) -> list[list[int]]:
    """``texts``' token ids: one batch encode where the tokenizer takes batches (Hugging
    Face's), else one encode each, as vLLM calls it."""
    from transformers import PreTrainedTokenizerBase

    if isinstance(tokenizer, PreTrainedTokenizerBase) and len(texts) > 1:
        return [list(ids) for ids in tokenizer(texts, **kwargs)["input_ids"]]
    return [list(tokenizer(t, **kwargs)["input_ids"]) for t in texts]


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
        # loop thread for it) only if that ever has to wait (see _render_all)
        self.online = online(_BatchingRenderer(renderer))
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

    def _render_all(self, requests: dict[int, Any]) -> dict[int, Any]:
        """vLLM's online rendering of each request (its result, or the exception it raised),
        their texts encoded in one batch per tokenizer arguments."""
        done: dict[int, Any] = {}
        waiting: dict[int, tuple[Coroutine[Any, Any, Any], _Encode]] = {}

        def advance(i: int, coro: Coroutine[Any, Any, Any], value: Any) -> None:
            try:
                try:
                    result, encode = _advance(coro, value)
                except _Suspended:
                    result, encode = self._render_async(requests[i]), None
            except Exception as e:
                result, encode = e, None
            if encode is None:
                done[i] = result
            else:
                waiting[i] = (coro, encode)

        for i, request in requests.items():
            advance(i, self.online.render_chat(request), None)
        while waiting:
            asked = dict(waiting)
            waiting.clear()
            groups: dict[str, list[int]] = {}
            for i, (_, encode) in asked.items():
                groups.setdefault(repr(sorted(encode.kwargs.items())), []).append(i)
            for members in groups.values():
                kwargs = asked[members[0]][1].kwargs
                texts = [t for i in members for t in asked[i][1].texts]
                try:
                    ids = _encode(self.tokenizer, texts, kwargs)
                except Exception as e:
                    for i in members:
                        asked[i][0].close()
                        done[i] = e
                    continue
                start = 0
                for i in members:
                    coro, encode = asked[i]
                    advance(i, coro, ids[start : start + len(encode.texts)])
                    start += len(encode.texts)
        return done

    def _render_async(self, request: Any) -> Any:
        """``request`` rendered on vLLM's full async path (a loop thread started once)."""
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

    def prepare(
        self, reqs: Sequence[ChatRequest], max_model_len: int
    ) -> list[PreparedChat | Exception]:
        """Render and tokenize each request (the texts in one batch) and build its sampling
        params, as ``vllm serve`` would: its :class:`PreparedChat`, or a
        :class:`MalformedCallError` with the server's message for a request it would reject."""
        out: dict[int, PreparedChat | Exception] = {}
        parsed: dict[int, Any] = {}
        for i, req in enumerate(reqs):
            try:
                parsed[i] = self._request(req)
            except Exception as e:  # this call fails alone
                out[i] = e
        for i, rendered in self._render_all(parsed).items():
            try:
                out[i] = self._prepared(parsed[i], rendered, max_model_len)
            except Exception as e:
                out[i] = e
        return [out[i] for i in range(len(reqs))]

    def _request(self, req: ChatRequest) -> Any:
        """``req`` as vLLM's ``ChatCompletionRequest`` (validated as the server validates)."""
        from pydantic import ValidationError
        from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest

        fields = dict(req.sampling)
        if "max_tokens" in fields:  # the field's current name (max_tokens is deprecated)
            fields["max_completion_tokens"] = fields.pop("max_tokens")
        body: dict[str, Any] = {"messages": req.messages, **fields}
        for key in ("tools", "tool_choice", "response_format"):
            value = getattr(req, key)
            if value is not None:
                body[key] = value
        try:
            return ChatCompletionRequest.model_validate(body)
        except (ValidationError, ValueError) as e:
            raise MalformedCallError(f"invalid chat request: {e}") from e

    def _prepared(self, request: Any, rendered: Any, max_model_len: int) -> PreparedChat:
        """The prepared call from ``request`` and its rendering (or what rendering raised)."""
        from vllm.entrypoints.serve.engine.protocol import ErrorResponse
        from vllm.entrypoints.serve.utils.api_utils import get_max_tokens
        from vllm.exceptions import VLLMClientError

        if isinstance(rendered, Exception):
            raise MalformedCallError(f"could not render the chat request: {rendered}") from rendered
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
        except (ValueError, VLLMClientError) as e:  # the server's 400
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
