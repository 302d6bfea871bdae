"""Schedulers by name: ``SessionConfig.scheduler`` picks the one a session's runtime asks. A new
scheduler (placement across replicas, say) is one module that registers itself here."""

from __future__ import annotations

from collections.abc import Callable

from halo_core.config import OptimizerConfig, SessionConfig
from halo_core.errors import ConfigError
from halo_core.scheduler import adaptive  # noqa: F401  (registers the "adaptive" closing)
from halo_core.scheduler.base import Scheduler, SchedulerContext
from halo_core.scheduler.closing import closing
from halo_core.scheduler.epoch import EpochScheduler

SchedulerFactory = Callable[[SchedulerContext], Scheduler]

SCHEDULERS: dict[str, SchedulerFactory] = {}


def register_scheduler(name: str, factory: SchedulerFactory) -> None:
    """Make ``SessionConfig(scheduler=name)`` schedule with ``factory(context)``."""
    SCHEDULERS[name] = factory


def check_scheduling(config: SessionConfig, optimizer: OptimizerConfig | None = None) -> None:
    """Fail fast, with what to change, on a scheduler or closing decision nobody registered."""
    if config.scheduler not in SCHEDULERS:
        raise ConfigError(
            f"SessionConfig(scheduler={config.scheduler!r}) is not a registered scheduler; "
            f"registered: {sorted(SCHEDULERS)}"
        )
    closing((optimizer or config.optimizer).epoch_closing)


def make_scheduler(ctx: SchedulerContext) -> Scheduler:
    """The scheduler ``ctx.config.scheduler`` names, built from ``ctx``."""
    check_scheduling(ctx.config)
    return SCHEDULERS[ctx.config.scheduler](ctx)


register_scheduler("epoch", EpochScheduler)
