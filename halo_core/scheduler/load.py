"""The engines' load as the processor reports it in :class:`~halo_core.scheduler.base.QueueState`:
their backlog (seconds until they finish the requests in flight) and the rate calls arrive at.

A request's time on its engine is predicted when it is dispatched, by the engine's calibrated
:class:`StepCost`: its prefill, then one step per output token with the engine's other requests
in flight decoding beside it,

    prefill·P + c0 + o·(c0 + decode·m + context·m·(P + o/2)),  m = min(n, max_num_seqs)

times ``n / max_num_seqs`` when more are in flight than the engine runs at once (``P`` prompt
tokens, ``o`` the engine's mean output tokens so far, before its first result the call's
``max_tokens``, ``n`` the engine's requests in flight). Without a cost model (an engine not
calibrated) a request is predicted to take as long as the engine's requests took lately (a moving
average of their measured durations; no backlog before one finished). An engine is busy until the
latest predicted end of its requests in flight, free once none is; the backlog is that of the
engine busy longest. Plain data: the processor passes its clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from halo_core.calls import ChatResult, LLMCall
from halo_core.scheduler.closing import ewma
from halo_core.scheduler.cost_model import StepCost, StepShape


@dataclass
class EngineLoad:
    """One engine's requests in flight and what its requests were like lately."""

    max_seqs: int
    in_flight: int = 0
    busy_until: float = 0.0  # predicted end of its requests in flight
    output_tokens: float | None = None  # output tokens of a request (moving average)
    request_s: float | None = None  # measured duration of a request (moving average)


class Load:
    """The engines' backlog and the calls' arrival rate (see the module docstring)."""

    def __init__(
        self, costs: Mapping[str, StepCost], max_seqs: Mapping[str, int], default_max_tokens: int
    ):
        self.costs = costs  # read at each dispatch: a session adds engines' costs as they calibrate
        self.engines = {model: EngineLoad(n) for model, n in max_seqs.items()}
        self.default_max_tokens = default_max_tokens
        self.started: dict[int, float] = {}  # request id → when it was dispatched
        self.gap_s: float | None = None  # time between arrivals (moving average)
        self.last_arrival: float | None = None

    def arrived(self, now: float) -> None:
        """An LLM call joined the queue."""
        if self.last_arrival is not None:
            self.gap_s = ewma(self.gap_s, now - self.last_arrival)
        self.last_arrival = now

    def arrival_rate(self, now: float) -> float:
        """Calls per second: one per mean gap, fewer once the silence since the last call is
        longer than that; 0 before two calls arrived."""
        if self.gap_s is None or self.last_arrival is None:
            return 0.0
        return 1.0 / max(self.gap_s, now - self.last_arrival, 1e-6)

    def dispatched(self, request_id: int, call: LLMCall, now: float) -> None:
        """``call`` went to its engine as request ``request_id``."""
        engine = self.engines[call.model]
        engine.in_flight += 1
        self.started[request_id] = now
        engine.busy_until = max(engine.busy_until, now + self._predict(engine, call))

    def finished(
        self, request_id: int, model: str, result: ChatResult | BaseException, now: float
    ) -> None:
        """Request ``request_id`` on ``model`` ended with ``result``."""
        engine = self.engines[model]
        engine.in_flight -= 1
        started = self.started.pop(request_id, now)
        if isinstance(result, ChatResult):
            engine.request_s = ewma(engine.request_s, now - started)
            engine.output_tokens = ewma(engine.output_tokens, result.output_tokens)
        if not engine.in_flight:
            engine.busy_until = now

    def backlog_s(self, now: float) -> float:
        """Predicted seconds until the engines finish their requests in flight."""
        ends = [e.busy_until for e in self.engines.values() if e.in_flight]
        return max(0.0, max(ends, default=now) - now)

    def _predict(self, engine: EngineLoad, call: LLMCall) -> float:
        """Seconds ``call`` is predicted to take on ``engine`` (see the module docstring)."""
        cost = self.costs.get(call.model)
        if cost is None:
            return engine.request_s or 0.0
        o = engine.output_tokens
        if o is None:
            o = call.request.sampling.get("max_tokens") or self.default_max_tokens
        p, n = len(call.prompt_token_ids), engine.in_flight
        m = min(n, engine.max_seqs)
        decode = cost.seconds(StepShape(0, m, round(m * (p + o / 2))))
        return (cost.seconds(StepShape(p, 0, 0)) + o * decode) * max(1.0, n / engine.max_seqs)
