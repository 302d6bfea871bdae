"""ChatOpenAI under Halo answers exactly as ChatOpenAI against ``vllm serve`` of the same model:
plain chat, tool calls (required, named, auto), structured output, streaming (real engine)."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.tools import tool
from pydantic import BaseModel

import halo_adapters
from halo_core import Session

pytestmark = pytest.mark.engine

QUESTIONS = [f"Order {i % 3}: what is {i} times 7?" for i in range(6)]


# Enum-typed arguments: with strict schemas, guided decoding makes even the random test model
# emit complete, parseable calls (free strings would run to max_tokens).
@tool
def multiply(a: Literal[1, 2, 3], b: Literal[4, 5, 6]) -> int:
    """Multiply two small integers."""
    return a * b


@tool
def lookup(sku: Literal["A1", "B2", "C3"]) -> str:
    """Look up a product by its SKU."""
    return sku


class Verdict(BaseModel):
    """A routing decision."""

    route: Literal["math", "catalog", "finish"]
    confidence: Literal["low", "high"]


def _model(url: str, **kw: Any) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model="tiny-chat", base_url=url, api_key="unused", temperature=0, max_tokens=40, **kw
    )


def _norm(x: Any) -> Any:
    """Drop what is random per response (ids, timestamps) and keep what the model said."""
    if isinstance(x, BaseMessage):
        return {
            "type": x.type,
            "content": x.content,
            "tool_calls": [(c["name"], c["args"]) for c in getattr(x, "tool_calls", [])],
            "invalid": [(c["name"], c["args"]) for c in getattr(x, "invalid_tool_calls", [])],
            "finish": x.response_metadata.get("finish_reason"),
            "usage": getattr(x, "usage_metadata", None),
        }
    if isinstance(x, dict):
        return {k: _norm(v) for k, v in x.items() if k not in ("raw",)} | (
            {"raw": _norm(x["raw"])} if "raw" in x else {}
        )
    if isinstance(x, BaseModel):
        return x.model_dump()
    return x


def _outcome(run: Any, q: str) -> Any:
    try:
        return _norm(run(q))
    except Exception as e:  # the same failure on both sides counts as the same outcome
        return (type(e).__name__, str(e))


def _both(halo: Session, run: Any) -> tuple[list[Any], list[Any]]:
    """``run(question)`` for every question: against the server, then under Halo."""
    expected = [_outcome(run, q) for q in QUESTIONS]
    with halo_adapters.bind(halo, {"tiny-chat": "tiny"}):
        got = halo.map(lambda q: _outcome(run, q), QUESTIONS, progress=False)
    return got, expected


def test_tool_calls_required_named_and_auto(halo: Session, vllm_server: str) -> None:
    model = _model(vllm_server)
    for choice in ("required", "multiply", "auto"):
        bound = model.bind_tools([multiply, lookup], tool_choice=choice, strict=True)
        got, expected = _both(halo, bound.invoke)
        assert got == expected, choice
        if choice != "auto":  # forced calls come back parsed
            assert all(g["tool_calls"] for g in got), (choice, got)


def test_structured_output_every_method(halo: Session, vllm_server: str) -> None:
    model = _model(vllm_server)
    for method in ("json_schema", "function_calling"):
        structured = model.with_structured_output(
            Verdict, method=method, include_raw=True, strict=True
        )
        got, expected = _both(halo, structured.invoke)
        assert got == expected, method
        assert any(g["parsed"] is not None for g in got), method


def test_streaming_paths_carry_the_whole_answer(halo: Session, vllm_server: str) -> None:
    model = _model(vllm_server).bind_tools([multiply], tool_choice="required", strict=True)
    expected = _norm(model.invoke(QUESTIONS[0]))
    with halo_adapters.bind(halo, {"tiny-chat": "tiny"}):
        chunks = list(model.stream(QUESTIONS[0]))
        v3 = model.stream_events(QUESTIONS[0], version="v3")
        v3_output = v3.output
        achunks = asyncio.run(_collect(model.astream(QUESTIONS[0])))
    assert all(isinstance(c, AIMessageChunk) for c in chunks + achunks)
    for streamed in (chunks, achunks):
        total = streamed[0]
        for c in streamed[1:]:
            total += c
        assert [(c["name"], c["args"]) for c in total.tool_calls] == expected["tool_calls"]
    assert isinstance(v3_output, AIMessage)
    assert [(c["name"], c["args"]) for c in v3_output.tool_calls] == expected["tool_calls"]


async def _collect(it: Any) -> list[Any]:
    return [c async for c in it]
