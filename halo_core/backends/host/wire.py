"""What an engine host and the Halo runtime say to each other: plain data over one channel.

Messages are msgspec structs, encoded with vLLM's own msgpack codec (the one its front end and
engine core speak; it never unpickles unless ``VLLM_ALLOW_INSECURE_SERIALIZATION`` is set, which
the host refuses). A request goes down as the :class:`EngineCoreRequest` vLLM's input processor
built once on the Halo side; what comes back is per engine step: which requests got their first
token, which finished (token ids, text decoded once, cached tokens), and the step's shape and
time for the cost model.
"""

from __future__ import annotations

import threading
from multiprocessing.connection import Connection
from typing import Any

import msgspec
from vllm.v1.engine import EngineCoreRequest


# ---- to the host ----------------------------------------------------------------------------
class Start(msgspec.Struct, tag=True):
    """Build these engines: engine key → its :class:`EngineConfig` as JSON. ``shared``: the
    host serves several clients (a Ray replica), and an identical greedy request of another
    client joins the run already under way, or takes the answer of a finished one (up to
    ``shared`` remembered)."""

    engines: dict[str, str]
    turns: str = "step"
    shared: int = 0


class Submit(msgspec.Struct, tag=True):
    """Add requests to one engine."""

    engine: str
    requests: list[EngineCoreRequest]


class Abort(msgspec.Struct, tag=True):
    """Stop requests of one engine (their outputs so far are dropped)."""

    engine: str
    request_ids: list[str]


class ResetPrefixCache(msgspec.Struct, tag=True):
    """Drop one engine's prefix cache between steps; answered by :class:`Done`."""

    engine: str


class SetTurns(msgspec.Struct, tag=True):
    """How the host's engines share the device from now on (``"step"`` or ``"drain"``)."""

    policy: str


class Stop(msgspec.Struct, tag=True):
    pass


ToHost = Start | Submit | Abort | ResetPrefixCache | SetTurns | Stop


# ---- from the host --------------------------------------------------------------------------
class Facts(msgspec.Struct):
    """What the runtime needs to know of a built engine."""

    block_size: int
    max_model_len: int
    max_num_batched_tokens: int
    max_num_seqs: int


class Ready(msgspec.Struct, tag=True):
    engines: dict[str, Facts]


class Finished(msgspec.Struct):
    """A finished request: its output token ids, its text as vLLM detokenizes it, and why.
    ``joined``: answered by an identical request's run (a shared host), computed nothing."""

    request_id: str
    token_ids: list[int]
    text: str
    finish_reason: str
    cached_tokens: int
    joined: bool = False


class Failed(msgspec.Struct):
    """A request the engine refused or could not finish."""

    request_id: str
    error: str


class Stepped(msgspec.Struct, tag=True):
    """One engine step: its shape and time (zero tokens: no model run) and what it finished."""

    engine: str
    seconds: float
    prefill_tokens: int
    decode_seqs: int
    context_tokens: int
    first: list[str]
    finished: list[Finished]
    failed: list[Failed] = []


class Done(msgspec.Struct, tag=True):
    """A :class:`ResetPrefixCache` was carried out."""

    engine: str


class Fatal(msgspec.Struct, tag=True):
    """The host cannot go on (an engine failed to build or died); it exits after this."""

    error: str
    engine: str | None = None


FromHost = Ready | Stepped | Done | Fatal


class Channel:
    """One end of the host channel: whole messages over a connection, sends serialized."""

    def __init__(self, conn: Connection, incoming: Any):
        from vllm.v1.serial_utils import MsgpackDecoder, MsgpackEncoder

        self.conn = conn
        self._encoder = MsgpackEncoder()
        self._decoder = MsgpackDecoder(incoming)
        self._lock = threading.Lock()

    def send(self, message: msgspec.Struct) -> None:
        with self._lock:
            buffers = self._encoder.encode(message)
            if len(buffers) != 1:  # tensors travel out of band: not on this channel
                raise TypeError(f"{type(message).__name__} carries tensors; send plain data")
            self.conn.send_bytes(buffers[0])  # type: ignore[arg-type]  # bytes here

    def recv(self) -> Any:
        """The next message; ``EOFError`` once the other end closed."""
        return self._decoder.decode(self.conn.recv_bytes())

    def poll(self, timeout: float | None = 0.0) -> bool:
        return self.conn.poll(timeout)

    def close(self) -> None:
        self.conn.close()
