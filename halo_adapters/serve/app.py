"""The ASGI app of ``halo serve``: LangGraph's stateless run API over one long-lived session.

Every run is a Halo instance of :class:`~halo_core.OnlineRuns`, so the calls of the runs in
flight coalesce. JSON in and out (no pickle anywhere); a bearer token (or the SDK's
``x-api-key``) when one is configured; a full queue answers 429 with ``Retry-After``; a client
that goes away cancels its run (unless it asked ``on_disconnect="continue"``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pydantic
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from halo_adapters.serve.config import ServeConfig
from halo_adapters.serve.metrics import ServeMetrics
from halo_adapters.serve.protocol import (
    AssistantSearch,
    RunCreate,
    assistant_record,
    new_id,
    now_iso,
    run_record,
)
from halo_adapters.serve.targets import Served
from halo_core import DeadlineExceeded, OnlineRuns, QueueFull, Session

log = logging.getLogger("halo.serve")

#: routes that answer without a token: liveness probes learn nothing else
OPEN_ROUTES = frozenset({"/ok", "/health"})


class HTTPProblem(Exception):
    """An answer other than 200, with a JSON ``detail`` (and headers, e.g. ``Retry-After``)."""

    def __init__(self, status: int, detail: Any, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}


def error_body(e: BaseException) -> dict[str, Any]:
    """A failed run's result, as LangGraph's server reports it (the SDK raises it)."""
    return {"__error__": {"error": type(e).__name__, "message": str(e)}}


class ServeApp:
    """The routes' shared state: the target, the session's online runs, background runs."""

    def __init__(self, served: Served, session: Session, config: ServeConfig):
        self.served, self.session, self.config = served, session, config
        live = config.live or session.config.live_width(1 << 30)
        self.runs = OnlineRuns(session, live=live, queued=config.queued)
        self.metrics = ServeMetrics(session, self.runs)
        self.started = now_iso()
        self.draining = False
        #: background runs of /runs/batch: run id → (thread id, record, task); finished
        #: ones are dropped oldest first beyond ``config.kept_runs``
        self.background: OrderedDict[str, tuple[str, dict[str, Any], asyncio.Task[Any]]] = (
            OrderedDict()
        )

    # ---- checks ------------------------------------------------------------------------------
    def authorized(self, request: Request) -> bool:
        token = self.config.token
        if token is None or request.url.path in OPEN_ROUTES:
            return True
        given = request.headers.get("x-api-key", "")
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            given = value.strip()
        return secrets.compare_digest(given.encode(), token.get_secret_value().encode())

    async def body(self, request: Request) -> Any:
        try:
            return json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise HTTPProblem(422, [{"loc": ["body"], "msg": f"not JSON: {e}"}]) from None

    def run_create(self, data: Any, where: tuple[str | int, ...] = ("body",)) -> RunCreate:
        """The run a body asks for, every problem with it a 422 (501 for what is not served).
        A team's run may also be its plain input, ``{"task": ...}``."""
        if self.served.kind == "team" and isinstance(data, dict) and "assistant_id" not in data:
            data = {"assistant_id": self.served.name, "input": data}
        try:
            run = RunCreate.model_validate(data)
        except pydantic.ValidationError as e:
            raise HTTPProblem(
                422, [{"loc": [*where, *err["loc"]], "msg": err["msg"]} for err in e.errors()]
            ) from None
        if run.assistant_id not in (self.served.assistant_id, self.served.name):
            raise HTTPProblem(
                404,
                f"assistant {run.assistant_id!r} is not served here; this server serves "
                f"{self.served.name!r} ({self.served.assistant_id})",
            )
        unserved = run.not_served()
        if unserved:
            raise HTTPProblem(
                501, f"halo serve runs stateless runs only; not served: {', '.join(unserved)}"
            )
        errors = self.served.input_errors(run.input)
        if errors:
            raise HTTPProblem(
                422, [{"loc": [*where, "input", *e.loc], "msg": e.msg} for e in errors]
            )
        return run

    # ---- running -----------------------------------------------------------------------------
    def start(self, fn: Callable[[Any], Awaitable[Any]], run: RunCreate) -> asyncio.Task[Any]:
        if self.draining:
            raise HTTPProblem(503, "the server is shutting down", {"Retry-After": "5"})
        try:
            task = self.runs.start(fn, run, deadline_s=self.config.deadline_s)
        except QueueFull as e:
            retry = str(round(e.retry_after_s))
            raise HTTPProblem(429, str(e), {"Retry-After": retry}) from None
        arrived = time.perf_counter()

        def observe(t: asyncio.Task[Any]) -> None:  # the latency of runs that answered
            if not t.cancelled() and t.exception() is None:
                self.metrics.run_latency.observe(time.perf_counter() - arrived)

        task.add_done_callback(observe)
        return task

    async def invoke(self, run: RunCreate) -> Any:
        return await self.served.run(run.input, _config(run), run.context)

    def keep(self, run_id: str, thread_id: str, record: dict[str, Any], task: Any) -> None:
        self.background[run_id] = (thread_id, record, task)
        excess = len(self.background) - self.config.kept_runs
        if excess > 0:  # drop the oldest finished runs (a run still going is kept)
            done = (k for k, (_, _, t) in self.background.items() if t.done())
            for k in list(itertools.islice(done, excess)):
                del self.background[k]


