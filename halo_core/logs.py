"""How much the engine's libraries print: vLLM's start-up log, torch and transformers warnings."""

from __future__ import annotations

import logging
import warnings
from typing import Literal

#: ``SessionConfig.engine_log_level``: "error" keeps the engine quiet, the others bring back
#: vLLM's warnings, its start-up INFO log, or its debug log.
EngineLogLevel = Literal["error", "warning", "info", "debug"]


def engine_log_env(level: EngineLogLevel = "error") -> dict[str, str]:
    """The environment that sets vLLM's log level (and quiets torch / transformers at
    ``"error"``): vLLM reads ``VLLM_LOGGING_LEVEL`` when it is imported and when an engine (or
    its core process) starts; set it around engine creation with
    :func:`~halo_core.env.scoped_env`."""
    libs = logging.ERROR if level == "error" else logging.WARNING
    return {
        "VLLM_LOGGING_LEVEL": level.upper(),
        "TORCH_CPP_LOG_LEVEL": logging.getLevelName(libs),
        "TRANSFORMERS_VERBOSITY": logging.getLevelName(libs).lower(),
    }


def configure_engine_logs(level: EngineLogLevel = "error") -> None:
    """Give the ``vllm`` logger and its handlers, and the torch / transformers loggers, the
    level at once (messages logged while vLLM imports and by an already started vLLM), and hide
    the libraries' FutureWarnings at ``"error"``. Ray, where installed, is imported by vLLM's
    config and in a notebook logs an ipywidgets notice at INFO (``ray.widgets``, a logger Ray's
    own set-up leaves alone): quieted with the libraries."""
    quiet = level == "error"
    libs = logging.ERROR if quiet else logging.WARNING
    vllm_logger = logging.getLogger("vllm")
    vllm_logger.setLevel(level.upper())
    for handler in vllm_logger.handlers:
        handler.setLevel(level.upper())
    for name in ("torch", "transformers", "ray.widgets"):
        logging.getLogger(name).setLevel(libs)
    # e.g. vLLM's use of torch.distributed.reduce_op at start-up
    warnings.filterwarnings(
        "ignore" if quiet else "default",
        category=FutureWarning,
        module=r"(vllm|torch|transformers)\b",
    )
