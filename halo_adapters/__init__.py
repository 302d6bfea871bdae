"""Framework adapters (LangGraph, AutoGen): the only place that imports an agent framework.

``with halo_adapters.bind(session, models=...):`` routes every framework call in the block
through the session (see :mod:`halo_adapters.binding`); importing this package imports no
framework.
"""

from halo_adapters.binding import Binding, UnmappedModelError, bind

__all__ = ["Binding", "UnmappedModelError", "bind"]
