"""A replica: an engine host as a Ray actor.

The actor builds its engines (vLLM engine cores, stepped by the engine host's loop on a thread
of its own) and listens on a TCP port of its node; every client (the session that started it,
the shards of a batch) reaches it over one channel of the engine host's plain data, opened with
the replica's key (``multiprocessing.connection``'s HMAC challenge; nothing on it is ever
unpickled). Ray only starts, places, restarts and stops the actor: no call crosses Ray's own
(pickled) method calls.
"""

from __future__ import annotations

import logging
import os
import threading
from multiprocessing import AuthenticationError
from multiprocessing.connection import Listener

from halo_core.backends.host import wire
from halo_core.backends.host.hosted import HostedEngine
from halo_core.backends.host.loop import HostLoop
from halo_core.config import EngineConfig

log = logging.getLogger("halo.host")


class EngineReplica:
    """The actor (see the module doc): ``engines`` maps engine key → its config as JSON."""

    def __init__(self, engines: dict[str, str], turns: str, shared: int, key: bytes):
        if os.environ.get("VLLM_ALLOW_INSECURE_SERIALIZATION"):
            raise RuntimeError("a replica refuses VLLM_ALLOW_INSECURE_SERIALIZATION (pickle)")
        self.engines = {
            k: HostedEngine(k, EngineConfig.model_validate_json(c), shared)
            for k, c in engines.items()
        }
        self.loop = HostLoop(self.engines, turns)
        self._key = key
        self._listener = Listener(("0.0.0.0", 0), authkey=key)
        threading.Thread(target=self._accept, name="halo-replica-accept", daemon=True).start()
        threading.Thread(target=self._run, name="halo-replica-loop", daemon=True).start()

    def connect_info(self) -> tuple[str, int, bytes]:
        """Where to reach this replica, and its key."""
        import ray

        return ray.util.get_node_ip_address(), self._listener.address[1], self._key

    def pid(self) -> int:
        return os.getpid()

    def _accept(self) -> None:
        while True:
            try:
                conn = self._listener.accept()
            except (AuthenticationError, EOFError, ConnectionError) as e:
                log.warning("replica refused a connection: %s", e)
                continue
            self.loop.attach(wire.Channel(conn, wire.ToHost))

    def _run(self) -> None:
        try:
            self.loop.run()
        except BaseException:
            log.exception("replica loop failed")
        os._exit(1)  # the actor dies with its loop: Ray restarts it or reports it dead
