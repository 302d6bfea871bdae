"""How much the engine's libraries print: vLLM's start-up log, torch and transformers warnings."""

from __future__ import annotations

import logging
import os
import warnings
from typing import Literal

#: ``SessionConfig.engine_log_level``: "error" keeps the engine quiet, the others bring back
#: vLLM's warnings, its start-up INFO log, or its debug log.
EngineLogLevel = Literal["error", "warning", "info", "debug"]


def configure_engine_logs(level: EngineLogLevel = "error") -> None:
    """Set vLLM's log level (and quiet torch / transformers at ``"error"``), process-wide.

    vLLM reads ``VLLM_LOGGING_LEVEL`` when an engine starts (torch reads ``TORCH_CPP_LOG_LEVEL``
    at import), so this sets the environment; the ``vllm`` logger and its handlers also get the
    level at once, which covers messages logged while vLLM imports and an already started vLLM.
    """
    quiet = level == "error"
    libs = logging.ERROR if quiet else logging.WARNING
    os.environ["VLLM_LOGGING_LEVEL"] = level.upper()
    os.environ["TORCH_CPP_LOG_LEVEL"] = logging.getLevelName(libs)
    os.environ["TRANSFORMERS_VERBOSITY"] = logging.getLevelName(libs).lower()
    vllm_logger = logging.getLogger("vllm")
    vllm_logger.setLevel(level.upper())
    for handler in vllm_logger.handlers:
        handler.setLevel(level.upper())
    for name in ("torch", "transformers"):
        logging.getLogger(name).setLevel(libs)
    # e.g. vLLM's use of torch.distributed.reduce_op at start-up
    warnings.filterwarnings(
        "ignore" if quiet else "default",
        category=FutureWarning,
        module=r"(vllm|torch|transformers)\b",
    )
