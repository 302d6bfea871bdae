"""What engine work and tool calls cost, learned from the engine's own steps.

An engine step (one batched forward pass) takes, on a given model, dtype, machine and engine
settings, about ``t = c0 + c_prefill·P + c_decode·D + c_context·L`` seconds, where ``P`` is the
step's uncached prompt tokens, ``D`` its decoding sequences and ``L`` the tokens already in the
KV cache that the step's sequences attend to. :class:`StepCost` holds the four coefficients,
fitted by non-negative least squares (:func:`nnls`) from :class:`StepRecord` s: the engine
records one per step (see ``VLLMEngine.step_records``), a short calibration fills them at first
start (:mod:`halo_core.scheduler.calibration`), and a session refits from what its engines did.

:class:`EngineSim` replays requests through vLLM's continuous batching (running sequences
first, then arrivals first come first served, within the step's token budget);
:mod:`halo_core.scheduler.forecast` drives the engines of one device, taking turns a step each.
:class:`ToolLatency` keeps a moving average of each tool's run time. All plain data, no threads.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from halo_core.lru import NAMED_MAX, LRUDict


@dataclass(frozen=True)
class StepShape:
    """What one engine step computed."""

    prefill_tokens: int  # uncached prompt tokens (prompt chunks) in the step
    decode_seqs: int  # sequences that produced one token by decoding
    context_tokens: int  # tokens already cached that the step's sequences attend to


@dataclass(frozen=True)
class StepRecord:
    """One engine step: its shape and how long it took."""

    shape: StepShape
    seconds: float


def nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """argmin ||a·x - b|| subject to x >= 0, exactly, for a few columns: the best of the
    least-squares solutions on every subset of columns whose coefficients are all >= 0."""
    n = a.shape[1]
    best, best_err = np.zeros(n), float(np.sum(b * b))
    for k in range(1, n + 1):
        for cols in itertools.combinations(range(n), k):
            x, *_ = np.linalg.lstsq(a[:, cols], b, rcond=None)
            if np.any(x < 0):
                continue
            err = float(np.sum((a[:, cols] @ x - b) ** 2))
            if err < best_err - 1e-15:
                best, best_err = np.zeros(n), err
                best[list(cols)] = x
    return best


@dataclass(frozen=True)
class StepCost:
    """Seconds per engine step: ``c0 + prefill·P + decode·D + context·L``."""

    c0: float
    prefill: float
    decode: float
    context: float
    samples: int = 0  # how many steps the fit saw

    def seconds(self, shape: StepShape) -> float:
        """Predicted time of one step of ``shape``."""
        return (
            self.c0
            + self.prefill * shape.prefill_tokens
            + self.decode * shape.decode_seqs
            + self.context * shape.context_tokens
        )

    @classmethod
    def fit(cls, records: Sequence[StepRecord]) -> StepCost:
        """The non-negative least-squares fit to ``records`` (at least one)."""
        if not records:
            raise ValueError("StepCost.fit needs at least one step record")
        a = np.array(
            [
                [1.0, r.shape.prefill_tokens, r.shape.decode_seqs, r.shape.context_tokens]
                for r in records
            ]
        )
        b = np.array([r.seconds for r in records])
        # scale columns to comparable magnitudes so the solver's tolerance means the same for each
        scale = np.maximum(np.abs(a).max(axis=0), 1.0)
        x = nnls(a / scale, b) / scale
        c0, prefill, decode, context = (float(v) for v in x)
        return cls(c0, prefill, decode, context, samples=len(records))

    def error(self, records: Sequence[StepRecord]) -> float:
        """Relative error of the predicted total time of ``records`` against the measured."""
        measured = sum(r.seconds for r in records)
        predicted = sum(self.seconds(r.shape) for r in records)
        return (predicted - measured) / measured if measured else 0.0


def refit(calibration: Sequence[StepRecord], recent: Sequence[StepRecord]) -> StepCost:
    """The fit to an engine's calibration steps and its ``recent`` steps (calibration steps
    still among the recent counted once). The calibration's steps span shapes a run's first
    steps may not reach: a warm-up of lone requests has no batched decoding, and fitted alone
    its steps predicted W4's steps at N = 1,024 +30% / +160% off, with the calibration's
    -30% / -29% (two runs)."""
    held = set(recent)
    return StepCost.fit([*(r for r in calibration if r not in held), *recent])


@dataclass(frozen=True)
class Work:
    """One request as the engine sees it: prompt tokens to compute (not cached), tokens already
    cached, output tokens to generate, and when it reaches the engine."""

    prefill_tokens: int
    cached_tokens: int
    output_tokens: int
    arrival_s: float = 0.0


@dataclass(frozen=True)
class Simulated:
    """What a simulation predicts for one engine: busy time, first arrival to last finish,
    steps."""

    busy_s: float
    makespan_s: float
    steps: int


@dataclass(eq=False)
class SequenceSim:
    prefill: int  # prompt tokens still to compute
    context: int  # tokens in the KV cache
    output: int  # output tokens still to produce
    arrival_s: float
    tag: int = -1  # the caller's name for it (a call id)

    @classmethod
    def of(cls, w: Work, tag: int = -1) -> SequenceSim:
        return cls(
            max(w.prefill_tokens, 1), w.cached_tokens, max(w.output_tokens, 1), w.arrival_s, tag
        )

    @property
    def done(self) -> bool:
        return not self.prefill and self.output <= 0

    def step(self, budget: int) -> StepShape:
        """Serve this sequence in one step with at most ``budget`` tokens; what that computed."""
        context = self.context
        if self.prefill:
            take = min(self.prefill, budget)
            self.prefill -= take
            self.context += take
            self.output -= self.prefill == 0  # the last chunk samples the first token
            return StepShape(take, 0, context)
        self.context += 1
        self.output -= 1
        return StepShape(0, 1, context)


@dataclass(frozen=True)
class EngineWork:
    """One engine's requests and what a simulation needs to know of the engine."""

    work: Sequence[Work]
    cost: StepCost
    token_budget: int
    max_seqs: int


