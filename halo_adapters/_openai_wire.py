"""The OpenAI chat-completions wire format ↔ Halo, for every OpenAI-compatible client adapter.

A request body (what a client POSTs to ``/v1/chat/completions``: :func:`request_body` /
:func:`parse_body` rebuild it from the ``openai`` SDK's arguments) splits into Halo's sampling
parameters and its request fields (:func:`split`); Halo's answer becomes the ``chat.completion``
body ``vllm serve`` returns (:func:`completion`), then the ``openai`` SDK objects a client reads:
a ``ChatCompletion`` (:func:`chat_completion`), a ``ParsedChatCompletion`` through the SDK's own
``parse_chat_completion`` as ``.parse()`` builds it (:func:`parsed`), or the stream of
``ChatCompletionChunk`` s ``create(stream=True)`` yields (:class:`ChunkStream`).

Imports no agent framework; the ``openai`` SDK only where its objects are built.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from halo_core import ChatResult
from halo_core.spi import SAMPLING_KEYS

__all__ = [
    "ChunkStream",
    "chat_completion",
    "chunks",
    "completion",
    "parse_body",
    "parsed",
    "request_body",
    "response_format_param",
    "split",
]

#: Request fields with no effect on the answer (or that Halo sets itself); dropped silently.
_IGNORED = frozenset(
    {
        "model",
        "model_name",
        "_type",
        "stream",
        "stream_options",
        "stream_usage",
        "user",
        "store",
        "service_tier",
        "metadata",
        "timeout",
        "request_timeout",
        "max_retries",
        "prompt_cache_key",
        "safety_identifier",
    }
)
_RENAMED = {"max_completion_tokens": "max_tokens", "stop_sequences": "stop"}
_UNSET_AS_ENGINE_DEFAULT = ("temperature", "max_tokens")
#: ``create()`` arguments that shape the HTTP request, not its JSON body
_TRANSPORT = ("extra_headers", "extra_query", "extra_body", "timeout")


def split(
    params: Mapping[str, Any], who: str, *, server_defaults: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sampling parameters vs. request fields (``tools``, ``tool_choice``, ``response_format``);
    unsupported ones raise ``NotImplementedError`` naming ``who`` (the client).

    ``server_defaults``: unset temperature / max_tokens take the engine's defaults as ``vllm
    serve`` applies them (OpenAI-compatible clients); otherwise Halo's (greedy).
    """
    params = dict(params)
    extra_body = params.pop("extra_body", None)
    if isinstance(extra_body, Mapping):
        params.update(extra_body)
    sampling: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    for key, value in params.items():
        key = _RENAMED.get(key, key)
        if value is None or key in _IGNORED:
            continue
        if key == "n":
            if value != 1:
                raise NotImplementedError(f"Halo supports n=1 only (got n={value} from {who})")
        elif key in ("tools", "tool_choice", "response_format"):
            fields[key] = value
        elif key in ("functions", "function_call"):
            raise NotImplementedError("legacy OpenAI `functions` are not supported; bind tools")
        elif key in SAMPLING_KEYS:
            sampling[key] = list(value) if key == "stop" else value
        else:
            raise NotImplementedError(
                f"Halo does not support the request parameter {key!r} (={value!r}) of {who} yet"
            )
    if server_defaults:
        for key in _UNSET_AS_ENGINE_DEFAULT:
            sampling.setdefault(key, None)
    return sampling, fields


def _plain(value: Any) -> bool:
    """Whether ``value`` is JSON data only (dicts with str keys, lists, tuples, scalars)."""
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return False


