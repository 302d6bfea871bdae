"""``benchmarks.instant_llm``: calls recorded by a callback are answered again at once."""

import asyncio
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from benchmarks.instant_llm import CallLog, instant_models


class Named(FakeListChatModel):
    """A scripted chat model that reports a model name, as ``ChatOpenAI`` does."""

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": "S"}


def history(call_id: str) -> list[Any]:
    asked = AIMessage("", tool_calls=[{"name": "f", "args": {"x": 1}, "id": call_id}])
    return [HumanMessage("q"), asked, ToolMessage("42", tool_call_id=call_id)]


def test_recorded_answers_replay_whatever_the_ids() -> None:
    log = CallLog()
    scripted = Named(responses=["first", "second"])
    assert scripted.invoke([HumanMessage("q")], config={"callbacks": [log]}).content == "first"
    assert scripted.invoke(history("id-1"), config={"callbacks": [log]}).content == "second"
    assert len(log.answers) == 2 and log.conflicts == 0

    instant = instant_models(log, ["S", "M"], max_tokens=8)
    assert instant["S"].invoke([HumanMessage("q")]).content == "first"
    assert instant["S"].invoke(history("id-2")).content == "second"  # a new run's tool-call id
    with pytest.raises(KeyError):
        instant["M"].invoke([HumanMessage("q")])  # another model never answered it


def test_async_calls_replay() -> None:
    log = CallLog()
    asyncio.run(Named(responses=["a"]).ainvoke("hi", config={"callbacks": [log]}))
    assert asyncio.run(instant_models(log, ["S"], 8)["S"].ainvoke("hi")).content == "a"
