"""What vLLM engines share wherever they run: the engine arguments an :class:`EngineConfig` gives,
the environment an engine is created in, and the process-wide distributed state that one
engine's shutdown must leave to the others."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from halo_core.config import EngineConfig
from halo_core.errors import ConfigError
from halo_core.logs import engine_log_env
from halo_core.models import resolve_model


def cpu_only() -> bool:
    import torch

    return not torch.cuda.is_available()


def model_path(key: str, cfg: EngineConfig) -> str:
    """What vLLM loads for ``cfg``: the resolved model dir or id; a path that is not a dir is a
    :class:`ConfigError` naming the engine."""
    model = resolve_model(cfg.model)
    if os.sep in cfg.model and not Path(model).is_dir():
        raise ConfigError(
            f"model {cfg.model!r} (engine {key!r}) is not a directory; give a model dir or id"
        )
    return model


def engine_args(cfg: EngineConfig, model: str) -> Any:
    """vLLM's ``EngineArgs`` for ``cfg`` serving ``model`` (a resolved model dir or id)."""
    from vllm import EngineArgs

    extra: dict[str, Any] = {"block_size": cfg.block_size} if cfg.block_size else {}
    if cfg.max_num_batched_tokens is not None:
        extra["max_num_batched_tokens"] = cfg.max_num_batched_tokens
    if cfg.compact_json:
        from vllm.config import StructuredOutputsConfig

        extra["structured_outputs_config"] = StructuredOutputsConfig(
            backend="xgrammar", disable_any_whitespace=True
        )
    return EngineArgs(
        model=model,
        dtype=cfg.dtype if cfg.dtype != "auto" or not cpu_only() else "float32",
        max_model_len=cfg.max_model_len,
        enable_prefix_caching=cfg.enable_prefix_caching,
        enforce_eager=cfg.enforce_eager,
        max_num_seqs=cfg.max_num_seqs,
        scheduling_policy=cfg.scheduling_policy,
        seed=cfg.seed,
        disable_log_stats=False,
        # the weight-loading progress bar only when vLLM logs INFO (SessionConfig's level)
        use_tqdm_on_load=logging.getLogger("vllm").isEnabledFor(logging.INFO),
        **extra,
    )


def engine_env(cfg: EngineConfig) -> dict[str, str]:
    """Environment vLLM reads at engine creation (measured best settings for CPU machines), on
    top of the log level the session sets around it; set only while an engine is created."""
    env = {k: os.environ[k] for k in engine_log_env() if k in os.environ}
    env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"  # engine core in process: ~4 s start
    if cpu_only():
        bind = f"0-{(os.cpu_count() or 1) - 1}"
        env["VLLM_CPU_OMP_THREADS_BIND"] = os.environ.get("VLLM_CPU_OMP_THREADS_BIND", bind)
        env["VLLM_CPU_KVCACHE_SPACE"] = str(max(1, round(cfg.kv_cache_gib)))
    return env


@contextlib.contextmanager
def keep_dist_env(keep: bool) -> Iterator[None]:
    """Skip vLLM's teardown of the distributed groups in the block when ``keep`` (other
    engines still use them)."""
    if not keep:
        yield
        return
    import vllm.v1.engine.core as core

    cleanup = core.cleanup_dist_env_and_memory
    core.cleanup_dist_env_and_memory = lambda *a, **k: None
    try:
        yield
    finally:
        core.cleanup_dist_env_and_memory = cleanup