def request_body(create_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body the ``openai`` SDK POSTs for ``chat.completions.create(**create_kwargs)``:
    its own transform (omitted arguments dropped), ``extra_body`` merged in.

    Arguments that are JSON data already (what AutoGen's client passes) are what the transform
    returns for them (chat parameters have no aliases or formats), so they skip it: the SDK's
    transform walks every message against its type annotations, which costs more than the rest
    of a call's way through Halo."""
    from openai import NotGiven, Omit

    args = {
        k: v
        for k, v in create_kwargs.items()
        if k not in _TRANSPORT and not isinstance(v, NotGiven | Omit)
    }
    if all(_plain(v) for v in args.values()):
        body = args
    else:
        from openai._utils import maybe_transform
        from openai.types.chat import completion_create_params

        body = dict(maybe_transform(args, completion_create_params.CompletionCreateParams) or {})
    extra = create_kwargs.get("extra_body")
    if isinstance(extra, Mapping):
        body.update(extra)
    return body


def parse_body(parse_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body ``chat.completions.parse(**parse_kwargs)`` POSTs: not streamed, the
    ``response_format`` as its JSON schema, the tools checked (strict only) as it checks them."""
    from openai import omit
    from openai.lib._parsing import validate_input_tools

    return request_body(
        {
            **parse_kwargs,
            "stream": False,
            "response_format": response_format_param(parse_kwargs.get("response_format", omit)),
            "tools": validate_input_tools(parse_kwargs.get("tools", omit)),
        }
    )


def response_format_param(schema: Any) -> Any:
    """The wire ``response_format`` for a caller's one (a pydantic class becomes its JSON schema),
    as the SDK's ``.parse()`` sends it."""
    from openai.lib._parsing import type_to_response_format_param

    return type_to_response_format_param(schema)


def _message(r: ChatResult) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": r.content,
        "tool_calls": r.tool_calls,
    }
    if r.reasoning is not None:
        message["reasoning"] = r.reasoning
    return message


def _usage(r: ChatResult) -> dict[str, int]:
    return {
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.output_tokens,
        "total_tokens": r.prompt_tokens + r.output_tokens,
    }


def completion(model: str | None, r: ChatResult) -> dict[str, Any]:
    """The chat.completion body ``vllm serve`` would have returned for this answer."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model or "",
        "choices": [
            {"index": 0, "message": _message(r), "logprobs": None, "finish_reason": r.finish_reason}
        ],
        "usage": _usage(r),
    }


def chat_completion(body: Mapping[str, Any]) -> Any:
    """A chat.completion body as the SDK's ``ChatCompletion``."""
    from openai.types.chat import ChatCompletion

    return ChatCompletion.model_validate(body)


def parsed(chat: Any, response_format: Any, tools: Iterable[Any] | None) -> Any:
    """The ``ParsedChatCompletion`` the SDK's ``chat.completions.parse()`` makes of a response
    (``response_format``: the caller's, maybe a pydantic class; ``tools``: the request's)."""
    from openai.lib._parsing import parse_chat_completion, validate_input_tools

    tools = list(tools or [])
    return parse_chat_completion(
        response_format=response_format,
        chat_completion=chat,
        input_tools=validate_input_tools(tools) if tools else validate_input_tools(),
    )


def chunks(body: Mapping[str, Any], *, include_usage: bool) -> list[Any]:
    """The ``ChatCompletionChunk`` s a ``vllm serve`` stream of this chat.completion body ends
    with: the role, the reasoning, the content, one delta per tool call, the finish reason and,
    with ``stream_options={"include_usage": True}``, the usage chunk."""
    from openai.types.chat import ChatCompletionChunk

    choice = body["choices"][0]
    message = choice["message"]
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    if message.get("reasoning"):
        deltas.append({"reasoning": message["reasoning"]})
    if message.get("content"):
        deltas.append({"content": message["content"]})
    deltas += [{"tool_calls": [{"index": i, **c}]} for i, c in enumerate(message["tool_calls"])]
    head = {k: body[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    usage = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return (
            head
            | usage
            | {"choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        )

    out = [chunk(d) for d in deltas] + [chunk({}, choice["finish_reason"])]
    if include_usage:
        out.append(head | {"choices": [], "usage": body["usage"]})
    return [ChatCompletionChunk.model_validate(c) for c in out]


class ChunkStream:
    """What ``AsyncOpenAI().chat.completions.create(stream=True)`` returns, over known chunks:
    an async iterator and context manager whose ``response`` can be closed (as the SDK's
    ``AsyncStream``, for its stream helpers)."""

    def __init__(self, items: Iterable[Any]):
        self._items = iter(items)
        self.response = self

    def __aiter__(self) -> ChunkStream:
        return self

    async def __anext__(self) -> Any:
        try:
            return next(self._items)
        except StopIteration:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> ChunkStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Drop what is left (nothing to release)."""
        self._items = iter(())

    aclose = close