class EngineSim:
    """One simulated engine: vLLM v1's scheduling of its requests, one step at a time (requests
    arrive by :meth:`add`; :func:`~halo_core.scheduler.forecast.forecast` drives the steps)."""

    def __init__(self, spec: EngineWork):
        if spec.token_budget < 1 or spec.max_seqs < 1:
            raise ValueError("token_budget and max_seqs must be positive")
        self.spec = spec
        self.waiting: list[SequenceSim] = []  # latest arrival first: pop() serves FCFS
        self.running: list[SequenceSim] = []
        self.finished: list[SequenceSim] = []  # those the latest step finished
        self.start = self.end = 0.0
        self.busy, self.steps = 0.0, 0

    def add(self, seq: SequenceSim) -> None:
        """A request that arrives while the simulation runs (at ``seq.arrival_s``)."""
        if not self.steps and not self.running and not self.waiting:
            self.start = self.end = seq.arrival_s
        bisect.insort(self.waiting, seq, key=lambda s: -s.arrival_s)

    def ready(self, clock: float) -> bool:
        """Has work it can step at ``clock``."""
        return bool(self.running) or (bool(self.waiting) and self.waiting[-1].arrival_s <= clock)

    def step(self, clock: float) -> float:
        """Run one step at ``clock``; its predicted seconds."""
        budget, shapes = self.spec.token_budget, []
        for seq in self.running:
            if budget <= 0:
                break
            shapes.append(seq.step(budget))
            budget -= shapes[-1].prefill_tokens + shapes[-1].decode_seqs
        while (
            self.waiting
            and self.waiting[-1].arrival_s <= clock
            and budget > 0
            and len(self.running) < self.spec.max_seqs
        ):
            self.running.append(self.waiting.pop())
            shapes.append(self.running[-1].step(budget))
            budget -= shapes[-1].prefill_tokens
        seconds = self.spec.cost.seconds(
            StepShape(
                sum(s.prefill_tokens for s in shapes),
                sum(s.decode_seqs for s in shapes),
                sum(s.context_tokens for s in shapes),
            )
        )
        self.busy += seconds
        self.steps += 1
        self.end = clock + seconds
        self.finished = [s for s in self.running if s.done]
        self.running = [s for s in self.running if not s.done]
        return seconds


@dataclass
class ToolLatency:
    """A moving average of each tool's run time (exponential, weight ``alpha`` on the newest),
    for the ``NAMED_MAX`` tools run most recently."""

    alpha: float = 0.2
    mean_s: dict[str, float] = field(default_factory=partial(LRUDict, NAMED_MAX))
    runs: dict[str, int] = field(default_factory=partial(LRUDict, NAMED_MAX))

    def observe(self, tool: str, seconds: float) -> None:
        """Count one run of ``tool`` that took ``seconds``."""
        old = self.mean_s.get(tool)
        self.mean_s[tool] = seconds if old is None else old + self.alpha * (seconds - old)
        self.runs[tool] = self.runs.get(tool, 0) + 1

    def predict(self, tool: str, default: float = 0.0) -> float:
        """The expected run time of ``tool`` (``default`` before its first run)."""
        return self.mean_s.get(tool, default)
