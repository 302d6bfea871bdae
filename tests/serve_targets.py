"""What the ``halo serve`` tests serve: an unchanged LangGraph graph (a pure tool, two chat
calls) and an AutoGen team factory. ``graph`` (module level, for ``halo serve
tests.serve_targets:graph``) points its model at ``$HALO_TEST_VLLM_URL``; under Halo the binding
sends its calls to the session's engine instead."""

from __future__ import annotations

import os
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

import halo_adapters

SYSTEM = (
    "You are a careful research assistant. You answer one question at a time, you cite the facts "
    "you were given and nothing else, and you keep every answer short and plain. "
) * 3


class Request(TypedDict, total=False):
    topic: str
    max_tokens: int  # the draft's length; given, the draft ignores EOS (a long generation)


class State(Request, total=False):
    facts: str
    draft: str
    answer: str


@halo_adapters.pure
@tool
def lookup_facts(topic: str) -> str:
    """Look up facts about a topic."""
    return f"{topic} has {len(topic)} letters and starts with {topic[:1]!r}."


def make_graph(base_url: str) -> Any:
    model = ChatOpenAI(
        model="tiny-chat", base_url=base_url, api_key="none", max_tokens=8, temperature=0
    )

    def research(state: State) -> State:
        return {"facts": lookup_facts.invoke({"topic": state["topic"]})}

    def draft(state: State) -> State:
        n = state.get("max_tokens")
        drafter = model.bind(max_tokens=n, extra_body={"ignore_eos": True}) if n else model
        prompt = f"Facts: {state['facts']} Write one line about {state['topic']}."
        return {"draft": drafter.invoke([SystemMessage(SYSTEM), HumanMessage(prompt)]).content}

    def review(state: State) -> State:
        prompt = f"Review this line and improve it: {state['draft']}"
        return {"answer": model.invoke([SystemMessage(SYSTEM), HumanMessage(prompt)]).content}

    builder = StateGraph(State, input_schema=Request)
    builder.add_node("research", research)
    builder.add_node("draft", draft)
    builder.add_node("review", review)
    builder.add_edge(START, "research")
    builder.add_edge("research", "draft")
    builder.add_edge("draft", "review")
    builder.add_edge("review", END)
    return builder.compile()


graph = make_graph(os.environ.get("HALO_TEST_VLLM_URL", "http://127.0.0.1:9/v1"))


def make_team(base_url: str) -> Any:
    """A two-agent round-robin team on ``base_url`` (its chat completion client)."""
    from autogen_agentchat.agents import AssistantAgent
    from autogen_agentchat.conditions import MaxMessageTermination
    from autogen_agentchat.teams import RoundRobinGroupChat
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    client = OpenAIChatCompletionClient(
        model="tiny-chat",
        base_url=base_url,
        api_key="none",
        max_tokens=8,
        temperature=0,
        model_info={
            "vision": False,
            "function_calling": False,
            "json_output": False,
            "family": "unknown",
            "structured_output": False,
        },
    )
    writer = AssistantAgent("writer", client, system_message=SYSTEM)
    critic = AssistantAgent("critic", client, system_message="You criticise lines. " + SYSTEM)
    return RoundRobinGroupChat([writer, critic], termination_condition=MaxMessageTermination(3))
