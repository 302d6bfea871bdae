"""Journal codecs for framework objects, through each framework's own serializer (never pickle).

LangChain objects (messages, documents, ...) go through ``langchain_core.load.dumpd`` / ``load``
(restricted to langchain-core's classes); AutoGen's ``TaskResult`` through its messages' own
``dump()`` and ``MessageFactory``. A value neither covers (e.g. a user's pydantic model in a
graph's state) is not journaled: that instance runs again on resume, its calls answered from the
journal.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

from halo_core.journal import Codec, register


@functools.cache
def register_langchain() -> None:
    """Register the LangChain codec (once)."""
    from langchain_core.load import dumpd, load
    from langchain_core.load.serializable import Serializable

    # load() is marked beta; the codec pins what it may build (allowed_objects="core")
    warnings.filterwarnings("ignore", message="The function `load` is in beta")

    register(
        Codec(
            "langchain",
            lambda v: isinstance(v, Serializable) and v.is_lc_serializable(),
            dumpd,
            lambda j: load(j, allowed_objects="core"),
        )
    )


@functools.cache
def register_autogen() -> None:
    """Register the AutoGen ``TaskResult`` codec (once)."""
    from autogen_agentchat.base import TaskResult
    from autogen_agentchat.messages import MessageFactory

    factory = MessageFactory()

    def to_json(r: Any) -> dict[str, Any]:
        return {"messages": [m.dump() for m in r.messages], "stop_reason": r.stop_reason}

    def from_json(j: dict[str, Any]) -> Any:
        messages = [factory.create(m) for m in j["messages"]]
        return TaskResult(messages=messages, stop_reason=j["stop_reason"])

    register(Codec("autogen.TaskResult", lambda v: isinstance(v, TaskResult), to_json, from_json))
