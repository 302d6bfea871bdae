"""Engine backends: what runs LLM requests, chosen by ``EngineConfig.backend`` through the
registry. ``vllm`` (stock vLLM in process, :mod:`~halo_core.backends.vllm_inprocess`, with
``vllm serve``'s chat front end in :mod:`~halo_core.backends.vllm_chat`) is the default;
``vllm-host`` runs every engine of the session in one engine host process
(:mod:`~halo_core.backends.host`), fed plain data."""

from halo_core.backends.base import Engine, EngineCounters, EngineRequest, PreparedChat
from halo_core.backends.registry import BACKENDS, make_engines, one_by_one, register

__all__ = [
    "BACKENDS",
    "Engine",
    "EngineCounters",
    "EngineRequest",
    "PreparedChat",
    "make_engines",
    "one_by_one",
    "register",
]
