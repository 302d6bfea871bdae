"""Scheduling: when an epoch closes and what it sends, as a plain-data :class:`EpochPlan`."""

from halo_core.scheduler.base import EpochPlan, QueueState, Scheduler, SchedulerContext
from halo_core.scheduler.epoch import EpochScheduler
from halo_core.scheduler.registry import SCHEDULERS, register_scheduler

__all__ = [
    "SCHEDULERS",
    "EpochPlan",
    "EpochScheduler",
    "QueueState",
    "Scheduler",
    "SchedulerContext",
    "register_scheduler",
]
