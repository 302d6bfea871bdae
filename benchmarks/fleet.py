"""The benchmark's models and the baseline's ``vllm serve`` fleet.

* :func:`model_dirs`: role (S / M / L) → model dir for ``--models``;
* :func:`baseline_server` / :class:`BaselineServers`: one stock ``vllm serve`` per distinct
  model, all on one CPU thread binding (:func:`cpu_binds`, ``--bindings``) at a time;
* :func:`served_as_halo`: Halo's in-process engine set up as such a server runs its model;
* :func:`exit_on_sigterm`: a killed benchmark still stops its servers.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import Any

ROLES = ("S", "M", "L")
#: The three tiny random Llamas of clearly different sizes (hidden size, layers) for CPU runs.
TINY_SIZES = {"S": (64, 1), "M": (128, 2), "L": (256, 2)}
#: The baseline servers' CPU thread bindings (``--bindings``), see :func:`cpu_binds`.
BINDINGS = ("auto", "all", "nobind", "per-server")
log = logging.getLogger("halo.bench")


def exit_on_sigterm() -> None:
    """Make SIGTERM (``kill``, a CI timeout) raise SystemExit in the main thread, so the
    ``finally`` / ``with`` blocks that stop the baseline's ``vllm serve`` processes run;
    without it a killed benchmark leaves its servers running."""
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))


def served_as_halo(model: str, max_model_len: int, **settings: Any) -> Any:
    """Halo's engine for ``model`` set up as the baseline's ``vllm serve`` runs it: the same
    tool-call parser and compact guided JSON, compiled (eager kernels round differently and flip
    greedy near-ties: measured on W2 at N=1,024, 4 instances differed with eager)."""
    from halo_core import EngineConfig
    from halo_core.testing.vllm_server import DEFAULT_TOOL_PARSER

    return EngineConfig(
        model=model,
        max_model_len=max_model_len,
        tool_call_parser=DEFAULT_TOOL_PARSER,
        compact_json=True,
        enforce_eager=False,
        **settings,
    )


def baseline_server(
    model: str,
    served_name: str | Sequence[str],
    max_model_len: int,
    cpu_bind: str | None = None,
) -> Any:
    """The baseline's stock ``vllm serve`` of ``model`` (compact guided JSON, like Halo's);
    ``cpu_bind``: its ``VLLM_CPU_OMP_THREADS_BIND`` (None: vLLM's default)."""
    from halo_core.testing.vllm_server import VLLMServer

    return VLLMServer(
        model,
        served_name=served_name,
        max_model_len=max_model_len,
        compact_json=True,
        cpu_bind=cpu_bind,
    )


def cpu_binds(binding: str, servers: int, cpus: int) -> list[str | None]:
    """Each of ``servers`` baseline servers' ``VLLM_CPU_OMP_THREADS_BIND`` on ``cpus`` cores
    for a binding name: ``auto`` vLLM's default (None: left unset), ``all`` every core for every
    server (as Halo's in-process engines), ``nobind`` no binding, ``per-server`` the cores split
    evenly into distinct ranges, one per server (ValueError with fewer cores than servers)."""
    if binding == "auto":
        return [None] * servers
    if binding == "all":
        return [_core_range(0, cpus)] * servers
    if binding == "nobind":
        return ["nobind"] * servers
    if binding == "per-server":
        if cpus < servers:
            raise ValueError(f"per-server binding: {servers} servers, only {cpus} cores")
        return [_core_range(i * cpus // servers, (i + 1) * cpus // servers) for i in range(servers)]
    raise ValueError(f"unknown binding {binding!r}: one of {', '.join(BINDINGS)}")


def _core_range(lo: int, hi: int) -> str:
    """Cores ``lo`` .. ``hi - 1`` as ``VLLM_CPU_OMP_THREADS_BIND`` writes them."""
    return str(lo) if hi - lo == 1 else f"{lo}-{hi - 1}"


def applicable_bindings(names: Sequence[str], servers: int, cpus: int) -> list[str]:
    """``names`` less those that cannot apply (``per-server`` with fewer cores than servers)
    or bind every server as an earlier one does (``per-server`` for one server is ``all``)."""
    kept: dict[str, list[str | None]] = {}
    for name in names:
        try:
            binds = cpu_binds(name, servers, cpus)
        except ValueError as e:
            if name not in BINDINGS:
                raise
            log.info("binding %s skipped: %s", name, e)
            continue
        same = [k for k, v in kept.items() if v == binds]
        if same:
            log.info("binding %s skipped: the same as %s here", name, same[0])
        else:
            kept[name] = binds
    return list(kept)


class BaselineServers:
    """The baseline's ``vllm serve`` processes, one per distinct model (``by_dir``: model dir →
    the roles it serves), all on one CPU binding (:func:`cpu_binds`) at a time."""

    def __init__(self, by_dir: Mapping[str, Sequence[str]], max_model_len: int, cpus: int):
        self.by_dir = {d: list(roles) for d, roles in by_dir.items()}
        self.max_model_len = max_model_len
        self.cpus = cpus
        self.binding: str | None = None  # the binding of servers that answer (None: none do)
        self.servers: list[Any] = []
        self._launched = ""

    def launch(self, binding: str) -> None:
        """Stop any servers; start new ones (new ports) on ``binding`` without waiting."""
        self.stop()
        binds = cpu_binds(binding, len(self.by_dir), self.cpus)
        self.servers = [
            baseline_server(d, roles, self.max_model_len, cpu_bind=b)
            for (d, roles), b in zip(self.by_dir.items(), binds, strict=True)
        ]
        self._launched = binding
        for s in self.servers:
            s.launch()

    def wait_ready(self) -> dict[str, str]:
        """Block until every launched server answers (all stopped if one fails); the URLs."""
        try:
            for s in self.servers:
                s.wait_ready()
        except BaseException:
            self.stop()
            raise
        self.binding = self._launched
        return self.urls

    def use(self, binding: str) -> bool:
        """The servers on ``binding``: restarted unless they already are; True if restarted."""
        if binding == self.binding:
            return False
        self.launch(binding)
        self.wait_ready()
        return True

    def stop(self) -> None:
        for s in self.servers:
            s.stop()
        self.binding = None

    @property
    def urls(self) -> dict[str, str]:
        """Role → its server's base URL."""
        return {
            r: s.url
            for s, roles in zip(self.servers, self.by_dir.values(), strict=True)
            for r in roles
        }


def model_dirs(spec: str) -> dict[str, str]:
    """Role → model dir: ``tiny`` (three tiny Llamas of different sizes), ``smollm2`` (every
    role on SmolLM2-135M-Instruct), or ``S=...,M=...,L=...`` (dirs or Hugging Face ids)."""
    from halo_core.models import default_cache_dir, resolve_model
    from halo_core.testing.tiny_llama import build_tiny_llama

    if spec == "tiny":
        root = default_cache_dir() / "models"
        return {
            r: str(build_tiny_llama(root / f"bench-{r}", hidden_size=h, num_layers=n, seed=i))
            for i, (r, (h, n)) in enumerate(TINY_SIZES.items())
        }
    if spec == "smollm2":
        path = resolve_model("smollm2")
        return dict.fromkeys(ROLES, path)
    pairs = dict(p.split("=", 1) for p in spec.split(","))
    if set(pairs) != set(ROLES):
        raise SystemExit(f"--models {spec!r}: give S=...,M=...,L=... (or tiny / smollm2)")
    return {r: resolve_model(pairs[r]) for r in ROLES}
