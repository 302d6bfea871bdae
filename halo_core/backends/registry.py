"""Engine backends by name: ``EngineConfig.backend`` picks the factory that builds an engine."""

from __future__ import annotations

from collections.abc import Callable

from halo_core.backends.base import Engine
from halo_core.config import EngineConfig
from halo_core.errors import ConfigError

#: Builds the engine for one ``SessionConfig.engines`` entry: ``factory(key, config)``.
EngineFactory = Callable[[str, EngineConfig], Engine]

BACKENDS: dict[str, EngineFactory] = {}


def register(name: str, factory: EngineFactory) -> None:
    """Make ``EngineConfig(backend=name)`` build its engines with ``factory``."""
    BACKENDS[name] = factory


def make_engine(key: str, config: EngineConfig) -> Engine:
    """The engine for ``config``, built by its backend's factory."""
    factory = BACKENDS.get(config.backend)
    if factory is None:
        raise ConfigError(
            f"engine {key!r}: unknown backend {config.backend!r}; "
            f"registered backends: {sorted(BACKENDS)}"
        )
    return factory(key, config)


def _vllm_inprocess(key: str, config: EngineConfig) -> Engine:
    from halo_core.backends.vllm_inprocess import VLLMEngine  # imports vLLM: only when used

    return VLLMEngine(config, key=key)


def _vllm_multiprocess(key: str, config: EngineConfig) -> Engine:
    from halo_core.backends.vllm_inprocess import VLLMEngine

    return VLLMEngine(config, key=key, multiprocess=True)


register("vllm", _vllm_inprocess)
register("vllm-mp", _vllm_multiprocess)