def _config(run: RunCreate) -> dict[str, Any]:
    config = dict(run.config or {})
    if run.metadata:
        config["metadata"] = {**config.get("metadata", {}), **run.metadata}
    return config


def _status(task: asyncio.Task[Any]) -> str:
    if not task.done():
        return "running"
    if task.cancelled():
        return "interrupted"
    e = task.exception()
    if e is None:
        return "success"
    return "timeout" if isinstance(e, DeadlineExceeded) else "error"


async def _disconnected(request: Request) -> None:
    """Return once the client has gone away (the body was read before)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class _Guard:
    """ASGI middleware (pure, so a handler still sees its client go away): the token check,
    and each request counted by route and status with its latency."""

    def __init__(self, app: Any, state: ServeApp):
        self.app, self.state = app, state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0, status = time.perf_counter(), 500

        async def sending(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if self.state.authorized(Request(scope)):
                await self.app(scope, receive, sending)
            else:
                denied = JSONResponse(
                    {"detail": "missing or wrong bearer token (Authorization: Bearer ...)"},
                    401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await denied(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.state.metrics.observe(route, status, time.perf_counter() - t0)


def create_app(served: Served, session: Session, config: ServeConfig) -> FastAPI:
    """The app serving ``served`` on ``session`` (which the caller opened, binds and closes)."""
    state = ServeApp(served, session, config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        state.draining = True  # uvicorn stopped accepting connections: finish what we have
        if not await state.runs.drain(config.drain_s):
            c = state.runs.counts
            log.warning(
                "shutdown: %d runs unfinished after %.0f s", c.live + c.waiting, config.drain_s
            )

    app = FastAPI(title="halo serve", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.halo = state

    app.add_middleware(_Guard, state=state)

    @app.exception_handler(HTTPProblem)
    async def problem(request: Request, e: HTTPProblem) -> JSONResponse:
        return JSONResponse({"detail": e.detail}, e.status, headers=e.headers)

    @app.get("/ok")
    async def ok() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/health")
    async def health() -> JSONResponse:
        c = state.runs.counts
        body = {
            "status": "draining" if state.draining else "ok",
            "live": c.live,
            "waiting": c.waiting,
            "engines": sorted(session.engines),
        }
        return JSONResponse(body, 503 if state.draining else 200)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(state.metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/info")
    async def info() -> dict[str, Any]:
        return {"version": "halo serve", "flags": {"assistants": True, "crons": False}}

    @app.post("/assistants/search")
    async def assistants_search(request: Request) -> list[dict[str, Any]]:
        try:
            q = AssistantSearch.model_validate(await state.body(request))
        except pydantic.ValidationError as e:
            raise HTTPProblem(422, e.errors(include_url=False)) from None
        record = assistant_record(served.assistant_id, served.name, state.started)
        hit = q.graph_id in (None, served.name) and q.name in (None, served.name)
        hit = hit and all(record["metadata"].get(k) == v for k, v in (q.metadata or {}).items())
        return [record][q.offset : q.offset + q.limit] if hit else []

    @app.get("/assistants/{assistant_id}")
    async def assistant(assistant_id: str) -> dict[str, Any]:
        if assistant_id not in (served.assistant_id, served.name):
            raise HTTPProblem(404, f"assistant {assistant_id!r} is not served here")
        return assistant_record(served.assistant_id, served.name, state.started)

    @app.post("/runs/wait")
    async def runs_wait(request: Request) -> Response:
        run = state.run_create(await state.body(request))
        task = state.start(state.invoke, run)
        gone = asyncio.ensure_future(_disconnected(request))
        try:
            await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if not task.done():  # the client went away
            if run.on_disconnect == "cancel":
                task.cancel()
            return Response(status_code=499)
        e = task.exception()
        if isinstance(e, DeadlineExceeded):
            return JSONResponse(error_body(e), 504)
        return JSONResponse(error_body(e) if e is not None else task.result())

    @app.post("/runs/stream")
    async def runs_stream(request: Request) -> StreamingResponse:
        run = state.run_create(await state.body(request))
        run_id = new_id()
        events: asyncio.Queue[tuple[str, Any] | None] = asyncio.Queue()

        async def produce(run: RunCreate) -> None:
            try:
                async for mode, chunk in served.stream(
                    run.input, _config(run), run.context, run.modes()
                ):
                    events.put_nowait((mode, chunk))
            finally:
                events.put_nowait(None)

        task = state.start(produce, run)
        task.add_done_callback(lambda t: events.put_nowait(None))  # failed before producing

        async def sse() -> AsyncIterator[bytes]:
            try:
                yield _sse("metadata", {"run_id": run_id, "attempt": 1})
                while (item := await events.get()) is not None:
                    yield _sse(*item)
                await asyncio.wait({task})
                if task.cancelled() or task.exception() is not None:
                    e = task.exception() if not task.cancelled() else asyncio.CancelledError()
                    yield _sse("error", error_body(e)["__error__"])
            finally:
                if not task.done() and run.on_disconnect == "cancel":
                    task.cancel()

        return StreamingResponse(
            sse(), media_type="text/event-stream", headers={"Content-Location": f"/runs/{run_id}"}
        )

    @app.post("/runs/batch")
    async def runs_batch(request: Request) -> list[dict[str, Any]]:
        data = await state.body(request)
        if not isinstance(data, list):
            raise HTTPProblem(422, [{"loc": ["body"], "msg": "a batch is a list of runs"}])
        runs = [state.run_create(item, ("body", i)) for i, item in enumerate(data)]
        try:
            state.runs.admit(len(runs))  # all or none
        except QueueFull as e:
            raise HTTPProblem(429, str(e), {"Retry-After": str(round(e.retry_after_s))}) from None
        out = []
        for run in runs:
            run_id, thread_id, created = new_id(), new_id(), now_iso()
            task = state.start(state.invoke, run)
            record = run_record(run, served.assistant_id, run_id, thread_id, "pending", created)
            state.keep(run_id, thread_id, record, task)
            out.append(record)
        return out

    def background(thread_id: str, run_id: str) -> tuple[dict[str, Any], asyncio.Task[Any]]:
        kept = state.background.get(run_id)
        if kept is None or kept[0] != thread_id:
            raise HTTPProblem(
                404,
                f"run {run_id!r} of thread {thread_id!r} is unknown here: halo serve keeps "
                "only the background runs of /runs/batch (the last "
                f"{config.kept_runs} finished)",
            )
        return kept[1], kept[2]

    @app.get("/threads/{thread_id}/runs/{run_id}")
    async def run_get(thread_id: str, run_id: str) -> dict[str, Any]:
        record, task = background(thread_id, run_id)
        return {**record, "status": _status(task), "updated_at": now_iso()}

    @app.get("/threads/{thread_id}/runs/{run_id}/join")
    async def run_join(thread_id: str, run_id: str) -> Any:
        _, task = background(thread_id, run_id)
        await asyncio.wait({task})
        if task.cancelled():
            return error_body(asyncio.CancelledError("the run was cancelled"))
        e = task.exception()
        return error_body(e) if e is not None else task.result()

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def unserved(path: str) -> JSONResponse:
        return JSONResponse(
            {
                "detail": f"/{path} is not served: halo serve runs stateless runs only "
                "(no threads, crons, store or interrupts); see the README's 'halo serve'"
            },
            404,
        )

    return app
