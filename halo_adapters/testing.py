"""Compare workflow outputs across runs: what the model said, not the ids a run made up.

Two runs of the same graph under greedy decoding (say, with and without Halo) give the same
answers but different random ids: message ids, tool-call ids (``chatcmpl-tool-...``), response
ids and timestamps. :func:`comparable` keeps what the workflow computed and renames or drops those.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from pydantic import BaseModel

__all__ = ["comparable", "first_difference", "messages_from_json", "mismatches"]


def comparable(value: Any, ids: dict[str, str] | None = None) -> Any:
    """``value`` with everything random per response replaced: message ids and response metadata
    dropped, tool-call ids renamed in order of appearance (``id0``, ``id1``, ... consistently for
    ``AIMessage.tool_calls[].id`` and ``ToolMessage.tool_call_id``), exceptions as (type, first
    line). What stays: contents, names, tool calls and their arguments, tool statuses, finish
    reasons, prompt and output token counts."""
    ids = {} if ids is None else ids

    def rename(call_id: Any) -> Any:
        return None if call_id is None else ids.setdefault(call_id, f"id{len(ids)}")

    if isinstance(value, BaseException):
        return ("raised", type(value).__name__, str(value).splitlines()[0] if str(value) else "")
    if isinstance(value, BaseMessage):
        out: dict[str, Any] = {"type": value.type, "content": value.content, "name": value.name}
        if isinstance(value, AIMessage):
            out["tool_calls"] = [
                {"name": c["name"], "args": c["args"], "id": rename(c.get("id"))}
                for c in value.tool_calls
            ]
            out["invalid_tool_calls"] = [
                {"name": c.get("name"), "args": c.get("args"), "id": rename(c.get("id"))}
                for c in value.invalid_tool_calls
            ]
            out["finish_reason"] = value.response_metadata.get("finish_reason")
            usage = value.usage_metadata or {}
            out["tokens"] = (usage.get("input_tokens"), usage.get("output_tokens"))
            if "parsed" in value.additional_kwargs:
                out["parsed"] = comparable(value.additional_kwargs["parsed"], ids)
        if isinstance(value, ToolMessage):
            out["tool_call_id"] = rename(value.tool_call_id)
            out["status"] = value.status
        return out
    if isinstance(value, BaseModel):
        return {"model": type(value).__name__, **comparable(value.model_dump(), ids)}
    if isinstance(value, dict):
        return {k: comparable(v, ids) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [comparable(v, ids) for v in value]
    return value


def first_difference(got: Any, expected: Any, path: str = "") -> str | None:
    """Where two normalized results first differ, as ``path: got != expected``."""
    if isinstance(got, dict) and isinstance(expected, dict) and got.keys() == expected.keys():
        for k in got:
            found = first_difference(got[k], expected[k], f"{path}[{k!r}]")
            if found:
                return found
        return None
    if isinstance(got, list) and isinstance(expected, list) and len(got) == len(expected):
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            found = first_difference(g, e, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if got == expected else f"{path}: {got!r} != {expected!r}"


def mismatches(got: Sequence[Any], expected: Sequence[Any]) -> dict[int, str]:
    """Index → one line (``instance i[path]: got != expected``) for every instance whose outputs
    differ after :func:`comparable`; empty when the runs agree. Lengths must agree."""
    if len(got) != len(expected):
        raise ValueError(f"runs have {len(got)} and {len(expected)} outputs")
    return {
        i: f"instance {i}{d}"
        for i, (g, e) in enumerate(zip(got, expected, strict=True))
        if (d := first_difference(comparable(g), comparable(e)))
    }


_MESSAGE_TYPES: dict[str, type[BaseMessage]] = {
    "ai": AIMessage,
    "human": HumanMessage,
    "system": SystemMessage,
    "tool": ToolMessage,
}


def messages_from_json(value: Any) -> Any:
    """A served graph's JSON output (``halo serve``, LangGraph's server) with its messages
    made messages again, so :func:`mismatches` compares it with a local run's."""
    if isinstance(value, dict):
        cls = _MESSAGE_TYPES.get(value.get("type", ""))
        if cls is not None and "content" in value:
            return cls.model_validate(value)
        return {k: messages_from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [messages_from_json(v) for v in value]
    return value
