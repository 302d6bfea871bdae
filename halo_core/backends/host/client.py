"""The Halo side of an engine host: the host process, its channel, and one
:class:`~halo_core.backends.base.Engine` per model it holds.

Each call is prepared here, once, by vLLM's own chat front end (:mod:`~halo_core.backends.
vllm_chat`) and input processor, into the ``EngineCoreRequest`` that crosses the channel
unchanged; one reader thread takes the host's step reports and turns finished requests into
:class:`~halo_core.calls.ChatResult` by ``vllm serve``'s parsers. Counters and step records come
from those reports. A host that dies is started again (up to ``max_restarts``) and the requests
it held are sent to the new one; greedy decoding gives them the same tokens.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Protocol

from halo_core.backends.base import EngineCounters, EngineRequest, PreparedChat
from halo_core.backends.host import wire
from halo_core.backends.host.settings import HostSettings
from halo_core.backends.vllm_chat import ChatFrontend, VLLMChatParams
from halo_core.backends.vllm_process import cpu_only, engine_args, engine_env, model_path
from halo_core.calls import ChatRequest, ChatResult
from halo_core.config import EngineConfig
from halo_core.env import scoped_env
from halo_core.errors import ConfigError, EngineDiedError
from halo_core.scheduler.cost_model import StepRecord, StepShape
from halo_core.scheduler.turns import TurnPolicy

log = logging.getLogger("halo.engine")

#: How many of its latest steps an engine keeps (:meth:`HostedEngineClient.step_records`).
STEP_RECORDS = 8192


def host_settings(configs: dict[str, EngineConfig]) -> HostSettings:
    """The settings every engine on the host gives (they are host-wide)."""
    given = {key: HostSettings.model_validate(c.backend_settings) for key, c in configs.items()}
    first = next(iter(given.values()))
    if any(s != first for s in given.values()):
        raise ConfigError(
            f"engines {sorted(given)} share one engine host but give different backend_settings "
            f"({ {k: s.model_dump() for k, s in given.items()} }): give them the same"
        )
    return first


def host_env(
    configs: dict[str, EngineConfig],
    settings: HostSettings,
    base: Mapping[str, str] = os.environ,
) -> dict[str, str]:
    """The host process's environment: ``base`` (this one's), vLLM's log level, and the CPU
    settings (measured on 2-core machines: engine cores on every core, OpenMP threads that
    sleep instead of spinning while the host waits, so the workflow's process keeps its core)."""
    env = dict(base)
    for cfg in configs.values():
        env.update(engine_env(cfg))
    env.pop("VLLM_CPU_KVCACHE_SPACE", None)  # each engine's own kv_cache_gib (engine args)
    env.pop("VLLM_ALLOW_INSECURE_SERIALIZATION", None)
    if cpu_only():
        env["OMP_WAIT_POLICY"] = settings.omp_wait_policy
        if settings.cpu_bind is not None:
            env["VLLM_CPU_OMP_THREADS_BIND"] = settings.cpu_bind
    return env


@dataclass
class _Pending:
    """A request in the host, with its callbacks."""

    core_request: Any  # vLLM EngineCoreRequest, built once
    params: VLLMChatParams
    on_first_token: Callable[[], None]
    on_done: Callable[[ChatResult | BaseException], None]
    started: bool = False


class HostLink(Protocol):
    """Where an engine host runs and how to reach it: :meth:`open` gives a channel whose first
    message is :class:`~wire.Ready` (or :class:`~wire.Fatal`); :meth:`close` lets it go."""

    def open(self, turns: TurnPolicy) -> wire.Channel: ...

    def exit_status(self) -> str: ...

    def close(self) -> None: ...


class ChildProcess:
    """The engine host as a child process of this one, over a socket pair (the default)."""

    def __init__(self, configs: dict[str, EngineConfig], models: dict[str, str]):
        self.configs = configs
        self.models = models
        self.settings = host_settings(configs)
        self._proc: subprocess.Popen[bytes] | None = None

    def open(self, turns: TurnPolicy) -> wire.Channel:
        ours, theirs = socket.socketpair()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "halo_core.backends.host.loop", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            env=host_env(self.configs, self.settings),
        )
        theirs.close()
        channel = wire.Channel(Connection(ours.detach()), wire.FromHost)
        engines = {  # the models as resolved here (prepared once, named by path)
            k: c.model_copy(update={"model": self.models[k]}).model_dump_json()
            for k, c in self.configs.items()
        }
        channel.send(wire.Start(engines, turns))
        return channel

    def exit_status(self) -> str:
        return f"exit code {self._proc.poll() if self._proc else None}"

    def close(self) -> None:
        if self._proc is None:
            return
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


