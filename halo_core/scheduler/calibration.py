"""A short calibration run that fits an engine's :class:`StepCost`, cached on disk.

At a session's first start on an engine configuration, :func:`load_or_calibrate` sends the
engine a fixed set of synthetic requests in phases (single and batched prompts of 16 to
``max_model_len / 2`` tokens; 1 to 32 sequences decoding 32 tokens; decoding over long contexts),
fits :class:`StepCost` to the steps they took, and stores the fit and those steps as JSON under
``$HALO_CACHE_DIR/cost_models/`` (default ``~/.cache/halo/cost_models/``), one file per
configuration: the model, its engine settings, the vLLM and torch versions, the CPU threads and
the machine. Later sessions on the same configuration load it; the session refits online from the
calibration's steps and the engine's own as it works (:meth:`halo_core.Session.step_cost`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import threading
import time
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

from halo_core.backends.base import Engine, EngineRequest
from halo_core.calls import ChatRequest
from halo_core.model_cache import default_cache_dir
from halo_core.scheduler.cost_model import StepCost, StepRecord, StepShape

log = logging.getLogger("halo.cost")

#: Bump when the phases, the fit or the file change, so cached fits are redone.
CALIBRATION_FORMAT = 2


@dataclass(frozen=True)
class Calibration:
    """An engine's calibrated step cost and the steps it was fitted to."""

    cost: StepCost
    steps: tuple[StepRecord, ...]


def phases(max_model_len: int, max_seqs: int) -> list[list[tuple[int, int]]]:
    """The calibration's phases, each a list of (prompt words, output tokens) sent at once; the
    next phase starts when one is done."""
    long = max(16, max_model_len // 2 - 48)
    mid = min(256, long)
    return [
        [(16, 1)],
        [(mid, 1)],
        [(long, 1)],
        [(mid, 1)] * min(4, max_seqs),
        [(16, 32)],
        [(16, 32)] * min(8, max_seqs),
        [(16, 32)] * min(32, max_seqs),
        [(long, 16)] * min(4, max_seqs),
    ]


_TEXT = (
    "the of and to in is you that it he was for on are as with his they at be this have from or "
    "one had by but not what all were we when your can said there use an each which she do how "
    "their if will up other about out many then them these so some her would make like him into "
    "time has look two more write go see number no way could people my than first water been "
    "call who its now find long down day did get come made may part"
)
_WORDS = tuple(_TEXT.split())


def _prompt(i: int, words: int) -> str:
    """A prompt of ``words`` common words (about a token each), unlike every other from its
    first word on (no shared prefix blocks)."""
    return f"{i} " + " ".join(_WORDS[(i * 31 + j * j) % len(_WORDS)] for j in range(words))


def _run_phase(engine: Engine, phase: list[tuple[int, int]], first: int, timeout_s: float) -> None:
    """Send one phase's requests (numbered from ``first``) at once; wait until all are done."""
    done = threading.Semaphore(0)
    errors: list[BaseException] = []

    def finished(result: Any) -> None:
        if isinstance(result, BaseException):
            errors.append(result)
        done.release()

    for serial, (words, out) in enumerate(phase, start=first):
        sampling = {"max_tokens": out, "min_tokens": out, "temperature": 0.0}
        message = {"role": "user", "content": _prompt(serial, words)}
        (prepared,) = engine.prepare([ChatRequest(messages=[message], sampling=sampling)])
        if isinstance(prepared, Exception):
            raise prepared
        ids = prepared.prompt_token_ids[: engine.max_model_len - out - 1]
        request = EngineRequest(f"halo-calibration-{serial}", ids, prepared.params)
        engine.submit(request, lambda: None, finished)
    deadline = time.monotonic() + timeout_s
    for _ in phase:
        if not done.acquire(timeout=max(deadline - time.monotonic(), 0)):
            raise TimeoutError(f"calibration did not finish in {timeout_s:.0f} s")
    if errors:
        raise RuntimeError(f"calibration request failed: {errors[0]}") from errors[0]


def calibrate(engine: Engine, *, timeout_s: float = 600.0) -> list[StepRecord]:
    """Run the calibration phases on ``engine``; return the steps they took (none, after the
    first phase, for an engine that reports no step shapes)."""
    start, first = len(engine.step_records()), 0
    for phase in phases(engine.max_model_len, engine.max_num_seqs):
        _run_phase(engine, phase, first, timeout_s)
        first += len(phase)
        if len(engine.step_records()) == start:
            return []  # the engine reports no step shapes: no use going on
    return engine.step_records()[start:]


def calibration_key(engine: Engine) -> str:
    """What identifies a calibration: model, engine settings, software, machine."""
    import torch
    import vllm

    cfg = getattr(engine, "cfg", None)
    settings = cfg.model_dump(exclude={"seed"}) if cfg is not None else {}
    model = Path(engine.model)
    if model.is_dir():  # a local build: its weights' size and time, not just its path
        weights = sorted(model.glob("*.safetensors"))
        settings["weights"] = [(w.name, w.stat().st_size, w.stat().st_mtime_ns) for w in weights]
    facts = {
        "format": CALIBRATION_FORMAT,
        "model": str(engine.model),
        "settings": settings,
        "block_size": engine.block_size,
        "max_model_len": engine.max_model_len,
        "vllm": vllm.__version__,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "processor": platform.processor(),
    }
    blob = json.dumps(facts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def cache_path(engine: Engine, cache_dir: Path | None = None) -> Path:
    """Where ``engine``'s calibrated fit is stored."""
    root = cache_dir or default_cache_dir() / "cost_models"
    return root / f"{calibration_key(engine)}.json"


def load_or_calibrate(engine: Engine, cache_dir: Path | None = None) -> Calibration | None:
    """``engine``'s cached calibration, else a calibration run (then cached); ``None`` for an
    engine that reports no step shapes. The prefix cache is reset after a calibration run."""
    path = cache_path(engine, cache_dir)
    try:
        data = json.loads(path.read_text())
        steps = tuple(StepRecord(StepShape(p, d, c), s) for p, d, c, s in data["steps"])
        return Calibration(StepCost(**data["cost"]), steps)
    except FileNotFoundError:
        pass
    except (ValueError, KeyError, TypeError) as e:
        log.warning("ignoring unreadable cost model %s (%s); calibrating again", path, e)
    t0 = time.perf_counter()
    records = calibrate(engine)
    engine.reset_prefix_cache()
    if not records:
        log.info("engine for %s reports no step shapes: nothing to calibrate", engine.model)
        return None
    cost = StepCost.fit(records)
    took = time.perf_counter() - t0
    log.info(
        "calibrated %s in %.1f s over %d steps: %s",
        engine.model,
        took,
        len(records),
        cost,
    )
    stored = [[*astuple(r.shape), r.seconds] for r in records]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"cost": cost.__dict__, "calibration_s": took, "steps": stored}))
    os.replace(tmp, path)
    return Calibration(cost, tuple(records))
