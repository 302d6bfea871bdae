"""What framework adapters use to route calls into a session (the service-provider interface):
the instance a call belongs to and how it becomes current, the request parameters a chat call
may carry, a run's records. User code does not need these; see :mod:`halo_core` for that."""

from halo_core.calls import SAMPLING_KEYS, InstanceRef
from halo_core.graph import records_of
from halo_core.runtime import current_instance, enter_instance, leave_instance

__all__ = [
    "SAMPLING_KEYS",
    "InstanceRef",
    "current_instance",
    "enter_instance",
    "leave_instance",
    "records_of",
]