class EngineHost:
    """One engine host and its channel (see the module doc).

    ``link`` says where the host runs (default: a child process); ``fronts`` share vLLM's
    front ends between hosts of the same models; ``on_lost``, when given, is told (reader
    thread, :attr:`gate` held) that the host went away, before it is reached again, and may take
    the requests it held (:meth:`HostedEngineClient.take_pending`) to run elsewhere.
    """

    def __init__(
        self,
        configs: dict[str, EngineConfig],
        link: HostLink | None = None,
        fronts: dict[str, _Front] | None = None,
        on_lost: Callable[[EngineHost], None] | None = None,
    ):
        self.models = {key: model_path(key, cfg) for key, cfg in configs.items()}
        self.configs = configs
        self.link = link if link is not None else ChildProcess(configs, self.models)
        self.on_lost = on_lost
        self.deaths = 0
        self.max_restarts = min(c.max_restarts for c in configs.values())
        self.engines: dict[str, HostedEngineClient] = {}
        self._turns: TurnPolicy = "step"
        self._closed = False
        self._dead: EngineDiedError | None = None
        #: Between its death and its restart (or its end).
        self.restarting = False
        self._done = threading.Event()
        #: Held while a request is registered and sent, and across a restart (so a request is
        #: sent to the new host once: by its submit or by the restart, never both).
        self.gate = threading.Lock()
        self._channel = self.link.open(self._turns)
        try:
            if fronts is None:  # built meanwhile
                fronts = {k: _Front(k, c, self.models[k]) for k, c in configs.items()}
            facts = self._ready()
        except BaseException:
            self._kill()
            raise
        for key, cfg in configs.items():
            self.engines[key] = HostedEngineClient(self, key, cfg, fronts[key], facts[key])
        self._reader = threading.Thread(target=self._read, name="halo-host-reader", daemon=True)
        self._reader.start()

    @property
    def dead(self) -> bool:
        """Gone for good (its restarts spent)."""
        return self._dead is not None

    # ---- process ----------------------------------------------------------------------------
    def _ready(self) -> dict[str, wire.Facts]:
        try:
            msg = self._channel.recv()
        except (EOFError, OSError):
            status = self.link.exit_status()
            msg = wire.Fatal(f"the engine host exited ({status}) before it was ready")
        if isinstance(msg, wire.Fatal):
            which = f"engine {msg.engine!r}" if msg.engine else "the engine host"
            raise ConfigError(
                f"{which} could not start: {msg.error}. Check the model path/id, dtype, "
                "max_model_len and kv_cache_gib."
            )
        assert isinstance(msg, wire.Ready), msg
        return msg.engines

    def _kill(self) -> None:
        self._channel.close()
        self.link.close()

    def send(self, message: Any) -> None:
        with self.gate:
            self.send_held(message)

    def send_held(self, message: Any) -> None:
        """Send with :attr:`gate` held; raises :class:`EngineDiedError` once the host is gone
        for good."""
        if self._dead is not None:
            raise self._dead
        try:
            self._channel.send(message)
        except OSError:  # the host died: the reader restarts it and sends what was pending
            log.debug("engine host unreachable", exc_info=True)

    # ---- reader thread ----------------------------------------------------------------------
    def _read(self) -> None:
        while True:
            try:
                msg = self._channel.recv()
            except (EOFError, OSError):
                msg = wire.Fatal(f"the engine host exited ({self.link.exit_status()})")
            if isinstance(msg, wire.Stepped):
                self.engines[msg.engine].stepped(msg)
            elif isinstance(msg, wire.Done):
                self._done.set()
            elif isinstance(msg, wire.Fatal):
                if self._closed:
                    return
                with self.gate:
                    if not self._restart(msg.error):
                        return

    def _restart(self, error: str) -> bool:
        """Start a new host after this one died and send it every request the old one held;
        False (and every request failed) once ``max_restarts`` is spent. :attr:`gate` held."""
        self.deaths += 1
        log.error("engine host died: %s", error)
        self._kill()
        self.restarting = True
        if self.on_lost is not None:
            self.on_lost(self)
        try:
            return self._reopen(error)
        finally:
            self.restarting = False

    def _reopen(self, error: str) -> bool:
        if self.deaths <= self.max_restarts:
            try:
                self._channel = self.link.open(self._turns)
                self._ready()
            except Exception as e:
                error = f"{type(e).__name__}: {e}"
                log.exception("engine host could not restart")
            else:
                log.warning("engine host restarted (%d of %d)", self.deaths, self.max_restarts)
                for engine in self.engines.values():
                    engine.resend()
                return True
        self._dead = EngineDiedError(", ".join(self.configs), self.deaths, RuntimeError(error))
        for engine in self.engines.values():
            engine.fail_all(self._dead)
        return False

    # ---- shared by the engines --------------------------------------------------------------
    def set_turns(self, policy: TurnPolicy) -> None:
        self._turns = policy
        self.send(wire.SetTurns(policy))

    def reset_prefix_cache(self, key: str) -> None:
        self._done.clear()
        self.send(wire.ResetPrefixCache(key))
        self._done.wait(timeout=60)

    def shutdown(self) -> None:
        """Stop the host; requests still running fail. Idempotent."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            self._channel.send(wire.Stop())
        self._kill()
        self._reader.join(timeout=10)
        for engine in self.engines.values():
            engine.fail_all(RuntimeError("the engine shut down before this request finished"))


class _Front:
    """vLLM's chat front end and input processor for one engine configuration, in this process."""

    def __init__(self, key: str, cfg: EngineConfig, model: str):
        from vllm.renderers import renderer_from_config
        from vllm.v1.engine.input_processor import InputProcessor

        self.model = model
        try:
            with scoped_env(engine_env(cfg)):
                vllm_config = engine_args(cfg, self.model).create_engine_config()
            renderer = renderer_from_config(vllm_config)
            self.chat = ChatFrontend(
                vllm_config,
                renderer,
                tool_call_parser=cfg.tool_call_parser,
                reasoning_parser=cfg.reasoning_parser,
            )
        except (TypeError, KeyError, ValueError, OSError) as e:
            raise ConfigError(
                f"engine {key!r}: cannot read model {cfg.model!r} or its parsers "
                f"(tool_call_parser={cfg.tool_call_parser!r}, reasoning_parser="
                f"{cfg.reasoning_parser!r}): {type(e).__name__}: {e}"
            ) from e
        self.inputs = InputProcessor(vllm_config, renderer)


