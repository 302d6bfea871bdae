"""Scheduling: when an epoch closes and what it sends, as a plain-data :class:`EpochPlan`."""

from halo_core.scheduler.base import EpochPlan, QueueState, Scheduler
from halo_core.scheduler.epoch import EpochScheduler

__all__ = ["EpochPlan", "EpochScheduler", "QueueState", "Scheduler"]
