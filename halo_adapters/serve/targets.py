"""What ``halo serve`` runs: a compiled LangGraph graph or an AutoGen team factory, behind one
interface (validate a run's input, run it, stream it) with results as plain JSON."""

from __future__ import annotations

import typing
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pydantic
from fastapi.encoders import jsonable_encoder

#: Stream modes served: LangGraph's own ``astream`` modes whose chunks are plain state.
STREAM_MODES = ("values", "updates", "custom")

#: assistant ids are derived from the graph's name, as the LangGraph server derives them
ASSISTANT_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")


@dataclass(frozen=True)
class InputError:
    """One problem with a run's input: where (``loc``, from the input's root) and what."""

    loc: tuple[str | int, ...]
    msg: str


def to_json(value: Any) -> Any:
    """``value`` as JSON data (messages and other pydantic models dumped as their fields)."""
    return jsonable_encoder(value)


class ServedGraph:
    """A compiled LangGraph graph: inputs checked against its input schema, runs through
    ``ainvoke`` / ``astream`` (every chat model and tool call going through the bound session)."""

    kind = "graph"

    def __init__(self, graph: Any, name: str):
        self.graph, self.name = graph, name
        self.assistant_id = str(uuid.uuid5(ASSISTANT_NAMESPACE, name))
        self._fields = _input_fields(graph)

    def input_errors(self, value: Any) -> list[InputError]:
        """What is wrong with ``value`` as this graph's input (empty: nothing). Keys are checked
        one by one against the input schema's fields; a key may be left out, as LangGraph
        allows, but not misspelled."""
        if self._fields is None:
            return []
        if not isinstance(value, dict):
            return [InputError((), f"the input must be an object, got {type(value).__name__}")]
        errors: list[InputError] = []
        for key, item in value.items():
            check = self._fields.get(key)
            if check is None:
                known = ", ".join(sorted(self._fields))
                errors.append(InputError((key,), f"not an input of the graph (inputs: {known})"))
                continue
            errors += [InputError((key, *e.loc), e.msg) for e in check(item)]
        return errors

    async def run(self, value: Any, config: dict[str, Any], context: Any) -> Any:
        out = await self.graph.ainvoke(value, config, **_context(context))
        return to_json(out)

    async def stream(
        self, value: Any, config: dict[str, Any], context: Any, modes: list[str]
    ) -> AsyncIterator[tuple[str, Any]]:
        async for mode, chunk in self.graph.astream(
            value, config, stream_mode=modes, **_context(context)
        ):
            yield mode, to_json(chunk)


class ServedTeam:
    """A zero-argument AutoGen team factory: a run's input is ``{"task": ...}``; its result
    the team's messages, each as AutoGen's own ``dump()``."""

    kind = "team"

    def __init__(self, factory: Callable[[], Any], name: str):
        self.factory, self.name = factory, name
        self.assistant_id = str(uuid.uuid5(ASSISTANT_NAMESPACE, name))

    def input_errors(self, value: Any) -> list[InputError]:
        if not isinstance(value, dict) or "task" not in value:
            return [InputError(("task",), "a team's input is an object with its 'task'")]
        extra = sorted(set(value) - {"task"})
        if extra:
            return [InputError((extra[0],), "a team's input holds only its 'task'")]
        if not isinstance(value["task"], str):
            return [InputError(("task",), "the task must be a string")]
        return []

    async def run(self, value: Any, config: dict[str, Any], context: Any) -> Any:
        result = await self.factory().run(task=value["task"])
        return {
            "messages": [m.dump() for m in result.messages],
            "stop_reason": result.stop_reason,
        }

    async def stream(
        self, value: Any, config: dict[str, Any], context: Any, modes: list[str]
    ) -> AsyncIterator[tuple[str, Any]]:
        yield "values", await self.run(value, config, context)


Served = ServedGraph | ServedTeam


def _context(context: Any) -> dict[str, Any]:
    return {} if context is None else {"context": context}


def _input_fields(graph: Any) -> dict[str, Callable[[Any], list[InputError]]] | None:
    """A checker per input field of ``graph`` (None when its input schema has no fields)."""
    schema = getattr(getattr(graph, "builder", None), "input_schema", None)
    if schema is None:
        return None
    try:
        hints = typing.get_type_hints(schema, include_extras=True)
    except (NameError, TypeError):
        return None
    return {name: _field_check(hint) for name, hint in hints.items()} or None


def _field_check(hint: Any) -> Callable[[Any], list[InputError]]:
    """Check a value against one field's type. Message fields accept what LangChain converts
    (message dicts with a role or type, tuples, strings, one or a list), as LangGraph's
    ``add_messages`` does."""
    if _holds_messages(hint):
        return _messages_errors
    try:
        adapter = pydantic.TypeAdapter(hint)
    except (pydantic.PydanticSchemaGenerationError, pydantic.PydanticUserError, TypeError):
        return lambda value: []  # a type pydantic cannot check: the graph gets the value as is

    def check(value: Any) -> list[InputError]:
        try:
            adapter.validate_python(value)
        except pydantic.ValidationError as e:
            return [InputError(tuple(err["loc"]), err["msg"]) for err in e.errors()]
        return []

    return check


def _holds_messages(hint: Any) -> bool:
    from langchain_core.messages import BaseMessage

    if isinstance(hint, type):
        return issubclass(hint, BaseMessage)
    return any(_holds_messages(a) for a in typing.get_args(hint))


def _messages_errors(value: Any) -> list[InputError]:
    from langchain_core.messages import convert_to_messages

    try:
        convert_to_messages(value if isinstance(value, list) else [value])
    except (TypeError, ValueError, NotImplementedError) as e:
        return [InputError((), str(e).splitlines()[0])]
    return []
