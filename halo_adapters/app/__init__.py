"""The ``halo`` command (``run``, ``batch``) and its demo workflow: the application on top of the
core and the adapters. ``python -m halo_adapters.app`` is the same command as ``halo``."""
