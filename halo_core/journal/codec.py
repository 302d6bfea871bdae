"""Results as JSON for the journal: plain JSON values as they are, other types through codecs
registered by name (Halo's :class:`ChatResult` here; LangChain and AutoGen objects by their
adapters, through those libraries' own serializers). Never pickle.

A value no codec covers cannot be journaled: :func:`encode` raises :class:`Unjournalable`, and
the journal keeps that the call ran without its result.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from halo_core.calls import ChatResult

#: The key that marks a value encoded by a named codec inside the JSON tree.
TAG = "__halo__"


class Unjournalable(TypeError):
    """A value of a type no codec encodes."""


@dataclass(frozen=True)
class Codec:
    """How one family of Python objects becomes JSON and back."""

    name: str
    handles: Callable[[Any], bool]
    to_json: Callable[[Any], Any]
    from_json: Callable[[Any], Any]


_codecs: dict[str, Codec] = {}
_lock = threading.Lock()


def register(codec: Codec) -> None:
    """Add (or replace, by name) a codec; adapters register theirs on import."""
    with _lock:
        _codecs[codec.name] = codec


def _tree(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise Unjournalable(f"non-finite float {value!r}")
        return value
    if type(value) is list:
        return [_tree(v) for v in value]
    if type(value) is dict and TAG not in value and all(isinstance(k, str) for k in value):
        return {k: _tree(v) for k, v in value.items()}
    for codec in list(_codecs.values()):
        if codec.handles(value):
            return {TAG: codec.name, "v": codec.to_json(value)}
    raise Unjournalable(f"no journal codec for {type(value).__module__}.{type(value).__name__}")


def _value(tree: Any) -> Any:
    if type(tree) is list:
        return [_value(v) for v in tree]
    if type(tree) is dict:
        if TAG in tree:
            codec = _codecs.get(tree[TAG])
            if codec is None:
                raise Unjournalable(
                    f"the journal holds a {tree[TAG]!r} value and no codec reads it"
                )
            return codec.from_json(tree["v"])
        return {k: _value(v) for k, v in tree.items()}
    return tree


def encode(value: Any) -> str:
    """``value`` as JSON text; raises :class:`Unjournalable` for a type no codec covers."""
    return json.dumps(_tree(value), ensure_ascii=False, separators=(",", ":"))


def decode(text: str) -> Any:
    """The value :func:`encode` wrote (a fresh object on every call)."""
    return _value(json.loads(text))


register(
    Codec(
        "tuple",
        lambda v: type(v) is tuple,
        lambda v: [_tree(x) for x in v],
        lambda j: tuple(_value(x) for x in j),
    )
)
register(
    Codec(
        "halo.ChatResult",
        lambda v: isinstance(v, ChatResult),
        lambda v: _tree(dataclasses.asdict(v)),
        lambda j: ChatResult(**_value(j)),
    )
)
