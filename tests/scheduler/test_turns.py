"""Engine time-sharing (halo_core.scheduler.turns): the turn policy on plain data, then the
thread-side bookkeeping driven from one thread."""

from __future__ import annotations

import threading

from halo_core.scheduler.turns import DeviceTurns, next_turn


def test_step_policy_alternates_in_asking_order() -> None:
    waiting = [("b", 1), ("c", 9)]
    assert next_turn("step", "a", True, 1, waiting) == "b"  # not the busiest: the first to ask
    assert next_turn("step", "a", True, 5, []) == "a"  # nobody waits: keep stepping
    assert next_turn("step", "a", False, 1, []) is None  # done and nobody waits: device idle


def test_drain_policy_keeps_the_device_while_busy_up_to_max_hold() -> None:
    waiting = [("b", 1), ("c", 9)]
    assert next_turn("drain", "a", True, 3, waiting, max_hold=4) == "a"
    assert next_turn("drain", "a", True, 4, waiting, max_hold=4) == "c"  # most requests first
    assert next_turn("drain", "a", False, 1, waiting, max_hold=4) == "c"  # drained: hand over
    assert next_turn("drain", "a", False, 1, [("b", 2), ("c", 2)]) == "b"  # tie: asking order
    assert next_turn("drain", None, False, 0, [("b", 2)]) == "b"


def test_device_turns_hand_over_and_count_switches() -> None:
    turns = DeviceTurns("drain", max_hold=2)
    turns.acquire("a", 3)  # free device: at once
    got: list[str] = []
    waiter = threading.Thread(target=lambda: (turns.acquire("b", 5), got.append("b")))
    waiter.start()
    while "b" not in turns._waiting:  # b asked
        threading.Event().wait(0.001)
    turns.release("a", busy=True)  # first step of a's hold: a keeps it
    turns.acquire("a", 3)  # immediate: a holds
    assert not got
    turns.release("a", busy=True)  # max_hold reached: b goes
    waiter.join(timeout=5)
    assert got == ["b"] and turns.switches == 1
    turns.leave("b")  # b stops while holding: the device is free again
    turns.acquire("a", 1)
    turns.release("a", busy=False)
    assert turns.switches == 2


def test_a_holder_that_goes_idle_hands_the_device_on() -> None:
    turns = DeviceTurns("step")
    turns.acquire("a", 1)
    turns.release("a", busy=True)  # nobody waits: a keeps the device
    got: list[str] = []
    waiter = threading.Thread(target=lambda: (turns.acquire("b", 1), got.append("b")))
    waiter.start()
    while "b" not in turns._waiting:
        threading.Event().wait(0.001)
    turns.release("a", busy=False)  # a's requests were aborted: idle, it lets b go
    waiter.join(timeout=5)
    assert got == ["b"]
