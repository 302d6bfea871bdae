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
import threading
import traceback
from multiprocessing import Pipe
from multiprocessing.connection import Connection, wait
from typing import cast

import msgspec

from halo_core.backends.host import wire
from halo_core.backends.host.hosted import HostedEngine
from halo_core.config import EngineConfig
from halo_core.scheduler.turns import TurnPolicy, next_turn

log = logging.getLogger("halo.host")

#: How long the loop waits for a message after a step that ran nothing (its requests wait on
#: something else, e.g. grammar compilation), instead of spinning.
IDLE_STEP_WAIT_S = 0.001


class HostLoop:
    """Steps its engines in turns and answers its channels (see the module doc).

    One channel (the session's, over a socket pair) by default: the loop ends when it closes or
    says :class:`~wire.Stop`. A shared host (a Ray replica) takes more channels while it runs
    (:meth:`attach`, from another thread): each one gets :class:`~wire.Ready` first, the reports
    of its own requests, and every step's shape; one that closes has its requests aborted.
    """

    def __init__(
        self,
        engines: dict[str, HostedEngine],
        turns: str,
        channel: wire.Channel | None = None,
    ):
        self.engines = engines
        self.policy = cast(TurnPolicy, turns)
        self.shared = channel is None
        self.channels: dict[Connection, wire.Channel] = {}
        self.owner: dict[str, wire.Channel] = {}  # shared: request id → the channel it came on
        self._holder: str | None = None
        self._held = 0
        self._asked: dict[str, None] = {}  # engines with work, in the order they got it
        self._running = True
        self._wake_r, self._wake_w = Pipe(duplex=False)
        self._arrived: list[wire.Channel] = []
        self._lock = threading.Lock()
        if channel is not None:
            self.channels[channel.conn] = channel

    def attach(self, channel: wire.Channel) -> None:
        """Serve one more client (any thread); it is told :class:`~wire.Ready` first."""
        with self._lock:
            self._arrived.append(channel)
        self._wake_w.send_bytes(b"")

    def stop(self) -> None:
        """End :meth:`run` (any thread)."""
        self._running = False
        self._wake_w.send_bytes(b"")

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
                self._report(report, shape=True)

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
        timeout: float | None = None if block else wait_s
        while self._running:
            ready = wait([*self.channels, self._wake_r], timeout)
            if not ready:
                return
            timeout = 0.0
            for conn in ready:
                if conn is self._wake_r:
                    self._wake_r.recv_bytes()
                    self._welcome()
                    continue
                channel = self.channels.get(cast(Connection, conn))
                if channel is None:
                    continue
                try:
                    msg = channel.recv()
                except (EOFError, OSError):
                    self._drop(channel)
                    continue
                self._handle(msg, channel)

    def _welcome(self) -> None:
        with self._lock:
            arrived, self._arrived = self._arrived, []
        ready = wire.Ready({k: e.facts for k, e in self.engines.items()})
        for channel in arrived:
            try:
                channel.send(ready)
            except OSError:
                continue
            self.channels[channel.conn] = channel

    def _drop(self, channel: wire.Channel) -> None:
        """A client went away: without it the host stops (a session's own host), or its
        requests are aborted (a shared host)."""
        del self.channels[channel.conn]
        channel.close()
        if not self.shared:
            raise EOFError
        mine = [rid for rid, ch in self.owner.items() if ch is channel]
        for engine in self.engines.values():
            engine.abort([rid for rid in mine if rid in engine.runs])
        for rid in mine:
            del self.owner[rid]

    def _report(self, report: wire.Stepped, shape: bool) -> None:
        """Send each channel the part of ``report`` about its requests (and, with ``shape``,
        the step's shape to every channel)."""
        if not self.shared:  # one channel: every report is its own
            for channel in self.channels.values():
                self._send(channel, report)
            return
        parts: dict[wire.Channel, wire.Stepped] = {}

        def part(rid: str) -> wire.Stepped | None:
            channel = self.owner.get(rid)
            if channel is None:
                return None
            if channel not in parts:
                parts[channel] = wire.Stepped(report.engine, 0.0, 0, 0, 0, [], [], [])
            return parts[channel]

        for rid in report.first:
            if (p := part(rid)) is not None:
                p.first.append(rid)
        for f in report.finished:
            if (p := part(f.request_id)) is not None:
                p.finished.append(f)
                del self.owner[f.request_id]
        for failure in report.failed:
            if (p := part(failure.request_id)) is not None:
                p.failed.append(failure)
                del self.owner[failure.request_id]
        for channel in list(self.channels.values()):
            mine = parts.get(channel)
            if shape:
                mine = msgspec.structs.replace(
                    report,
                    first=mine.first if mine else [],
                    finished=mine.finished if mine else [],
                    failed=mine.failed if mine else [],
                )
            if mine is not None:
                self._send(channel, mine)

    def _send(self, channel: wire.Channel, message: msgspec.Struct) -> None:
        try:
            channel.send(message)
        except OSError:  # its reader sees it closed and drops it
            log.debug("host channel closed while sending", exc_info=True)

    def _handle(self, msg: object, channel: wire.Channel) -> None:
        if isinstance(msg, wire.Submit):
            if self.shared:
                for request in msg.requests:
                    self.owner[request.request_id] = channel
            report = self.engines[msg.engine].add(msg.requests)
            if report is not None:
                self._report(report, shape=False)
        elif isinstance(msg, wire.Abort):
            self.engines[msg.engine].abort(msg.request_ids)
            for rid in msg.request_ids:
                self.owner.pop(rid, None)
        elif isinstance(msg, wire.ResetPrefixCache):
            self.engines[msg.engine].reset_prefix_cache()
            self._send(channel, wire.Done(msg.engine))
        elif isinstance(msg, wire.SetTurns):
            self.policy = cast(TurnPolicy, msg.policy)
        elif isinstance(msg, wire.Stop) and not self.shared:
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
                engines[key] = HostedEngine(
                    key, EngineConfig.model_validate_json(cfg), start.shared
                )
            except Exception as e:
                channel.send(wire.Fatal(f"{type(e).__name__}: {e}", key))
                log.debug("engine %r failed to build:\n%s", key, traceback.format_exc())
                return
        channel.send(wire.Ready({k: e.facts for k, e in engines.items()}))
        try:
            HostLoop(engines, start.turns, channel).run()
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
