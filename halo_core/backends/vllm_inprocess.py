"""Stock vLLM, in process: an ``LLMEngine`` with its engine core in this process, stepped by one
engine thread (vLLM v1's split: this thread is the engine-core loop, the processor is the
front end). Requests stream back one by one as they finish; a request's first output marks the
end of its prefill, which is when the processor releases the followers of a prefix group.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from halo_core.backends.base import EngineCounters, EngineRequest, PreparedChat
from halo_core.backends.vllm_chat import ChatFrontend, VLLMChatParams
from halo_core.backends.vllm_counters import CounterLogger
from halo_core.backends.vllm_process import engine_args, engine_env, keep_dist_env, model_path
from halo_core.backends.vllm_steps import watch_steps
from halo_core.calls import ChatRequest, ChatResult
from halo_core.config import EngineConfig
from halo_core.env import scoped_env
from halo_core.errors import ConfigError, EngineDiedError
from halo_core.scheduler.cost_model import StepRecord, StepShape
from halo_core.scheduler.turns import DEVICE, TurnPolicy

log = logging.getLogger("halo.engine")

#: How many of its latest steps an engine keeps (:meth:`VLLMEngine.step_records`).
STEP_RECORDS = 8192


# Engines alive in this process. vLLM's engine-core shutdown tears down the process-wide
# distributed state (parallel groups) that every in-process engine uses; while other engines
# live, that teardown is skipped (guided decoding in a surviving engine needs the groups).
_LIVE: weakref.WeakSet[VLLMEngine] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()


@dataclass
class _Live:
    """A request in the engine: its callbacks and the output accumulated so far."""

    request: EngineRequest
    on_first_token: Callable[[], None]
    on_done: Callable[[ChatResult | BaseException], None]
    text: list[str] = field(default_factory=list)
    token_ids: list[int] = field(default_factory=list)
    started: bool = False

    @property
    def params(self) -> VLLMChatParams:
        return self.request.params


class VLLMEngine:
    """One model on one in-process vLLM engine (see :class:`~halo_core.backends.base.Engine`)."""

    def __init__(self, cfg: EngineConfig, key: str = "default", *, multiprocess: bool = False):
        self.key = key
        self._turn = f"{key}@{id(self):x}"  # this engine's name in the device's turns
        self.multiprocess = multiprocess
        self.cfg = cfg
        self.model = model_path(key, cfg)
        self._env = engine_env(cfg)
        with scoped_env(self._env):
            self._start_engine(cfg, key)

    def _start_engine(self, cfg: EngineConfig, key: str) -> None:
        self._counts = CounterLogger()
        self._args = engine_args(cfg, self.model)
        try:
            self._engine = self._new_engine()
        except Exception as e:
            raise ConfigError(
                f"engine {key!r} could not load model {cfg.model!r}: {type(e).__name__}: {e}. "
                "Check the model path/id, dtype, max_model_len and kv_cache_gib."
            ) from e
        self.deaths = 0  # times this engine died mid-run (restarted up to cfg.max_restarts)
        self._dead: EngineDiedError | None = None
        self._closed = False
        self._watch_core(self._engine)
        vcfg = self._engine.vllm_config
        self.block_size: int = vcfg.cache_config.block_size
        self.max_model_len: int = vcfg.model_config.max_model_len
        self.max_num_batched_tokens: int = vcfg.scheduler_config.max_num_batched_tokens
        self.max_num_seqs: int = vcfg.scheduler_config.max_num_seqs
        self.reuses_prefix_in_order = not cfg.wait_for_leader_prefill
        try:
            self._chat = ChatFrontend(
                self._engine.vllm_config,
                self._engine.renderer,
                tool_call_parser=cfg.tool_call_parser,
                reasoning_parser=cfg.reasoning_parser,
            )
        except (TypeError, KeyError, ValueError) as e:
            self._engine.engine_core.shutdown()
            raise ConfigError(
                f"engine {key!r}: tool_call_parser={cfg.tool_call_parser!r} / reasoning_parser="
                f"{cfg.reasoning_parser!r} unusable with {cfg.model!r}: {e}. Use a parser name "
                "vllm serve accepts for this model (e.g. 'hermes'), or None"
            ) from e
        self._steps: deque[StepRecord] = deque(maxlen=STEP_RECORDS)
        self._shape: StepShape | None = None  # what vLLM's scheduler put in the running step
        self._watch_steps()
        self._inbox: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()
        self._live: dict[str, _Live] = {}
        with _LIVE_LOCK:
            _LIVE.add(self)
        self._thread = threading.Thread(target=self._loop, name=f"halo-engine-{key}", daemon=True)
        self._thread.start()
        log.info(
            "engine %r ready: %s (block size %d, max_model_len %d, %d tokens per step)",
            key,
            self.model,
            self.block_size,
            self.max_model_len,
            self.max_num_batched_tokens,
        )

    def _new_engine(self) -> Any:
        from vllm.v1.engine.llm_engine import LLMEngine

        return LLMEngine.from_engine_args(
            self._args,
            stat_loggers=[self._counts.factory],
            enable_multiprocessing=self.multiprocess,
        )

    def _watch_core(self, engine: Any) -> None:
        """Wake the engine thread when an engine-core process dies. vLLM's sync multiprocess
        client marks the core dead when its process exits, but leaves a ``get_output`` that
        waits for the next step blocked forever (its async client wakes it): put the
        ``EngineDeadError`` there ourselves, so the step raises and the engine restarts."""
        core = getattr(engine, "engine_core", None)
        resources = getattr(core, "resources", None)
        outputs = getattr(core, "outputs_queue", None)
        if not self.multiprocess or resources is None or outputs is None:
            return

        def watch() -> None:
            from vllm.v1.engine.exceptions import EngineDeadError

            while not self._closed and self._engine is engine:
                if getattr(resources, "engine_dead", False):
                    outputs.put_nowait(EngineDeadError())
                    return
                time.sleep(0.2)

        threading.Thread(target=watch, name=f"halo-core-watch-{self.key}", daemon=True).start()

    # ---- Engine protocol ---------------------------------------------------------------------
    def sampled(self, request: ChatRequest) -> bool:
        return self._chat.sampled(request)

    def prepare(self, requests: Sequence[ChatRequest]) -> list[PreparedChat | Exception]:
        """Render, tokenize and resolve sampling exactly as ``vllm serve`` (see vllm_chat)."""
        return self._chat.prepare(requests, self.max_model_len)

    def submit(
        self,
        request: EngineRequest,
        on_first_token: Callable[[], None],
        on_done: Callable[[ChatResult | BaseException], None],
    ) -> None:
        """Queue a request for the engine thread."""
        if self._closed or self._dead is not None:
            on_done(self._dead or RuntimeError(f"engine {self.key!r} is shut down"))
            return
        self._inbox.put(("add", _Live(request, on_first_token, on_done)))

    def abort(self, request_ids: list[str]) -> None:
        """Queue an abort for the engine thread (after the submits queued before it)."""
        self._inbox.put(("abort", list(request_ids)))

    def counters(self) -> EngineCounters:
        """Counters from the engine's own stats (vLLM's stat-logger interface)."""
        return self._counts.snapshot()

    def step_records(self) -> list[StepRecord]:
        """The engine's latest steps (up to ``STEP_RECORDS``), oldest first."""
        return list(self._steps)

    def set_turns(self, policy: TurnPolicy) -> None:
        """In-process engines share this process's device turns (``DEVICE``)."""
        DEVICE.policy = policy

    def reset_prefix_cache(self) -> None:
        """Drop the prefix cache (waits for the engine thread to do it between steps)."""
        done = threading.Event()
        self._inbox.put(("reset", done))
        done.wait(timeout=60)

    def shutdown(self) -> None:
        """Stop the engine thread, fail requests still running, free the engine."""
        if self._closed:
            return
        self._closed = True
        self._inbox.put(None)
        self._thread.join(timeout=30)
        for live in self._live.values():
            live.on_done(RuntimeError("the engine shut down before this request finished"))
        self._live.clear()
        chat = self.__dict__.pop("_chat", None)
        if chat is not None:
            chat.close()
        engine = self.__dict__.pop("_engine", None)
        with _LIVE_LOCK:
            _LIVE.discard(self)
            others = bool(_LIVE)
        if engine is not None:
            try:
                with keep_dist_env(others):
                    engine.engine_core.shutdown()
            except Exception:  # shutting down after a failure: nothing left to save
                log.debug("engine core shutdown raised", exc_info=True)
        import gc

        gc.collect()

    # ---- engine thread -----------------------------------------------------------------------
    def _watch_steps(self) -> None:
        """Record each step's shape (vllm_steps); none when the core runs in its own process."""
        if self.multiprocess:
            return  # the scheduler runs in the engine-core process
        try:
            scheduler = self._engine.engine_core.engine_core.scheduler
        except AttributeError:
            log.warning("engine %r: vLLM's scheduler is out of reach, no step shapes", self.key)
            return
        watch_steps(scheduler, self._set_shape)

    def _set_shape(self, shape: StepShape) -> None:
        self._shape = shape

    def _handle(self, item: tuple[str, Any]) -> None:
        kind, payload = item
        if kind == "reset":
            self._engine.reset_prefix_cache()
            payload.set()
            return
        if kind == "abort":
            gone = [rid for rid in payload if self._live.pop(rid, None) is not None]
            if gone and self._dead is None:
                self._engine.abort_request(gone)
                self._counts.add_aborted(len(gone))
            return
        live: _Live = payload
        request = live.request
        if self._dead is not None:  # queued before the engine was given up
            live.on_done(self._dead)
            return
        from vllm import TokensPrompt
        from vllm.sampling_params import RequestOutputKind

        try:
            params = live.params.sampling.clone()
            params.output_kind = RequestOutputKind.DELTA
            prompt = TokensPrompt(prompt_token_ids=request.prompt_token_ids)
            self._engine.add_request(request.request_id, prompt, params, priority=request.priority)
        except Exception as e:
            if not self._core_dead():
                live.on_done(e)  # this request's own fault
                return
            self._live[request.request_id] = live
            self._restart(e)  # the engine died under it: re-submitted with the rest
            return
        self._live[request.request_id] = live

    def _core_dead(self) -> bool:
        """Whether the engine core (a ``vllm-mp`` process) is known to be dead."""
        resources = getattr(self._engine.engine_core, "resources", None)
        return bool(getattr(resources, "engine_dead", False))

    def _loop(self) -> None:
        while True:
            busy = self._dead is None and self._engine.has_unfinished_requests()
            if not busy:  # never hold the device while waiting for work (e.g. after an abort)
                DEVICE.release(self._turn, busy=False)
            try:
                item = self._inbox.get(block=not busy)
            except queue.Empty:
                item = ("idle", None)
            if item is None:
                DEVICE.leave(self._turn)
                return
            if item[0] != "idle":
                self._handle(item)
                continue  # drain the inbox before stepping, so arrivals batch together
            try:
                outputs = self._step()
            except Exception as e:  # the engine died: restart it, re-submit what was running
                self._restart(e)
                continue
            for out in outputs:
                self._on_output(out)

    def _restart(self, error: Exception) -> None:
        """Replace a dead engine core by a new one and re-submit the requests that were in it
        (from scratch: greedy decoding returns the same tokens), at most ``max_restarts``
        times; then fail them, and every later request, with :class:`EngineDiedError`."""
        self.deaths += 1
        running = list(self._live.values())
        self._live.clear()
        log.error("engine %r died (%s: %s)", self.key, type(error).__name__, error)
        with _LIVE_LOCK:
            others = len(_LIVE) > 1
        try:
            with keep_dist_env(others):
                self._engine.engine_core.shutdown()
        except Exception:
            log.debug("dead engine core's shutdown raised", exc_info=True)
        fresh = None
        if self.deaths <= self.cfg.max_restarts:
            try:
                with scoped_env(self._env):
                    fresh = self._new_engine()
            except Exception as e:
                log.exception("engine %r could not restart", self.key)
                error = e
        if fresh is None:
            self._dead = EngineDiedError(self.key, self.deaths, error)
            for live in running:
                live.on_done(self._dead)
            return
        self._engine = fresh
        self._watch_steps()
        self._watch_core(fresh)
        log.warning(
            "engine %r restarted (%d of %d); re-submitting %d requests",
            self.key,
            self.deaths,
            self.cfg.max_restarts,
            len(running),
        )
        for live in running:
            live.text.clear()
            live.token_ids.clear()
            self._handle(("add", live))

    def _step(self) -> Any:
        """One engine step, timed; in-process engines take turns on the device (DEVICE)."""
        if not self.multiprocess:
            DEVICE.acquire(self._turn, len(self._live))
        try:
            t0 = time.perf_counter()
            outputs = self._engine.step()
            seconds = time.perf_counter() - t0
        finally:
            if not self.multiprocess:
                DEVICE.release(self._turn, self._engine.has_unfinished_requests())
        self._counts.add_step(seconds)
        if self._shape is not None:
            self._steps.append(StepRecord(self._shape, seconds))
            self._shape = None
        return outputs

    def _on_output(self, out: Any) -> None:
        live = self._live.get(out.request_id)
        if live is None:
            return
        comp = out.outputs[0]
        live.text.append(comp.text)
        live.token_ids.extend(comp.token_ids)
        if not live.started:
            live.started = True
            live.on_first_token()
        if out.finished:
            del self._live[out.request_id]
            text = "".join(live.text)
            try:
                msg = self._chat.parse(live.params, text, live.token_ids, comp.finish_reason)
            except Exception as e:  # a parser failure fails this call only
                live.on_done(e)
                return
            live.on_done(
                ChatResult(
                    text=text,
                    prompt_tokens=len(out.prompt_token_ids or []),
                    output_tokens=len(live.token_ids),
                    cached_tokens=out.num_cached_tokens or 0,
                    finish_reason=msg.finish_reason,
                    token_ids=list(live.token_ids),
                    content=msg.content,
                    tool_calls=msg.tool_calls,
                    reasoning=msg.reasoning,
                )
            )
