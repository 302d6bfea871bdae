"""The Ray backend, client side: a session's ``backend="ray"`` engines as replica sets.

Engines that give the same :class:`~.settings.RaySettings` share one replica set: ``replicas``
Ray actors (:mod:`.replica`), each an engine host with every one of those models. This process
keeps one :class:`~halo_core.backends.host.client.EngineHost` per replica (vLLM's front end
built once and shared: calls are rendered and tokenized here, plain data crosses), and one
:class:`PlacedEngine` per model that the processor sees as a single engine: each call goes to the
replica :class:`~.placement.Placer` picks. A replica that goes away has its calls in flight sent
to the others at once; Ray restarts it if ``restarts`` allows, and it takes calls again once its
engines are back.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import operator
import os
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from multiprocessing.connection import Client
from typing import Any

from halo_core.backends.base import Engine, EngineCounters, EngineRequest, PreparedChat
from halo_core.backends.host import wire
from halo_core.backends.host.client import (
    EngineHost,
    HostedEngineClient,
    _Front,
    _Pending,
    host_env,
)
from halo_core.backends.ray.placement import Placer, prefix_key
from halo_core.backends.ray.settings import RaySettings
from halo_core.backends.vllm_process import model_path
from halo_core.calls import ChatRequest, ChatResult
from halo_core.config import EngineConfig
from halo_core.errors import ConfigError, EngineDiedError
from halo_core.lru import LRUDict
from halo_core.scheduler.cost_model import StepRecord
from halo_core.scheduler.turns import TurnPolicy

log = logging.getLogger("halo.engine")

NAMESPACE = "halo"
#: Prefix keys whose replicas a placed engine remembers (:attr:`PlacedEngine.placements`).
PLACEMENTS_KEPT = 65_536
#: How long a client waits for a replica's engines to be built (or rebuilt after a restart).
READY_TIMEOUT_S = 600.0


def connect(address: str | None) -> None:
    """Join the Ray cluster at ``address`` unless this process already has."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False)


def actor_name(set_name: str, index: int) -> str:
    return f"halo-{set_name}-{index}"


def replica_env(configs: dict[str, EngineConfig], settings: RaySettings) -> dict[str, str]:
    """The actor's environment (Ray's ``runtime_env``): what vLLM reads at engine creation, with
    the CPU settings of the replica's own node: OpenMP threads as many as its CPUs (or bound as
    ``host.cpu_bind`` says), waiting passively."""
    env = host_env(configs, settings.host, base={})  # not this process's: another node's
    env["VLLM_CPU_OMP_THREADS_BIND"] = settings.host.cpu_bind or "nobind"
    env["OMP_NUM_THREADS"] = str(max(1, int(settings.num_cpus)))
    env["OMP_WAIT_POLICY"] = settings.host.omp_wait_policy
    return env


class ReplicaLink:
    """How an :class:`EngineHost` reaches one replica (the ``HostLink`` of a Ray actor)."""

    def __init__(self, actor: Any, index: int):
        self.actor = actor
        self.index = index

    def open(self, turns: TurnPolicy) -> wire.Channel:
        import ray

        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                info = self.actor.connect_info.remote()
                host, port, key = ray.get(info, timeout=max(1.0, deadline - time.monotonic()))
                break
            except ray.exceptions.ActorUnavailableError:  # Ray is restarting it
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
            except ray.exceptions.RayActorError as e:
                raise ConfigError(f"replica {self.index} could not start: {e}") from e
        channel = wire.Channel(Client((host, port), authkey=key), wire.FromHost)
        if turns != "step":
            channel.send(wire.SetTurns(turns))
        return channel

    def exit_status(self) -> str:
        return f"replica {self.index}"

    def close(self) -> None:
        """Nothing to do: the actor outlives a channel (Ray restarts it or it is killed with
        its set)."""


