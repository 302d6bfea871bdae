"""``ChatFrontend.prepare``: the calls of an epoch rendered on the caller's thread and their
texts encoded in one batch give the token ids vLLM's own async online renderer gives, and a
request it rejects fails alone with the server's message."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from halo_core import EngineConfig
from halo_core.backends import vllm_chat
from halo_core.backends.vllm_process import engine_args
from halo_core.calls import ChatRequest
from halo_core.errors import MalformedCallError
from halo_core.testing.vllm_server import DEFAULT_TOOL_PARSER

MAX_MODEL_LEN = 256
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
]
SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


def _requests() -> list[ChatRequest]:
    asked = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
        ],
    }
    turns = [
        {"role": "user", "content": "Look it up."},
        asked,
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
    ]
    rf = {"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA}}
    return [
        ChatRequest([{"role": "user", "content": "Hi."}], {"max_tokens": 4}),
        ChatRequest(
            [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "é ü 字"}],
            {"temperature": 0, "max_tokens": 8},
        ),
        ChatRequest(turns, {"max_tokens": 8}, tools=TOOLS, tool_choice="auto"),
        ChatRequest(
            [{"role": "user", "content": "Look."}],
            {},
            tools=TOOLS,
            tool_choice={"type": "function", "function": {"name": "lookup"}},
        ),
        ChatRequest([{"role": "user", "content": "ok?"}], {}, response_format=rf),
        ChatRequest([{"role": "user", "content": "word " * 400}], {}),  # over max_model_len
        ChatRequest([{"role": "user", "content": "Hi."}], {"max_tokens": -1}),  # rejected
        ChatRequest([{"role": "user", "content": "Hi again."}], {"stop": ["x"]}),
    ]


@pytest.fixture(scope="module")
def front(tiny_model: Path) -> Any:
    from vllm.renderers import renderer_from_config

    cfg = EngineConfig(
        model=str(tiny_model), max_model_len=MAX_MODEL_LEN, tool_call_parser=DEFAULT_TOOL_PARSER
    )
    vllm_config = engine_args(cfg, str(tiny_model)).create_engine_config()
    renderer = renderer_from_config(vllm_config)
    return vllm_chat.ChatFrontend(
        vllm_config, renderer, tool_call_parser=DEFAULT_TOOL_PARSER, reasoning_parser=None
    ), renderer


def _vllm_ids(front: Any, request: ChatRequest) -> list[int] | str:
    """``request``'s prompt ids on vLLM's own async path (or the error it gives)."""
    chat, renderer = front
    from vllm.entrypoints.serve.engine.protocol import ErrorResponse
    from vllm.renderers.online_renderer import OnlineRenderer

    online = OnlineRenderer(
        chat.model_config,
        renderer,
        request_logger=None,
        chat_template=None,
        chat_template_content_format="auto",
        enable_auto_tools=True,
        tool_parser=DEFAULT_TOOL_PARSER,
        reasoning_parser=None,
    )
    try:
        rendered = asyncio.run(online.render_chat(chat._request(request)))
    except Exception as e:  # vLLM rejects it
        return str(e)
    if isinstance(rendered, ErrorResponse):
        return rendered.error.message
    return list(rendered[1][0]["prompt_token_ids"])


def test_an_epoch_is_encoded_in_one_batch_with_vllms_ids(
    front: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat, _ = front
    batches: list[int] = []
    encode = vllm_chat._encode

    def counted(tokenizer: Any, texts: list[str], kwargs: dict[str, Any]) -> list[list[int]]:
        batches.append(len(texts))
        return encode(tokenizer, texts, kwargs)

    monkeypatch.setattr(vllm_chat, "_encode", counted)
    requests = _requests()
    got = chat.prepare(requests, MAX_MODEL_LEN)
    assert batches == [len(requests)]  # one batch encode for the whole epoch

    for request, prepared in zip(requests, got, strict=True):
        expected = _vllm_ids(front, request)
        if isinstance(prepared, Exception):
            assert isinstance(prepared, MalformedCallError)
            if isinstance(expected, str):  # vLLM's renderer rejects it, with this message
                assert expected in str(prepared)
        else:
            assert prepared.prompt_token_ids == expected
    failed = [type(p).__name__ for p in got if isinstance(p, Exception)]
    assert failed == ["MalformedCallError"] * 2, got  # too long; max_tokens -1
    assert "max_tokens must be at least 1" in str(got[6])


def test_one_call_prepares_as_in_a_batch(front: Any) -> None:
    chat, _ = front
    requests = _requests()[:5]
    alone = [chat.prepare([r], MAX_MODEL_LEN)[0] for r in requests]
    together = chat.prepare(requests, MAX_MODEL_LEN)
    assert [p.prompt_token_ids for p in alone] == [p.prompt_token_ids for p in together]
    assert [p.params.sampling for p in alone] == [p.params.sampling for p in together]
