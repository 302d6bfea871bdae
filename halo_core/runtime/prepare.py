"""Each call that goes to an engine is prepared once, when its epoch closes: the calls answered
by an identical call or by the memo never are. One engine gets its epoch's requests together."""

from __future__ import annotations

from collections.abc import Mapping

from halo_core.backends.base import Engine
from halo_core.optimizer.base import Epoch, Request


def prepare_epoch(engines: Mapping[str, Engine], epoch: Epoch) -> None:
    """Fill the prompt and parameters of every request of ``epoch`` (its ``rep``); a request its
    engine rejects moves from ``epoch.requests`` to ``epoch.failed`` with the engine's error."""
    by_model: dict[str, list[Request]] = {}
    for r in epoch.requests:
        by_model.setdefault(r.model, []).append(r)
    failed: set[int] = set()
    for model, requests in by_model.items():
        prepared = engines[model].prepare([r.rep.request for r in requests])
        for r, p in zip(requests, prepared, strict=True):
            if isinstance(p, Exception):
                epoch.failed.append((r, p))
                failed.add(r.id)
            else:
                r.rep.prompt_token_ids, r.rep.params = p.prompt_token_ids, p.params
    if failed:
        epoch.requests = [r for r in epoch.requests if r.id not in failed]
