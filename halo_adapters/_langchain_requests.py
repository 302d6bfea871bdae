"""How one LangChain chat-model call becomes a Halo chat call, and Halo's answer a LangChain result.

Two paths, one per kind of model:

* **OpenAI-compatible models** (``ChatOpenAI`` and its subclasses): the request is the payload
  the model itself would POST to ``/v1/chat/completions`` (``model._get_request_payload``), and
  the answer is turned into an ``openai`` ``ChatCompletion`` — through the ``openai`` SDK's own
  ``parse_chat_completion`` when a ``response_format`` is set, as ``.parse()`` does — and handed
  to ``model._create_chat_result``. So tool calls, usage, ``additional_kwargs["parsed"]`` and
  ``with_structured_output`` come out exactly as from a ``vllm serve`` endpoint. The wire format
  itself, shared with the AutoGen hook, is :mod:`halo_adapters._openai_wire`.
* **Any other ``BaseChatModel``**: messages via ``convert_to_openai_messages``, the model's own
  sampling fields and call kwargs; the answer becomes an ``AIMessage`` with parsed ``tool_calls``.

For OpenAI-compatible models, unset temperature / max_tokens are sent as ``None``: the engine then
applies what ``vllm serve`` would (the model's generation config, else temperature 1 and
max_tokens up to the context end). Other models get Halo's defaults (greedy).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models._utils import _update_message_content_to_blocks
from langchain_core.language_models.chat_models import (
    LC_ID_PREFIX,
    BaseChatModel,
    _gen_info_and_msg_metadata,
)
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    convert_to_openai_messages,
)
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.output_parsers.openai_tools import make_invalid_tool_call, parse_tool_call
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables.config import var_child_runnable_config

from halo_adapters import _openai_wire as openai_wire
from halo_core import ChatResult as HaloChatResult
from halo_core.spi import SAMPLING_KEYS

_ATTRS = tuple(sorted(SAMPLING_KEYS | {"max_completion_tokens", "n"}))


def model_id(model: BaseChatModel) -> str | None:
    """The model id a LangChain chat model would send to its provider."""
    for attr in ("model_name", "model", "model_id"):
        v = getattr(model, attr, None)
        if isinstance(v, str) and v:
            return v
    return None


def graph_node(run_manager: Any, config: Mapping[str, Any] | None = None) -> str | None:
    """The LangGraph node path of the running task: ``node``, or ``outer/inner`` in a subgraph.

    Read from the callback manager's or the runnable config's metadata (``langgraph_node`` and
    ``langgraph_checkpoint_ns``, whose ``|``-separated segments name the enclosing nodes).
    """
    for meta in (
        getattr(run_manager, "metadata", None),
        (config or {}).get("metadata"),
        (var_child_runnable_config.get() or {}).get("metadata"),
    ):
        if isinstance(meta, Mapping) and isinstance(meta.get("langgraph_node"), str):
            node: str = meta["langgraph_node"]
            ns = meta.get("langgraph_checkpoint_ns")
            path = [s.split(":")[0] for s in ns.split("|") if s] if isinstance(ns, str) else []
            if not path or path[-1] != node:
                path.append(node)
            return "/".join(path)
    return None


def _is_openai(model: BaseChatModel) -> bool:
    return all(
        hasattr(model, a) for a in ("_get_request_payload", "_create_chat_result", "root_client")
    )


def _model_params(model: BaseChatModel) -> dict[str, Any]:
    """A non-OpenAI model object's own request parameters (before per-call kwargs)."""
    params: dict[str, Any] = {}
    default = None
    if hasattr(type(model), "_default_params"):
        with contextlib.suppress(Exception):
            default = dict(model._default_params)  # type: ignore[attr-defined]
    if default is not None:
        params.update(default)
    else:
        fields = getattr(type(model), "model_fields", {})
        for name in _ATTRS:
            if name in fields:
                params[name] = getattr(model, name, None)
        for name in ("model_kwargs", "extra_body"):
            extra = getattr(model, name, None) if name in fields else None
            if isinstance(extra, Mapping):
                params.update(extra)
    return params


