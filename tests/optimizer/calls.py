"""Call builders for the optimizer rule tests (no engine)."""

from __future__ import annotations

import itertools
from typing import Any

from halo_core.calls import ChatRequest, LLMCall
from halo_core.optimizer import Request
from halo_core.optimizer.prefix_groups import block_hashes

_ids = itertools.count()


def call(
    tokens: list[int], *, msg: str = "hi", model: str = "m", extra: Any = None, **sampling: Any
) -> LLMCall:
    params = {"temperature": 0.0, "max_tokens": 8, **sampling}
    request = ChatRequest([{"role": "user", "content": msg}], params, **(extra or {}))
    sampled = float(params["temperature"]) > 0 and params.get("seed") is None  # type: ignore[arg-type]
    return LLMCall(next(_ids), model, request, sampled, prompt_token_ids=tokens, params=params)


def requests(*token_lists: list[int], block_size: int = 4) -> list[Request]:
    """One request per prompt, its block hashes filled (as the prefix rule does)."""
    out = [Request(c, [c]) for c in (call(t, msg=str(t)) for t in token_lists)]
    for r in out:
        r.block_hashes = block_hashes(r.rep.prompt_token_ids, block_size, r.model)
    return out
