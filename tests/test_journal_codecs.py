"""Framework objects through the journal: LangChain and AutoGen results survive a round trip."""

from __future__ import annotations

from autogen_agentchat.base import TaskResult
from autogen_agentchat.messages import TextMessage, ToolCallSummaryMessage
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from halo_adapters.journal_codecs import register_autogen, register_langchain
from halo_core.journal.codec import decode, encode


def test_a_graph_state_with_messages_round_trips() -> None:
    register_langchain()
    state = {
        "messages": [
            HumanMessage("hi", id="1"),
            AIMessage("", tool_calls=[{"name": "f", "args": {"a": 1}, "id": "c1"}], id="2"),
            ToolMessage("42", tool_call_id="c1", id="3"),
        ],
        "docs": [Document(page_content="p", metadata={"k": 1})],
        "n": 3,
    }
    back = decode(encode(state))
    assert back == state
    assert isinstance(back["messages"][1], AIMessage) and back["messages"][1].tool_calls


def test_a_task_result_round_trips() -> None:
    register_autogen()
    result = TaskResult(
        messages=[
            TextMessage(content="task", source="user"),
            ToolCallSummaryMessage(content="42", source="agent", tool_calls=[], results=[]),
        ],
        stop_reason="done",
    )
    back = decode(encode({"r": result}))["r"]
    assert back == result and type(back.messages[1]) is ToolCallSummaryMessage
