"""The engine host's loop: one process per device holding all of that device's engines.

Run as ``python -m halo_core.backends.host.loop FD`` by :class:`~halo_core.backends.host.client.
EngineHost`, on the connection ``FD``. The loop drains the channel between steps (so requests
that arrive together are scheduled together), then steps one engine: the device's turn policy
(:func:`~halo_core.scheduler.turns.next_turn`) says which, so several models on one device take
turns instead of thrashing. After each step it sends what the step did (:class:`~wire.Stepped`).
It blocks on the channel when no engine has work, and exits when the channel closes.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from multiprocessing.connection import Connection
from typing import cast

from halo_core.backends.host import wire
from halo_core.backends.host.hosted import HostedEngine
from halo_core.config import EngineConfig
from halo_core.scheduler.turns import TurnPolicy, next_turn

log = logging.getLogger("halo.host")

#: How long the loop waits for a message after a step that ran nothing (its requests wait on
#: something else, e.g. grammar compilation), instead of spinning.
IDLE_STEP_WAIT_S = 0.001


class HostLoop:
    """Steps its engines in turns and answers the channel (see the module doc)."""

    def __init__(self, channel: wire.Channel, engines: dict[str, HostedEngine], turns: str):
        self.channel = channel
        self.engines = engines
        self.policy = cast(TurnPolicy, turns)
        self._holder: str | None = None
        self._held = 0
        self._asked: dict[str, None] = {}  # engines with work, in the order they got it
        self._running = True

    def run(self) -> None:
        idle_step = False  # the last step ran nothing (its requests wait, e.g. for a grammar)
        while self._running:
            busy = [k for k, e in self.engines.items() if e.busy]
            for key in busy:
                self._asked.setdefault(key)
            try:
                self._drain(block=not busy, wait_s=IDLE_STEP_WAIT_S if idle_step else 0.0)
            except EOFError:
                return
            if not self._running:
                return
            turn = self._next_turn()
            if turn is None:
                continue
            report = self.engines[turn].step()
            idle_step = not (report.prefill_tokens or report.decode_seqs or report.finished)
            if not idle_step or report.first:
                self.channel.send(report)

    def _next_turn(self) -> str | None:
        busy = {k for k, e in self.engines.items() if e.busy}
        self._asked = {k: None for k in self._asked if k in busy}
        holder = self._holder
        waiting = [(k, len(self.engines[k].live)) for k in self._asked if k != holder]
        nxt = next_turn(self.policy, holder, holder in busy, self._held, waiting)
        self._held = self._held + 1 if nxt == holder else 1
        self._holder = nxt
        return nxt

    def _drain(self, block: bool, wait_s: float = 0.0) -> None:
        """Handle every message waiting (at least one when ``block``; the first may take up
        to ``wait_s`` to come)."""
        while self._running and (block or self.channel.poll(wait_s)):
            block, wait_s = False, 0.0
            self._handle(self.channel.recv())

    def _handle(self, msg: object) -> None:
        if isinstance(msg, wire.Submit):
            failed = self.engines[msg.engine].add(msg.requests)
            if failed:
                self.channel.send(wire.Stepped(msg.engine, 0.0, 0, 0, 0, [], [], failed))
        elif isinstance(msg, wire.Abort):
            self.engines[msg.engine].abort(msg.request_ids)
        elif isinstance(msg, wire.ResetPrefixCache):
            self.engines[msg.engine].reset_prefix_cache()
            self.channel.send(wire.Done(msg.engine))
        elif isinstance(msg, wire.SetTurns):
            self.policy = cast(TurnPolicy, msg.policy)
        elif isinstance(msg, wire.Stop):
            self._running = False


def serve(conn: Connection) -> None:
    """Build the engines the first message names, say so, and run the loop until told to stop
    or the channel closes. A failure to build is reported (:class:`~wire.Fatal`) before exit."""
    if os.environ.get("VLLM_ALLOW_INSECURE_SERIALIZATION"):
        raise SystemExit("the engine host refuses VLLM_ALLOW_INSECURE_SERIALIZATION (pickle)")
    channel = wire.Channel(conn, wire.ToHost)
    start = channel.recv()
    assert isinstance(start, wire.Start), start
    engines: dict[str, HostedEngine] = {}
    try:  # the engines go with the process: exiting frees them
        for key, cfg in start.engines.items():
            try:
                engines[key] = HostedEngine(key, EngineConfig.model_validate_json(cfg))
            except Exception as e:
                channel.send(wire.Fatal(f"{type(e).__name__}: {e}", key))
                log.debug("engine %r failed to build:\n%s", key, traceback.format_exc())
                return
        channel.send(wire.Ready({k: e.facts for k, e in engines.items()}))
        try:
            HostLoop(channel, engines, start.turns).run()
        except Exception as e:
            channel.send(wire.Fatal(f"{type(e).__name__}: {e}"))
            raise
    finally:
        channel.close()


def main() -> int:
    try:
        serve(Connection(int(sys.argv[1])))
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # the engines go with the process, without the interpreter's teardown