@dataclass
class HaloRequest:
    """A LangChain call, ready for ``Session.chat``: messages, engine, OpenAI request fields."""

    messages: list[dict[str, Any]]
    engine: str | None
    model_id: str | None
    node: str | None
    sampling: dict[str, Any]
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    response_format: Any = None  # as sent on the wire (a dict)
    schema: Any = None  # the caller's response_format (maybe a pydantic class), for parsing
    openai: bool = False
    extras: dict[str, Any] = field(default_factory=dict)

    def send_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``Session.chat`` / ``achat``."""
        return {
            "model": self.engine,
            "node": self.node,
            "tools": self.tools,
            "tool_choice": self.tool_choice,
            "response_format": self.response_format,
            **self.sampling,
        }


def build_request(
    engine: str | None,
    model: BaseChatModel,
    messages: list[BaseMessage],
    stop: list[str] | None,
    run_manager: Any,
    kwargs: Mapping[str, Any],
) -> HaloRequest:
    """The Halo chat call a LangChain ``_generate`` call stands for."""
    who = type(model).__name__
    if _is_openai(model):
        payload = model._get_request_payload(  # type: ignore[attr-defined]
            messages, stop=stop, **kwargs
        )
        if "messages" not in payload:
            raise NotImplementedError(
                f"{who} is set to use OpenAI's Responses API, which Halo does not serve; "
                "use the Chat Completions API (use_responses_api=False)"
            )
        wire_messages = payload.pop("messages")
        sampling, fields = openai_wire.split(payload, who, server_defaults=True)
        schema = fields.get("response_format")
        wire_rf = None if schema is None else openai_wire.response_format_param(schema)
        return HaloRequest(
            messages=wire_messages,
            engine=engine,
            model_id=model_id(model),
            node=graph_node(run_manager),
            sampling=sampling,
            tools=fields.get("tools"),
            tool_choice=fields.get("tool_choice"),
            response_format=wire_rf,
            schema=schema,
            openai=True,
        )
    params = _model_params(model)
    params.update(kwargs)
    if stop is not None:
        params["stop"] = stop
    sampling, fields = openai_wire.split(params, who, server_defaults=False)
    return HaloRequest(
        messages=convert_to_openai_messages(messages),
        engine=engine,
        model_id=model_id(model),
        node=graph_node(run_manager),
        sampling=sampling,
        tools=fields.get("tools"),
        tool_choice=fields.get("tool_choice"),
        response_format=fields.get("response_format"),
    )


def _openai_result(model: BaseChatModel, req: HaloRequest, r: HaloChatResult) -> ChatResult:
    completion = openai_wire.chat_completion(openai_wire.completion(req.model_id, r))
    if req.schema is not None:  # what the SDK's chat.completions.parse() does with the response
        completion = openai_wire.parsed(completion, req.schema, req.tools)
    return model._create_chat_result(completion, {})  # type: ignore[attr-defined]


def _generic_result(req: HaloRequest, r: HaloChatResult) -> ChatResult:
    usage = {
        "input_tokens": r.prompt_tokens,
        "output_tokens": r.output_tokens,
        "total_tokens": r.prompt_tokens + r.output_tokens,
        "input_token_details": {"cache_read": r.cached_tokens},
    }
    tool_calls, invalid = [], []
    for raw in r.tool_calls:
        try:
            tool_calls.append(parse_tool_call(raw, return_id=True))
        except Exception as e:  # unparsable arguments: reported, as ChatOpenAI does
            invalid.append(make_invalid_tool_call(raw, str(e)))
    msg = AIMessage(
        content=r.content or "",
        tool_calls=tool_calls,
        invalid_tool_calls=invalid,
        usage_metadata=usage,
    )
    llm_output = {
        "token_usage": {
            "prompt_tokens": r.prompt_tokens,
            "completion_tokens": r.output_tokens,
            "total_tokens": r.prompt_tokens + r.output_tokens,
            "prompt_tokens_details": {"cached_tokens": r.cached_tokens},
        },
        "model_name": req.model_id,
        "model_provider": "halo",
    }
    generation = ChatGeneration(message=msg, generation_info={"finish_reason": r.finish_reason})
    return ChatResult(generations=[generation], llm_output=llm_output)


def build_result(
    model: BaseChatModel, req: HaloRequest, r: HaloChatResult, run_manager: Any
) -> ChatResult:
    """A LangChain ChatResult as the model's own ``_generate`` would return it, finished the way
    ``BaseChatModel._generate_with_cache`` finishes it (v1 content blocks, message id, response
    metadata from generation info and llm output)."""
    result = _openai_result(model, req, r) if req.openai else _generic_result(req, r)
    if getattr(model, "output_version", None) == "v1":
        for generation in result.generations:
            generation.message = _update_message_content_to_blocks(generation.message, "v1")
    for idx, generation in enumerate(result.generations):
        if run_manager is not None and generation.message.id is None:
            generation.message.id = f"{LC_ID_PREFIX}-{run_manager.run_id}-{idx}"
        generation.message.response_metadata = _gen_info_and_msg_metadata(generation)
    if len(result.generations) == 1 and result.llm_output is not None:
        message = result.generations[0].message
        message.response_metadata = {**result.llm_output, **message.response_metadata}
    return result


def as_chunk(msg: BaseMessage) -> AIMessageChunk:
    """An answer message as one streaming chunk (tool calls as tool-call chunks)."""
    calls = getattr(msg, "tool_calls", None) or []
    return AIMessageChunk(
        content=msg.content,
        id=msg.id,
        additional_kwargs={k: v for k, v in msg.additional_kwargs.items() if k != "parsed"},
        tool_call_chunks=[
            tool_call_chunk(name=tc["name"], args=json.dumps(tc["args"]), id=tc.get("id"), index=i)
            for i, tc in enumerate(calls)
        ],
        usage_metadata=getattr(msg, "usage_metadata", None),
        response_metadata=dict(msg.response_metadata),
        chunk_position="last",
    )


def one_chunk(result: ChatResult) -> ChatGenerationChunk:
    """The whole answer as a single streaming generation chunk."""
    return ChatGenerationChunk(message=as_chunk(result.generations[0].message))
