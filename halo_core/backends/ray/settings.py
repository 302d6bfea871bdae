"""The Ray backend's settings (``EngineConfig(backend="ray", backend_settings={...})``): shared
by every engine of one replica set, so engines that give the same settings share its actors."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from halo_core.backends.host.settings import HostSettings

Placement = Literal["prefix", "round_robin", "random"]


class RaySettings(BaseModel):
    """Where the replicas run, how many, and how calls are placed on them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str | None = Field(
        None,
        description="the Ray cluster to join ('auto', 'ray://host:10001', 'host:6379'); None: "
        "the one Ray is already connected to in this process, else RAY_ADDRESS, else a local one",
    )
    replicas: int = Field(1, ge=1, description="engine hosts (Ray actors), each with every model")
    num_cpus: float = Field(1.0, gt=0, description="CPUs Ray reserves for each replica")
    num_gpus: float = Field(0.0, ge=0, description="GPUs Ray reserves for each replica")
    restarts: int = Field(
        0,
        ge=0,
        description="times Ray restarts a replica that died; its calls in flight go to the "
        "others at once either way, and it takes calls again once it is back",
    )
    placement: Placement = Field(
        "prefix",
        description="'prefix': by the prompt's first KV block (consistent hashing with bounded "
        "load), so a prefix group and identical calls meet on one replica; 'round_robin'; "
        "'random' (seeded)",
    )
    load_factor: float = Field(
        1.25,
        ge=1.0,
        description="'prefix': a replica takes a call while its calls in flight stay within "
        "this factor of the mean; beyond, the next replica on the ring does",
    )
    min_spill: int = Field(
        64,
        ge=0,
        description="'prefix': calls in flight a replica may hold beyond the mean before the "
        "load bound applies (keeps small loads on their key's replica in every process)",
    )
    shared_results: int = Field(
        65_536,
        ge=0,
        description="answers each replica remembers for identical calls of other clients "
        "(the shards of a batch): greedy or seeded calls only",
    )
    name: str | None = Field(
        None,
        description="the replica set's name (actors 'halo-<name>-<i>' in namespace 'halo'); "
        "None: one of its own. With attach=True, the set to use",
    )
    attach: bool = Field(
        False,
        description="use the replicas named `name`, started by another process (a batch's "
        "shards attach to the driver's replicas), instead of starting them",
    )
    host: HostSettings = Field(default_factory=HostSettings, description="each replica's CPUs")
