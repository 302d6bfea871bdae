"""One engine inside an engine host: a vLLM ``EngineCore`` stepped directly, its outputs read once.

No ``LLMEngine`` front end runs here: there are no per-step ``RequestOutput`` objects and no stat
loggers. A request's output token ids are gathered as the core returns them and decoded once
when it finishes, by vLLM's own incremental detokenizer given all of them at once (so the text
is exactly vLLM's, also for a stream that ends inside a multi-byte character). A request with
stop strings is the exception: it is detokenized step by step, as vLLM does, so that it stops
(and is aborted in the core) where a stop string completes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from halo_core.backends.host import wire
from halo_core.backends.vllm_process import engine_args
from halo_core.backends.vllm_steps import watch_steps
from halo_core.config import EngineConfig
from halo_core.models import resolve_model
from halo_core.scheduler.cost_model import StepShape

log = logging.getLogger("halo.host")


@dataclass
class _Live:
    detokenizer: Any  # vLLM IncrementalDetokenizer: per step with stop strings, else at the end
    token_ids: list[int] = field(default_factory=list)
    started: bool = False
    cached_tokens: int = 0


class HostedEngine:
    """One model's ``EngineCore`` in this host process."""

    def __init__(self, key: str, cfg: EngineConfig):
        from vllm.tokenizers import cached_tokenizer_from_config
        from vllm.v1.engine.core import EngineCore
        from vllm.v1.executor import Executor

        self.key = key
        args = engine_args(cfg, resolve_model(cfg.model))
        args.disable_log_stats = True  # Halo counts from the outputs it reads
        if cfg.kv_cache_gib:
            args.kv_cache_memory_bytes = int(cfg.kv_cache_gib * (1 << 30))
        config = args.create_engine_config()
        self.core = EngineCore(config, Executor.get_class(config), log_stats=False)
        self.tokenizer = cached_tokenizer_from_config(config.model_config)
        self.facts = wire.Facts(
            config.cache_config.block_size,
            config.model_config.max_model_len,
            config.scheduler_config.max_num_batched_tokens,
            config.scheduler_config.max_num_seqs,
        )
        self.live: dict[str, _Live] = {}
        self._shape = StepShape(0, 0, 0)
        watch_steps(self.core.scheduler, self._set_shape)

    def _set_shape(self, shape: StepShape) -> None:
        self._shape = shape

    @property
    def busy(self) -> bool:
        return bool(self.live) or self.core.scheduler.has_requests()

    def add(self, requests: list[Any]) -> list[wire.Failed]:
        """Hand requests to the core; those it refuses come back as failures."""
        from vllm.v1.engine.detokenizer import IncrementalDetokenizer

        failed = []
        for request in requests:
            try:
                detokenizer = IncrementalDetokenizer.from_new_request(self.tokenizer, request)
                prepared, wave = self.core.preprocess_add_request(request)
                self.core.add_request(prepared, wave)
            except Exception as e:
                failed.append(wire.Failed(request.request_id, f"{type(e).__name__}: {e}"))
                continue
            self.live[request.request_id] = _Live(detokenizer)
        return failed

    def abort(self, request_ids: list[str]) -> None:
        gone = [rid for rid in request_ids if self.live.pop(rid, None) is not None]
        if gone:
            self.core.abort_requests(gone)

    def reset_prefix_cache(self) -> None:
        self.core.reset_prefix_cache()

    def step(self) -> wire.Stepped:
        """One engine-core step, and what it started and finished."""
        self._shape = StepShape(0, 0, 0)
        t0 = time.perf_counter()
        outputs, executed = self.core.step_fn()
        self.core.post_step(model_executed=executed)
        seconds = time.perf_counter() - t0
        shape = self._shape
        first: list[str] = []
        finished: list[wire.Finished] = []
        stopped: list[str] = []
        batch = outputs.get(0) if outputs else None
        for out in batch.outputs if batch is not None else ():
            live = self.live.get(out.request_id)
            if live is None:  # aborted
                continue
            if not live.started:
                live.started = True
                first.append(out.request_id)
                if out.prefill_stats is not None:
                    live.cached_tokens = out.prefill_stats.num_cached_tokens
            done = self._read(live, out, stopped)
            if done is not None:
                del self.live[out.request_id]
                finished.append(done)
        if stopped:
            self.core.abort_requests(stopped)
        return wire.Stepped(
            self.key,
            seconds,
            shape.prefill_tokens,
            shape.decode_seqs,
            shape.context_tokens,
            first,
            finished,
        )

    def _read(self, live: _Live, out: Any, stopped: list[str]) -> wire.Finished | None:
        """Take one step's output of a request; its :class:`~wire.Finished` when it ended."""
        from vllm.v1.engine import FinishReason

        reason = out.finish_reason
        detok = live.detokenizer
        if not detok.stop:  # no stop strings: decode once, at the end
            live.token_ids.extend(out.new_token_ids)
            if reason is None:
                return None
            detok.update(live.token_ids, reason == FinishReason.STOP)
        else:
            stop_string = detok.update(out.new_token_ids, reason == FinishReason.STOP)
            if stop_string:
                if reason is None:
                    stopped.append(out.request_id)  # vLLM's front end aborts it the same way
                reason = FinishReason.STOP
            if reason is None:
                return None
        return wire.Finished(
            out.request_id,
            list(detok.output_token_ids),
            detok.get_next_output_text(finished=True, delta=False),
            str(reason),
            live.cached_tokens,
        )
