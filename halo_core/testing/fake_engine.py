"""A fake engine for tests of scheduling and journal logic and for running a framework's own test
suite under a binding (no model: the proof that features work on vLLM lives in the engine
tests). Register it with :func:`register`; ``EngineConfig(backend="fake")`` then builds one."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from halo_core.backends.base import EngineCounters, EngineRequest, PreparedChat
from halo_core.calls import ChatRequest, ChatResult
from halo_core.config import EngineConfig
from halo_core.scheduler.cost_model import StepRecord


class FakeEngine:
    """Answers each request on its own thread with the prompt length; with ``hold`` set, a
    request waits before its first token until :meth:`release` (or :meth:`abort`)."""

    model = "fake"
    block_size = 4
    max_model_len = 100_000
    max_num_batched_tokens = 2048
    max_num_seqs = 256
    reuses_prefix_in_order = True

    def __init__(self) -> None:
        self.requests: list[EngineRequest] = []
        self.events: list[tuple[str, str]] = []
        self.aborted: list[str] = []
        self.turns = "step"
        self.hold = False
        self._running: dict[str, threading.Event] = {}  # request id → set to let it go on
        self._lock = threading.Lock()

    def sampled(self, request: ChatRequest) -> bool:
        t = request.sampling.get("temperature") or 0.0  # None: the engine default, greedy
        return t > 0 and request.sampling.get("seed") is None

    def prepare(self, requests: Sequence[ChatRequest]) -> list[PreparedChat | Exception]:
        return [
            PreparedChat([ord(c) for m in r.messages for c in m["content"]], r.sampling)
            for r in requests
        ]

    def submit(
        self,
        request: EngineRequest,
        on_first_token: Callable[[], None],
        on_done: Callable[[ChatResult | BaseException], None],
    ) -> None:
        rid = request.request_id
        go = threading.Event()
        with self._lock:
            self.requests.append(request)
            self.events.append(("submit", rid))
            self._running[rid] = go
        n = len(request.prompt_token_ids)

        def run() -> None:
            if self.hold:
                go.wait()
            with self._lock:
                if self._running.pop(rid, None) is None:  # aborted
                    return
                self.events.append(("first", rid))
            on_first_token()
            on_done(ChatResult(f"len={n}", n, 1, 0, "stop", [n], content=f"len={n}"))

        threading.Thread(target=run, daemon=True).start()

    def abort(self, request_ids: list[str]) -> None:
        with self._lock:
            for rid in request_ids:
                if (go := self._running.pop(rid, None)) is not None:
                    self.aborted.append(rid)
                    self.events.append(("abort", rid))
                    go.set()

    def release(self) -> None:
        """Let every held request go on (and the later ones run at once)."""
        with self._lock:
            self.hold = False
            for go in self._running.values():
                go.set()

    @property
    def running(self) -> int:
        """Requests submitted and neither finished nor aborted."""
        with self._lock:
            return len(self._running)

    def counters(self) -> EngineCounters:
        return EngineCounters(len(self.requests), 0, 0, 0, 0, aborted=len(self.aborted))

    def step_records(self) -> list[StepRecord]:
        return []

    def set_turns(self, policy: str) -> None:
        self.turns = policy

    def reset_prefix_cache(self) -> None:
        pass

    def shutdown(self) -> None:
        pass


def register() -> None:
    """Make ``EngineConfig(backend="fake")`` build a :class:`FakeEngine` (its
    ``wait_for_leader_prefill`` decides ``reuses_prefix_in_order``)."""
    from halo_core.backends import registry

    def make(key: str, cfg: EngineConfig) -> FakeEngine:
        engine = FakeEngine()
        engine.reuses_prefix_in_order = not cfg.wait_for_leader_prefill
        return engine

    registry.register("fake", registry.one_by_one(make))
