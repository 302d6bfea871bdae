"""One engine inside an engine host: a vLLM ``EngineCore`` stepped directly, its outputs read once.

No ``LLMEngine`` front end runs here: there are no per-step ``RequestOutput`` objects and no stat
loggers. A request's output token ids are gathered as the core returns them and decoded once
when it finishes, by vLLM's own incremental detokenizer given all of them at once (so the text
is exactly vLLM's, also for a stream that ends inside a multi-byte character). A request with
stop strings is the exception: it is detokenized step by step, as vLLM does, so that it stops
(and is aborted in the core) where a stop string completes.

On a host several clients share (a Ray replica: the driver and the shards of a batch), an
identical greedy or seeded request (same prompt tokens, same sampling parameters) joins the run
already under way, or takes the answer of one that finished, so identical calls from different
processes are computed once, as the processor does within one.
"""

from __future__ import annotations

import array
import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

from halo_core.backends.host import wire
from halo_core.backends.vllm_process import engine_args
from halo_core.backends.vllm_steps import watch_steps
from halo_core.config import EngineConfig
from halo_core.lru import LRUDict
from halo_core.models import resolve_model
from halo_core.scheduler.cost_model import StepShape

log = logging.getLogger("halo.host")


@dataclass
class _Live:
    """One run in the core, and the requests it answers (the first is the core's own id)."""

    detokenizer: Any  # vLLM IncrementalDetokenizer: per step with stop strings, else at the end
    answers: list[str]
    key: bytes | None = None  # identical requests share the run (shared hosts only)
    token_ids: list[int] = field(default_factory=list)
    started: bool = False
    cached_tokens: int = 0


@dataclass(frozen=True)
class _Answer:
    token_ids: list[int]
    text: str
    finish_reason: str


class HostedEngine:
    """One model's ``EngineCore`` in this host process."""

    def __init__(self, key: str, cfg: EngineConfig, shared: int = 0):
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
        self.live: dict[str, _Live] = {}  # by the core's request id
        self.runs: dict[str, str] = {}  # every request id answered by a live run → its core id
        self.shared = shared > 0
        self._by_key: dict[bytes, str] = {}  # a live shared run by its request's key
        self._answers: LRUDict[bytes, _Answer] = LRUDict(max(shared, 1))
        self._shape = StepShape(0, 0, 0)
        watch_steps(self.core.scheduler, self._set_shape)

    def _set_shape(self, shape: StepShape) -> None:
        self._shape = shape

    @property
    def busy(self) -> bool:
        return bool(self.live) or self.core.scheduler.has_requests()

    def add(self, requests: list[Any]) -> wire.Stepped | None:
        """Hand requests to the core. What is known at once comes back as a report: requests
        the core refuses (failed) and, on a shared host, those an identical run answers
        (finished, or started when that run has its first token)."""
        from vllm.v1.engine.detokenizer import IncrementalDetokenizer

        failed: list[wire.Failed] = []
        first: list[str] = []
        finished: list[wire.Finished] = []
        for request in requests:
            rid = request.request_id
            key = _share_key(request) if self.shared else None
            if key is not None and (answer := self._answers.get(key)) is not None:
                self._answers.move_to_end(key)
                first.append(rid)
                finished.append(wire.Finished(rid, *_fields(answer), 0, joined=True))
                continue
            if key is not None and (core_id := self._by_key.get(key)) is not None:
                live = self.live[core_id]
                live.answers.append(rid)
                self.runs[rid] = core_id
                if live.started:
                    first.append(rid)
                continue
            try:
                detokenizer = IncrementalDetokenizer.from_new_request(self.tokenizer, request)
                prepared, wave = self.core.preprocess_add_request(request)
                self.core.add_request(prepared, wave)
            except Exception as e:
                failed.append(wire.Failed(rid, f"{type(e).__name__}: {e}"))
                continue
            self.live[rid] = _Live(detokenizer, [rid], key)
            self.runs[rid] = rid
            if key is not None:
                self._by_key[key] = rid
        if not (failed or first or finished):
            return None
        return wire.Stepped(self.key, 0.0, 0, 0, 0, first, finished, failed)

    def abort(self, request_ids: list[str]) -> None:
        """Stop answering these requests; a run nobody else waits for is aborted in the core."""
        gone = []
        for rid in request_ids:
            core_id = self.runs.pop(rid, None)
            if core_id is None:
                continue
            live = self.live[core_id]
            live.answers.remove(rid)
            if not live.answers:
                self._end(core_id)
                gone.append(core_id)
        if gone:
            self.core.abort_requests(gone)

    def _end(self, core_id: str) -> _Live:
        live = self.live.pop(core_id)
        if live.key is not None:
            self._by_key.pop(live.key, None)
        return live

    def reset_prefix_cache(self) -> None:
        """Drop the prefix cache and, on a shared host, the answers it remembers."""
        self.core.reset_prefix_cache()
        self._answers.clear()

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
                first.extend(live.answers)
                if out.prefill_stats is not None:
                    live.cached_tokens = out.prefill_stats.num_cached_tokens
            answer = self._read(live, out, stopped)
            if answer is not None:
                self._end(out.request_id)
                if live.key is not None:
                    self._answers[live.key] = answer
                for i, rid in enumerate(live.answers):
                    del self.runs[rid]
                    cached = live.cached_tokens if i == 0 else 0
                    finished.append(wire.Finished(rid, *_fields(answer), cached, joined=i > 0))
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

    def _read(self, live: _Live, out: Any, stopped: list[str]) -> _Answer | None:
        """Take one step's output of a request; its answer when it ended."""
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
        return _Answer(
            list(detok.output_token_ids),
            detok.get_next_output_text(finished=True, delta=False),
            str(reason),
        )


def _fields(answer: _Answer) -> tuple[list[int], str, str]:
    return answer.token_ids, answer.text, answer.finish_reason


def _share_key(request: Any) -> bytes | None:
    """What makes two requests identical (prompt tokens, sampling parameters, adapter, cache
    salt); None for a request whose output is random (sampled without a seed) or that carries
    more than tokens."""
    from vllm.sampling_params import SamplingType

    params = request.sampling_params
    if (
        params is None
        or params.sampling_type == SamplingType.RANDOM
        or request.prompt_token_ids is None
        or request.mm_features
        or getattr(request, "prompt_embeds", None) is not None
    ):
        return None
    try:
        encoded = msgspec.msgpack.encode(params)  # every field set, unlike its repr
    except (TypeError, ValueError):  # e.g. logits processors given as callables
        return None
    h = hashlib.blake2b(encoded, digest_size=16)
    h.update(array.array("q", request.prompt_token_ids).tobytes())  # not a repr per token
    h.update(repr((request.lora_request, request.cache_salt)).encode())
    return h.digest()
