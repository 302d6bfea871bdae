"""``halo serve``: a LangGraph graph or an AutoGen team behind LangGraph's HTTP run API, every
run a Halo instance of one long-lived session, so the runs in flight coalesce.

>>> from halo_adapters.serve import ServeConfig, serve                       # doctest: +SKIP
>>> serve(graph, session, ServeConfig(port=2024))                           # doctest: +SKIP

An unchanged ``langgraph_sdk`` client then talks to it:
``await get_client(url="http://127.0.0.1:2024").runs.wait(None, "graph", input={...})``.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import uvicorn

from halo_adapters.binding import bind
from halo_adapters.serve.app import create_app
from halo_adapters.serve.config import TOKEN_ENV, ServeConfig
from halo_adapters.serve.targets import Served, ServedGraph, ServedTeam
from halo_core import ConfigError, Session

__all__ = [
    "TOKEN_ENV",
    "ServeConfig",
    "Served",
    "create_app",
    "serve",
    "served",
    "serving",
]


def served(target: Any, name: str) -> Served:
    """A compiled graph or a zero-argument team factory (what ``halo batch`` takes) as the
    served assistant ``name``."""
    from halo_adapters.rows import _is_graph

    if _is_graph(target):
        return ServedGraph(target, name)
    if callable(target):
        return ServedTeam(target, name)
    raise ConfigError(f"{name!r}: serve a compiled LangGraph graph or a zero-argument team factory")


def _server(
    target: Any,
    session: Session,
    config: ServeConfig,
    name: str,
    on_ready: Callable[[str], None] | None,
) -> _Server:  # the app on uvicorn, not started
    app = create_app(served(target, name), session, config)
    uv = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_level="warning",
        timeout_graceful_shutdown=int(config.drain_s) or None,
        lifespan="on",
    )
    return _Server(uv, on_ready)


def serve(
    target: Any,
    session: Session,
    config: ServeConfig,
    *,
    name: str = "graph",
    models: Mapping[str, str] | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve ``target`` on ``session`` until SIGTERM / SIGINT (then drain accepted runs, at most
    ``config.drain_s``); ``on_ready(url)`` once listening. Every framework call goes through
    ``session``: ``models`` maps the framework's model ids to its engines (default: every model
    to its default engine), as :func:`halo_adapters.bind`."""
    with bind(session, models):
        _server(target, session, config, name, on_ready).run()


@contextlib.contextmanager
def serving(
    target: Any,
    session: Session,
    config: ServeConfig,
    *,
    name: str = "graph",
    models: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """:func:`serve` on a background thread (a notebook, a test): yields the server's URL once
    it listens; leaving the block stops it as SIGTERM would (accepted runs drain)."""
    ready: queue.Queue[str] = queue.Queue()
    with bind(session, models):
        server = _server(target, session, config, name, ready.put)
        thread = threading.Thread(target=server.run, name="halo-serve", daemon=True)
        thread.start()
        try:
            while thread.is_alive():
                try:
                    url = ready.get(timeout=0.1)
                    break
                except queue.Empty:
                    continue
            else:
                raise RuntimeError(f"halo serve did not start on {config.host}:{config.port}")
            yield url
        finally:
            server.should_exit = True
            thread.join()


class _Server(uvicorn.Server):
    """uvicorn's server, telling ``on_ready`` the URL it listens on (its port when 0 asked for
    any free one)."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[str], None] | None):
        super().__init__(config)
        self.on_ready = on_ready

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            # drained: return (the session closes, the command exits 0) instead of uvicorn
            # raising the captured SIGTERM again, which kills the process before it cleans up
            self._captured_signals.clear()

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.started and self.on_ready is not None:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            self.on_ready(f"http://{host}:{port}")
