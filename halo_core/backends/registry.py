"""Engine backends by name: ``EngineConfig.backend`` picks the factory that builds its engines.

A factory gets every engine of a session that names its backend at once (engine key → config),
so a backend that holds several models together (an engine host per device) can build them
together; it returns the engines by the same keys. A backend registers the model of its own
settings too (``EngineConfig.backend_settings`` is checked against it before any engine is
built), so a remote backend carries its own (an address, replicas) without widening
``EngineConfig``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, ValidationError

from halo_core.backends.base import Engine
from halo_core.backends.host.settings import HostSettings
from halo_core.backends.ray.settings import RaySettings
from halo_core.config import EngineConfig
from halo_core.errors import ConfigError

#: Builds the engines of one backend: ``factory({key: config}) -> {key: engine}``.
EngineFactory = Callable[[dict[str, EngineConfig]], dict[str, Engine]]


class NoSettings(BaseModel):
    """A backend without settings of its own."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Backend:
    factory: EngineFactory
    settings: type[BaseModel]


BACKENDS: dict[str, Backend] = {}


def register(name: str, factory: EngineFactory, settings: type[BaseModel] = NoSettings) -> None:
    """Make ``EngineConfig(backend=name)`` build its engines with ``factory``, its
    ``backend_settings`` checked against ``settings``."""
    BACKENDS[name] = Backend(factory, settings)


def settings_of(key: str, cfg: EngineConfig) -> BaseModel:
    """``cfg.backend_settings`` as its backend's settings model; a bad one is a
    :class:`ConfigError` naming the engine and the field."""
    backend = BACKENDS.get(cfg.backend)
    if backend is None:
        raise ConfigError(
            f"engine {key!r}: unknown backend {cfg.backend!r}; "
            f"registered backends: {sorted(BACKENDS)}"
        )
    try:
        return backend.settings.model_validate(cfg.backend_settings)
    except ValidationError as e:
        raise ConfigError(f"engine {key!r}: backend_settings for {cfg.backend!r}: {e}") from None


def one_by_one(make: Callable[[str, EngineConfig], Engine]) -> EngineFactory:
    """A factory building each engine on its own with ``make(key, config)``; if one fails, the
    ones already built are shut down."""

    def factory(configs: dict[str, EngineConfig]) -> dict[str, Engine]:
        built: dict[str, Engine] = {}
        try:
            for key, cfg in configs.items():
                built[key] = make(key, cfg)
        except BaseException:
            for engine in built.values():
                engine.shutdown()
            raise
        return built

    return factory


def make_engines(configs: dict[str, EngineConfig]) -> dict[str, Engine]:
    """Every engine of ``configs``, each built by its backend's factory, in the given order."""
    groups: dict[str, dict[str, EngineConfig]] = {}
    for key, cfg in configs.items():
        settings_of(key, cfg)
        groups.setdefault(cfg.backend, {})[key] = cfg
    built: dict[str, Engine] = {}
    try:
        for name, group in groups.items():
            built.update(BACKENDS[name].factory(group))
    except BaseException:
        for engine in built.values():
            engine.shutdown()
        raise
    return {key: built[key] for key in configs}


def _vllm_inprocess(key: str, config: EngineConfig) -> Engine:
    from halo_core.backends.vllm_inprocess import VLLMEngine  # imports vLLM: only when used

    return VLLMEngine(config, key=key)


def _vllm_multiprocess(key: str, config: EngineConfig) -> Engine:
    from halo_core.backends.vllm_inprocess import VLLMEngine

    return VLLMEngine(config, key=key, multiprocess=True)


def _vllm_host(configs: dict[str, EngineConfig]) -> dict[str, Engine]:
    from halo_core.backends.host.client import EngineHost

    return dict(EngineHost(configs).engines)


def _ray(configs: dict[str, EngineConfig]) -> dict[str, Engine]:
    try:
        from halo_core.backends.ray.engine import start
    except ImportError as e:
        raise ConfigError(f"backend 'ray' needs Ray: pip install 'halo-batch[ray]' ({e})") from None
    return start(configs)


register("vllm", one_by_one(_vllm_inprocess))
register("vllm-mp", one_by_one(_vllm_multiprocess))
register("vllm-host", _vllm_host, HostSettings)
register("ray", _ray, RaySettings)