class ReplicaSet:
    """The replicas of one settings group (see the module doc)."""

    def __init__(self, configs: dict[str, EngineConfig], settings: RaySettings):
        import ray

        connect(settings.address)
        self.settings = settings
        self.name = settings.name or uuid.uuid4().hex[:12]
        self.client_id = uuid.uuid4().hex[:12]  # request ids unique across a replica's clients
        self.owned = not settings.attach
        self._closed = False
        models = {k: model_path(k, c) for k, c in configs.items()}
        if self.owned:
            self.actors = self._start(configs, models)
        else:
            try:
                self.actors = [
                    ray.get_actor(actor_name(self.name, i), namespace=NAMESPACE)
                    for i in range(settings.replicas)
                ]
            except ValueError as e:
                raise ConfigError(
                    f"Ray backend: attach=True but no replica set {self.name!r} runs "
                    f"({settings.replicas} replicas expected): {e}"
                ) from e
        self.hosts: list[EngineHost] = []
        try:
            fronts = {k: _Front(k, c, models[k]) for k, c in configs.items()}
            for i, actor in enumerate(self.actors):
                link = ReplicaLink(actor, i)
                self.hosts.append(EngineHost(configs, link, fronts, on_lost=self._lost))
        except BaseException:
            self.shutdown()
            raise
        self.placer = Placer(
            settings.replicas, settings.placement, settings.load_factor, settings.min_spill
        )
        self._sticky: dict[bytes, list[int]] = {}  # prefix key → [replica, calls in flight]
        self._sticky_lock = threading.Lock()
        self._replaced = threading.Lock()
        self.engines = {k: PlacedEngine(self, k) for k in configs}

    def _start(self, configs: dict[str, EngineConfig], models: dict[str, str]) -> list[Any]:
        import ray

        from halo_core.backends.ray.replica import EngineReplica

        actor = ray.remote(EngineReplica)
        engines = {
            k: c.model_copy(update={"model": models[k]}).model_dump_json()
            for k, c in configs.items()
        }
        key = os.urandom(32)
        shared = self.settings.shared_results or 1
        return [
            actor.options(
                name=actor_name(self.name, i),
                namespace=NAMESPACE,
                num_cpus=self.settings.num_cpus,
                num_gpus=self.settings.num_gpus,
                max_restarts=self.settings.restarts,
                runtime_env={"env_vars": replica_env(configs, self.settings)},
            ).remote(engines, "step", shared, key)
            for i in range(self.settings.replicas)
        ]

    # ---- placement ------------------------------------------------------------------------
    def up(self) -> list[bool]:
        return [not (h.dead or h.restarting) for h in self.hosts]

    def loads(self) -> list[int]:
        return [sum(e.outstanding for e in h.engines.values()) for h in self.hosts]

    def place(self, key: bytes, avoid: int | None = None) -> int:
        """The replica for a call with prefix ``key``: where calls of the same key are in
        flight (a prefix group stays whole, identical calls meet), else the placer's choice;
        ``ValueError`` when none is up. :meth:`release` once the call is answered."""
        up = self.up()
        if avoid is not None:
            up[avoid] = False
        with self._sticky_lock:
            held = self._sticky.get(key)
            if held is not None and up[held[0]]:
                held[1] += 1
                return held[0]
            i = self.placer.choose(key, self.loads(), up)
            self._sticky[key] = [i, (held[1] if held else 0) + 1]
            return i

    def release(self, key: bytes) -> None:
        with self._sticky_lock:
            held = self._sticky.get(key)
            if held is not None:
                held[1] -= 1
                if held[1] <= 0:
                    del self._sticky[key]

    def _lost(self, host: EngineHost) -> None:
        """A replica went away (its reader thread, its gate held): its calls go elsewhere."""
        index = self.hosts.index(host)
        moved = [(k, p) for k, c in host.engines.items() for p in c.take_pending()]
        if moved:
            threading.Thread(
                target=self._replace, args=(index, moved), name="halo-replace", daemon=True
            ).start()

    def _replace(self, gone: int, moved: list[tuple[str, _Pending]]) -> None:
        with self._replaced:
            log.warning("replica %d went away: %d calls sent to the others", gone, len(moved))
            for key, pending in moved:
                engine = self.engines[key]
                tokens = pending.core_request.prompt_token_ids
                prefix = prefix_key(tokens, engine.block_size)
                try:
                    i = self.place(prefix, gone)
                except ValueError:
                    pending.on_done(_all_gone(key, self))
                    continue
                self.release(prefix)  # counted once, when it was first placed
                engine.moved_to(pending.core_request.request_id, i)
                engine.moved += 1
                self.hosts[i].engines[key].adopt(pending)

    def replica_counters(self) -> list[dict[str, EngineCounters]]:
        """Each replica's counters per engine, as this process saw them."""
        return [{k: e.counters() for k, e in h.engines.items()} for h in self.hosts]

    def shutdown(self) -> None:
        """Close the channels; the replicas too, if this set started them. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for host in self.hosts:
            host.shutdown()
        if self.owned:
            import ray

            for actor in self.actors:
                ray.kill(actor, no_restart=True)


def _all_gone(key: str, group: ReplicaSet) -> EngineDiedError:
    deaths = sum(h.deaths for h in group.hosts)
    return EngineDiedError(key, deaths, RuntimeError("no replica of the set is up"))


class PlacedEngine:
    """One model over a replica set, as one :class:`~halo_core.backends.base.Engine`."""

    def __init__(self, group: ReplicaSet, key: str):
        self.group = group
        self.key = key
        self.clients: list[HostedEngineClient] = [h.engines[key] for h in group.hosts]
        first = self.clients[0]
        self.model = first.model
        self.block_size = first.block_size
        self.max_model_len = first.max_model_len
        self.max_num_batched_tokens = first.max_num_batched_tokens
        self.max_num_seqs = sum(c.max_num_seqs for c in self.clients)
        self.reuses_prefix_in_order = first.reuses_prefix_in_order
        self._where: dict[str, tuple[int, bytes]] = {}  # request id (as sent) → replica, key
        self.moved = 0  # requests sent to another replica after theirs went away
        #: The replicas each recent prefix key went to (more than one: it spilled over).
        self.placements: LRUDict[bytes, set[int]] = LRUDict(PLACEMENTS_KEPT)
        self._lock = threading.Lock()

    def _rid(self, request_id: str) -> str:
        return f"{self.group.client_id}:{request_id}"

    def sampled(self, request: ChatRequest) -> bool:
        return self.clients[0].sampled(request)

    def prepare(self, requests: Sequence[ChatRequest]) -> list[PreparedChat | Exception]:
        return self.clients[0].prepare(requests)

    def submit(
        self,
        request: EngineRequest,
        on_first_token: Callable[[], None],
        on_done: Callable[[ChatResult | BaseException], None],
    ) -> None:
        rid = self._rid(request.request_id)
        key = prefix_key(request.prompt_token_ids, self.block_size)
        try:
            i = self.group.place(key)
        except ValueError:
            on_done(_all_gone(self.key, self.group))
            return

        def done(result: ChatResult | BaseException) -> None:
            with self._lock:
                self._where.pop(rid, None)
            self.group.release(key)
            on_done(result)

        with self._lock:
            self._where[rid] = (i, key)
            self.placements.setdefault(key, set()).add(i)
        request = dataclasses.replace(request, request_id=rid)
        self.clients[i].submit(request, on_first_token, done)

    def moved_to(self, rid: str, replica: int) -> None:
        with self._lock:
            if (where := self._where.get(rid)) is not None:
                self._where[rid] = (replica, where[1])
                self.placements.setdefault(where[1], set()).add(replica)

    def abort(self, request_ids: list[str]) -> None:
        by_replica: dict[int, list[str]] = defaultdict(list)
        with self._lock:
            for request_id in request_ids:
                rid = self._rid(request_id)
                if (where := self._where.pop(rid, None)) is not None:
                    by_replica[where[0]].append(rid)
                    self.group.release(where[1])
        for i, rids in by_replica.items():
            self.clients[i].abort(rids)

    def counters(self) -> EngineCounters:
        total = functools.reduce(operator.add, (c.counters() for c in self.clients))
        return dataclasses.replace(total, moved=self.moved)

    def replica_counters(self) -> list[EngineCounters]:
        return [c.counters() for c in self.clients]

    def step_records(self) -> list[StepRecord]:
        return [r for c in self.clients for r in c.step_records()]

    def set_turns(self, policy: TurnPolicy) -> None:
        for c in self.clients:
            c.set_turns(policy)

    def reset_prefix_cache(self) -> None:
        for c in self.clients:
            c.reset_prefix_cache()

    def shutdown(self) -> None:
        self.group.shutdown()


def start(configs: dict[str, EngineConfig]) -> dict[str, Engine]:
    """The registry's factory: one replica set per distinct settings."""
    groups: dict[RaySettings, dict[str, EngineConfig]] = defaultdict(dict)
    for key, cfg in configs.items():
        groups[RaySettings.model_validate(cfg.backend_settings)][key] = cfg
    built: dict[str, Engine] = {}
    sets: list[ReplicaSet] = []
    try:
        for settings, group in groups.items():
            sets.append(replicas := ReplicaSet(group, settings))
            built.update(replicas.engines)
    except BaseException:
        for s in sets:
            s.shutdown()
        raise
    return built
