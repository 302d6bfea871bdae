"""Engine time-sharing: which in-process engine steps next on the device they share.

vLLM keeps a model step's forward context in a module global, and on a CPU every engine steps
on the same cores, so Halo's in-process engines never step at once. Two policies decide whose
turn it is (:func:`next_turn`, plain data; :class:`DeviceTurns` applies it across the engines'
threads):

- ``"step"``: one step each, in the order the engines asked (every model advances together);
- ``"drain"``: the research system's model lock: the engine holding the device keeps it while it
  has requests, up to ``max_hold`` steps when others wait; then the waiting engine with the most
  requests goes next (fewest switches, largest batches first).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Literal

TurnPolicy = Literal["step", "drain"]

#: Steps an engine may keep the device under ``"drain"`` while another engine waits.
MAX_HOLD_STEPS = 32


def next_turn(
    policy: TurnPolicy,
    holder: str | None,
    holder_busy: bool,
    held: int,
    waiting: Sequence[tuple[str, int]],
    max_hold: int = MAX_HOLD_STEPS,
) -> str | None:
    """The engine that steps next, or None (device idle).

    ``holder`` just finished its ``held``-th step in a row and still has requests if
    ``holder_busy``; ``waiting`` lists the other engines that want a step, in the order they asked,
    with their unfinished requests.
    """
    keep = not waiting or (policy == "drain" and held < max_hold)
    if holder is not None and holder_busy and keep:
        return holder
    if not waiting:
        return None
    if policy == "step":
        return waiting[0][0]
    return max(waiting, key=lambda w: w[1])[0]  # the first of the largest, in asking order


class DeviceTurns:
    """The device's turns across engine threads: :meth:`acquire` before a step, :meth:`release`
    after it. ``policy`` may change at any time (it applies from the next release)."""

    def __init__(self, policy: TurnPolicy = "step", max_hold: int = MAX_HOLD_STEPS):
        self.policy: TurnPolicy = policy
        self.max_hold = max_hold
        self.switches = 0  # how often the device went from one engine to another
        self._cv = threading.Condition()
        self._holder: str | None = None
        self._last: str | None = None  # the latest engine that held the device
        self._held = 0
        self._waiting: dict[str, int] = {}  # engine → its unfinished requests, in asking order

    def acquire(self, engine: str, requests: int) -> None:
        """Block until ``engine`` (with ``requests`` unfinished) may step."""
        with self._cv:
            if self._holder is None and not self._waiting:
                self._give(engine)
            if self._holder == engine:
                return
            self._waiting[engine] = requests
            self._cv.wait_for(lambda: self._holder == engine)

    def release(self, engine: str, busy: bool) -> None:
        """``engine`` finished a step (``busy``: it still has requests): pass the turn on."""
        with self._cv:
            if self._holder != engine:
                return
            self._held += 1
            waiting = list(self._waiting.items())
            nxt = next_turn(self.policy, engine, busy, self._held, waiting, self.max_hold)
            if nxt != engine:
                self._give(nxt)

    def leave(self, engine: str) -> None:
        """``engine`` stops (shut down or failed): it neither holds nor waits any more."""
        with self._cv:
            self._waiting.pop(engine, None)
            if self._holder == engine:
                waiting = list(self._waiting.items())
                self._give(next_turn(self.policy, None, False, 0, waiting, self.max_hold))

    def _give(self, engine: str | None) -> None:
        self._holder, self._held = engine, 0
        if engine is not None:
            self.switches += self._last is not None and engine != self._last
            self._last = engine
            self._waiting.pop(engine, None)
        self._cv.notify_all()


#: The turns of this process's in-process engines (they share one device: this machine's cores).
DEVICE = DeviceTurns()
