"""Workflow instances: which one the calling code runs as, and which are live and waiting."""

from __future__ import annotations

import contextvars
from collections import Counter

from halo_core.calls import InstanceRef

_current: contextvars.ContextVar[InstanceRef | None] = contextvars.ContextVar(
    "halo_instance", default=None
)


def current_instance() -> InstanceRef | None:
    """The workflow instance the calling code runs as (``None`` outside ``Session.run``)."""
    return _current.get()


def enter_instance(inst: InstanceRef | None) -> contextvars.Token[InstanceRef | None]:
    """Make ``inst`` the current instance of this context (adapters that copy contexts)."""
    return _current.set(inst)


def leave_instance(token: contextvars.Token[InstanceRef | None]) -> None:
    """Undo :func:`enter_instance`."""
    _current.reset(token)


class InstanceTracker:
    """Live instances and how many of them wait on Halo (a call or a tool in flight): what the
    scheduler's "every live instance is waiting" rule reads. Loop-thread state."""

    def __init__(self) -> None:
        self.live: set[int] = set()
        self.blocked = 0
        self._outstanding: Counter[int] = Counter()

    def set_live(self, uid: int, live: bool) -> None:
        """An instance started (``live``; again: no change) or ended."""
        if live and uid in self.live:
            return
        if live:
            self.live.add(uid)
            self.blocked += self._outstanding[uid] > 0
        elif uid in self.live:
            self.live.discard(uid)
            self.blocked -= self._outstanding[uid] > 0

    def outstanding(self, uid: int) -> int:
        """Calls instance ``uid`` has outstanding on Halo."""
        return self._outstanding.get(uid, 0)

    def wait(self, uid: int | None, delta: int) -> None:
        """Instance ``uid`` has ``delta`` more (or fewer) calls outstanding on Halo."""
        if uid is None:
            return
        before = self._outstanding[uid]
        self._outstanding[uid] += delta
        if uid in self.live and (before == 0) != (self._outstanding[uid] == 0):
            self.blocked += 1 if delta > 0 else -1
        if self._outstanding[uid] == 0:
            del self._outstanding[uid]
