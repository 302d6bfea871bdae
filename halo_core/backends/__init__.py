"""Engine backends: what runs LLM requests. ``vllm_inprocess`` is the default."""

from halo_core.backends.base import Engine, EngineCounters, EngineRequest

__all__ = ["Engine", "EngineCounters", "EngineRequest"]
