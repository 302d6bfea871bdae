"""The runtime: the processor loop (submit → scheduler → dispatch → futures), instance
tracking and the tool pool."""

from halo_core.runtime.instances import current_instance, enter_instance, leave_instance
from halo_core.runtime.processor import Observer, Processor

__all__ = ["Observer", "Processor", "current_instance", "enter_instance", "leave_instance"]
