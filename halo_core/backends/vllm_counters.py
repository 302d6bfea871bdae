"""One vLLM engine's counters (requests, prompt / generated tokens, prefix-cache queries and hits,
steps), summed by a stat logger of its own, so several engines in one process count apart; the
engine thread adds its steps and aborts."""

from __future__ import annotations

import threading
from typing import Any

from halo_core.backends.base import EngineCounters


class CounterLogger:
    """A vLLM stat logger summing one engine's counters (works with several engines per process)."""

    def __init__(self) -> None:
        self.requests = self.prompt = self.generation = self.queries = self.hits = 0
        self.steps, self.step_s = 0, 0.0
        self.aborted = 0
        self._lock = threading.Lock()

    def add_step(self, seconds: float) -> None:
        """Count one engine step that took ``seconds``."""
        with self._lock:
            self.steps += 1
            self.step_s += seconds

    def add_aborted(self, n: int) -> None:
        """Count ``n`` requests aborted before they finished."""
        with self._lock:
            self.aborted += n

    def factory(self, vllm_config: Any, engine_index: int = 0) -> Any:
        """A vLLM ``StatLoggerBase`` feeding these counts (pass as ``stat_loggers``)."""
        from vllm.v1.metrics.loggers import StatLoggerBase

        counts = self

        class _Logger(StatLoggerBase):
            def __init__(self, vllm_config: Any, engine_index: int = 0) -> None:
                pass

            def record(
                self,
                scheduler_stats: Any,
                iteration_stats: Any,
                mm_cache_stats: Any = None,
                engine_idx: int = 0,
            ) -> None:
                with counts._lock:
                    if iteration_stats is not None:
                        counts.requests += len(iteration_stats.finished_requests)
                        counts.prompt += iteration_stats.num_prompt_tokens
                        counts.generation += iteration_stats.num_generation_tokens
                    pcs = getattr(scheduler_stats, "prefix_cache_stats", None)
                    if pcs is not None:
                        counts.queries += pcs.queries
                        counts.hits += pcs.hits

            def log_engine_initialized(self) -> None:
                pass

        return _Logger(vllm_config, engine_index)

    def snapshot(self) -> EngineCounters:
        """The counts so far."""
        with self._lock:
            return EngineCounters(
                self.requests,
                self.prompt,
                self.generation,
                self.queries,
                self.hits,
                self.steps,
                self.step_s,
                self.aborted,
            )