class HostedEngineClient:
    """One model in an engine host (see :class:`~halo_core.backends.base.Engine`)."""

    def __init__(
        self, host: EngineHost, key: str, cfg: EngineConfig, front: _Front, facts: wire.Facts
    ):
        self.host = host
        self.key = key
        self.cfg = cfg
        self.model = front.model
        self._front = front
        self.block_size = facts.block_size
        self.max_model_len = facts.max_model_len
        self.max_num_batched_tokens = facts.max_num_batched_tokens
        self.max_num_seqs = facts.max_num_seqs
        self.reuses_prefix_in_order = not cfg.wait_for_leader_prefill
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._counts = EngineCounters(0, 0, 0, 0, 0)
        self._steps: deque[StepRecord] = deque(maxlen=STEP_RECORDS)

    @property
    def deaths(self) -> int:
        return self.host.deaths

    def sampled(self, request: ChatRequest) -> bool:
        return self._front.chat.sampled(request)

    def prepare(self, requests: Sequence[ChatRequest]) -> list[PreparedChat | Exception]:
        """Render, tokenize and resolve sampling exactly as ``vllm serve`` (see vllm_chat)."""
        return self._front.chat.prepare(requests, self.max_model_len)

    def submit(
        self,
        request: EngineRequest,
        on_first_token: Callable[[], None],
        on_done: Callable[[ChatResult | BaseException], None],
    ) -> None:
        """Build the request vLLM's core takes and send it to the host."""
        from vllm.inputs.engine import tokens_input

        params: VLLMChatParams = request.params
        try:
            core_request = self._front.inputs.process_inputs(
                request.request_id,
                tokens_input(request.prompt_token_ids),
                params.sampling,
                supported_tasks=("generate",),
                priority=request.priority,
            )
        except Exception as e:  # this request's own fault
            on_done(e)
            return
        self.adopt(_Pending(core_request, params, on_first_token, on_done))

    def adopt(self, pending: _Pending) -> None:
        """Register a built request and send it to the host (also one another host of the
        same model held: the request is plain data)."""
        rid = pending.core_request.request_id
        pending.started = False
        with self.host.gate:  # registered before it is sent: the reply may come at once
            self._pending[rid] = pending
            try:
                self.host.send_held(wire.Submit(self.key, [pending.core_request]))
            except EngineDiedError as e:
                del self._pending[rid]
                pending.on_done(e)

    def take_pending(self) -> list[_Pending]:
        """Every request still pending, no longer this engine's (:attr:`EngineHost.gate` held)."""
        pending, self._pending = self._pending, {}
        return list(pending.values())

    @property
    def outstanding(self) -> int:
        """Requests sent and not yet answered."""
        return len(self._pending)

    def abort(self, request_ids: list[str]) -> None:
        """Forget these requests and tell the host to abort them."""
        with self.host.gate:  # a restart running now must not send them again
            gone = [rid for rid in request_ids if self._pending.pop(rid, None) is not None]
            if not gone:
                return
            with contextlib.suppress(EngineDiedError):  # a host gone for good runs nothing
                self.host.send_held(wire.Abort(self.key, gone))
        with self._lock:
            self._counts = dataclasses.replace(
                self._counts, aborted=self._counts.aborted + len(gone)
            )

    def stepped(self, msg: wire.Stepped) -> None:
        """A step report from the host (reader thread)."""
        ran = msg.prefill_tokens + msg.decode_seqs > 0
        if ran:
            self._steps.append(
                StepRecord(
                    StepShape(msg.prefill_tokens, msg.decode_seqs, msg.context_tokens), msg.seconds
                )
            )
        for rid in msg.first:
            if (p := self._pending.get(rid)) is not None and not p.started:
                p.started = True
                p.on_first_token()
        requests = prompt = output = hits = joined = 0
        for f in msg.finished:
            p = self._pending.pop(f.request_id, None)
            if p is None:
                continue
            n_prompt = len(p.core_request.prompt_token_ids)
            if f.joined:  # another client's identical request computed it
                joined += 1
            else:
                requests, prompt = requests + 1, prompt + n_prompt
                output, hits = output + len(f.token_ids), hits + f.cached_tokens
            p.on_done(self._result(p, f, n_prompt))
        for failure in msg.failed:
            if (p := self._pending.pop(failure.request_id, None)) is not None:
                p.on_done(RuntimeError(failure.error))
        with self._lock:
            c = self._counts
            self._counts = EngineCounters(
                c.requests + requests,
                c.prompt_tokens + prompt,
                c.generation_tokens + output,
                c.prefix_cache_queries + prompt,
                c.prefix_cache_hits + hits,
                c.steps + ran,
                c.step_s + (msg.seconds if ran else 0.0),
                c.aborted,
                c.joined + joined,
            )

    def _result(self, p: _Pending, f: wire.Finished, n_prompt: int) -> ChatResult | BaseException:
        try:
            msg = self._front.chat.parse(p.params, f.text, f.token_ids, f.finish_reason)
        except Exception as e:  # a parser failure fails this call only
            return e
        return ChatResult(
            text=f.text,
            prompt_tokens=n_prompt,
            output_tokens=len(f.token_ids),
            cached_tokens=f.cached_tokens,
            finish_reason=msg.finish_reason,
            token_ids=f.token_ids,
            content=msg.content,
            tool_calls=msg.tool_calls,
            reasoning=msg.reasoning,
        )

    def resend(self) -> None:
        """Send every request still pending to a restarted host, from scratch (gate held)."""
        pending = list(self._pending.values())
        for p in pending:
            p.started = False
        if pending:
            self.host.send_held(wire.Submit(self.key, [p.core_request for p in pending]))

    def fail_all(self, error: BaseException) -> None:
        pending, self._pending = self._pending, {}
        for p in pending.values():
            p.on_done(error)

    def counters(self) -> EngineCounters:
        """Counters read from the finished requests and the host's step reports."""
        with self._lock:
            return self._counts

    def step_records(self) -> list[StepRecord]:
        return list(self._steps)

    def set_turns(self, policy: TurnPolicy) -> None:
        self.host.set_turns(policy)

    def reset_prefix_cache(self) -> None:
        self.host.reset_prefix_cache(self.key)

    def shutdown(self) -> None:
        self.host.shutdown()
