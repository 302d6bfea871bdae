"""The engine host's own settings (``EngineConfig(backend="vllm-host", backend_settings={...})``);
host-wide, so every engine a session puts on the host gives the same."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class HostSettings(BaseModel):
    """How the engine host process uses this machine's CPUs (GPU machines ignore both)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    omp_wait_policy: Literal["PASSIVE", "ACTIVE"] = Field(
        "PASSIVE",
        description="OpenMP threads sleep (PASSIVE) or spin (ACTIVE) while the host waits for "
        "work; measured on 2 cores (W3, N = 256): equal wall time for Halo, 12.1 vs 19.6 CPU-s "
        "in the host, the rest left to the workflow's process",
    )
    cpu_bind: str | None = Field(
        None,
        description="the host's VLLM_CPU_OMP_THREADS_BIND (e.g. '0-1'); None = every core "
        "(or what the environment says)",
    )
