"""``benchmarks.framework_alone``: calls recorded by a callback are answered again at once."""

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from benchmarks.framework_alone import CallLog, instant_models, pure_tools_once


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

    instant = instant_models(log, max_tokens=8)
    assert instant["S"].invoke([HumanMessage("q")]).content == "first"
    assert instant["S"].invoke(history("id-2")).content == "second"  # a new run's tool-call id
    with pytest.raises(KeyError):
        instant["M"].invoke([HumanMessage("q")])  # another model never answered it


def test_async_calls_replay() -> None:
    log = CallLog()
    asyncio.run(Named(responses=["a"]).ainvoke("hi", config={"callbacks": [log]}))
    assert asyncio.run(instant_models(log, 8)["S"].ainvoke("hi")).content == "a"


def test_pure_tools_run_once_per_distinct_call_while_open() -> None:
    ran: list[int] = []
    lock = threading.Lock()

    @tool
    def square(x: int) -> int:
        """x squared."""
        with lock:
            ran.append(x)
        time.sleep(0.05)  # identical calls arrive while the first runs
        return x * x

    @tool
    def impure(x: int) -> int:
        """x, every time."""
        ran.append(-x)
        return x

    square.metadata = {"halo_pure": True}
    with pure_tools_once([square, impure, square]) as once, ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda x: square.invoke({"x": x}), [3] * 6 + [4, 4]))
        impure.invoke({"x": 1})
        impure.invoke({"x": 1})
    assert got == [9] * 6 + [16, 16]
    assert once.executed == 2 and sorted(ran) == [-1, -1, 3, 4]
    square.invoke({"x": 3})  # closed: the tool is itself again
    assert ran.count(3) == 2
