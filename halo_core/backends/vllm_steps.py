"""The shape of each vLLM engine step (uncached prompt tokens, decoding sequences, cached context),
read by wrapping the engine core's scheduler; the cost model is fitted from these."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from halo_core.scheduler.cost_model import StepShape


def watch_steps(scheduler: Any, on_shape: Callable[[StepShape], None]) -> None:
    """Wrap ``scheduler.schedule`` so each non-empty step's shape goes to ``on_shape``: a
    scheduled sequence that had not yet computed its whole prompt (or got more than one token)
    counts as prefill, one that gets a single token after its prompt as a decode."""
    schedule = scheduler.schedule

    def watched(*args: Any, **kwargs: Any) -> Any:
        out = schedule(*args, **kwargs)
        prefill = decode = context = 0
        for rid, n in out.num_scheduled_tokens.items():
            req = scheduler.requests[rid]
            before = req.num_computed_tokens - n  # vLLM advances it as it schedules
            context += before
            if n > 1 or before < req.num_prompt_tokens:
                prefill += n
            else:
                decode += 1
        if out.total_num_scheduled_tokens:
            on_shape(StepShape(prefill, decode, context))
        return out

    scheduler.schedule = watched
