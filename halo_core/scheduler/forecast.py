"""A batch's makespan from the cost model: its calls replayed closed-loop.

Each instance is a chain of calls: a call starts ``gap_s`` (the workflow's own time) after the
call whose end let it start, an LLM call then waits its turn in its engine (vLLM's continuous
batching, engines taking turns a step each, priced by :class:`StepCost`), a tool call takes its
run time, and a merged call ends when the call serving it does. Unlike :func:`simulate_shared`
with the arrivals a run measured, arrivals here follow from predicted ends, so the error of
:func:`forecast` against the measured makespan is the cost model's error on the whole batch.
:func:`calls_of` reads a run's calls from its graph records. Plain data, no threads.
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from halo_core.graph import CallRecord
from halo_core.scheduler.cost_model import EngineSim, EngineWork, SequenceSim, Simulated, Work


@dataclass(frozen=True)
class CallSpec:
    """One call of a batch as the forecast sees it."""

    call_id: int
    after: int | None  # the call whose end let this one start (None: the batch's start)
    gap_s: float  # the workflow's own time from that end (or the start) to this call
    engine: str | None = None  # an executed LLM call's engine
    work: Work | None = None  # an executed LLM call's tokens (its arrival is ignored)
    run_s: float = 0.0  # measured run time: a tool's, or an LLM call's on an engine not simulated
    source: int | None = None  # a merged call: the call whose execution served it


@dataclass(frozen=True)
class Forecast:
    """Predicted makespan (batch start to last call's end) and what each engine did."""

    makespan_s: float
    engines: dict[str, Simulated]

    @property
    def busy_s(self) -> dict[str, float]:
        """Each engine's predicted busy time."""
        return {k: e.busy_s for k, e in self.engines.items()}


def calls_of(records: Iterable[CallRecord]) -> list[CallSpec]:
    """A run's calls as :class:`CallSpec` s: each call starts after its instance's call that
    ended last before it was submitted, with the measured gap; times count from the first
    submission. Unfinished and passthrough calls are left out; calls outside any instance form
    one chain."""
    recs = sorted(
        (r for r in records if r.finished_s is not None and not r.passthrough),
        key=lambda r: r.submitted_s,
    )
    t0 = recs[0].submitted_s if recs else 0.0
    ended: dict[int | None, list[tuple[float, int]]] = defaultdict(list)  # instance → (end, id)
    out = []
    for r in recs:
        done = [e for e in ended[r.instance] if e[0] <= r.submitted_s]
        last_end, last = max(done, default=(t0, None))
        gap = max(0.0, r.submitted_s - last_end)
        ran = r.dispatched_s if r.dispatched_s is not None else r.submitted_s
        run_s = max(0.0, (r.finished_s or ran) - ran)
        if r.merged_into is not None:
            out.append(CallSpec(r.call_id, last, gap, source=r.merged_into))
        elif r.kind == "llm":
            work = Work(r.computed_tokens, r.cached_tokens, r.output_tokens)
            out.append(CallSpec(r.call_id, last, gap, r.model, work, run_s))
        else:
            out.append(CallSpec(r.call_id, last, gap, run_s=run_s))
        ended[r.instance].append((r.finished_s or r.submitted_s, r.call_id))
    return out


#: Where an executed LLM call runs, decided when it starts: (call, each engine's sequences
#: waiting or running) → (engine, the call's work there).
Route = Callable[[CallSpec, Mapping[str, int]], tuple[str, Work]]


def forecast(
    calls: Sequence[CallSpec],
    engines: Mapping[str, EngineWork],
    devices: Mapping[str, str] | None = None,
    route: Route | None = None,
) -> Forecast:
    """Replay ``calls`` closed-loop on simulated ``engines`` (their ``work`` is ignored).
    ``devices`` maps engine → device: engines of one device take turns a step each, devices
    step at the same time (default: every engine on one device). ``route`` places each executed
    LLM call when it starts (default: on its own ``engine``, as recorded)."""
    sims = {
        k: EngineSim(EngineWork((), e.cost, e.token_budget, e.max_seqs)) for k, e in engines.items()
    }
    on: dict[str, dict[str, EngineSim]] = defaultdict(dict)  # device → its engines, in order
    for k, sim in sims.items():
        on[devices[k] if devices else ""][k] = sim
    by_id = {c.call_id: c for c in calls}
    started_by: dict[int | None, list[CallSpec]] = defaultdict(list)
    for c in calls:
        started_by[c.after if c.after in by_id else None].append(c)
    served: dict[int, list[int]] = defaultdict(list)  # a running source → calls merged into it
    submitted: dict[int, float] = {}
    end: dict[int, float] = {}
    events: list[tuple[float, int, str]] = []  # (time, call id, "start" | "end")

    def finish(call_id: int, t: float) -> None:
        end[call_id] = t
        for m in served.pop(call_id, []):
            finish(m, max(t, submitted[m]))
        for d in started_by.get(call_id, []):
            heapq.heappush(events, (t + d.gap_s, d.call_id, "start"))

    def start(c: CallSpec, t: float) -> None:
        submitted[c.call_id] = t
        if c.source is not None:
            if c.source in end or c.source not in by_id:  # served at once (memo / earlier run)
                finish(c.call_id, max(t, end.get(c.source, t)))
            else:
                served[c.source].append(c.call_id)
        elif c.work is not None and (route is not None or c.engine in sims):
            engine, w = (c.engine or "", c.work) if route is None else route(c, _queued(sims))
            sims[engine].add(
                SequenceSim.of(
                    Work(w.prefill_tokens, w.cached_tokens, w.output_tokens, t), c.call_id
                )
            )
        else:  # a tool, or an LLM call on an engine not simulated: its measured run time
            heapq.heappush(events, (t + c.run_s, c.call_id, "end"))

    for c in started_by[None]:
        heapq.heappush(events, (c.gap_s, c.call_id, "start"))
    now = 0.0
    free = dict.fromkeys(on, 0.0)  # when each device's current step ends
    turn = dict.fromkeys(on, 0)
    while events or any(e.waiting or e.running for e in sims.values()):
        while events and events[0][0] <= now:
            t, call_id, kind = heapq.heappop(events)
            if kind == "start":
                start(by_id[call_id], t)
            else:
                finish(call_id, t)
        # the device that steps next: the earliest free one with work ready
        stepping = [
            (at, d, key)
            for d, on_d in on.items()
            if (key := _next_turn(on_d, turn[d], at := max(free[d], now))) is not None
        ]
        when, device, key = min(stepping, default=(float("inf"), "", ""))
        if events and events[0][0] <= when:
            now = events[0][0]
            continue
        if not stepping:
            break
        now = when
        free[device] = now + sims[key].step(now)
        turn[device] = list(on[device]).index(key) + 1
        for seq in sims[key].finished:
            finish(seq.tag, free[device])
    simulated = {k: Simulated(e.busy, e.end - e.start, e.steps) for k, e in sims.items()}
    return Forecast(max(end.values(), default=0.0), simulated)


def _queued(sims: Mapping[str, EngineSim]) -> dict[str, int]:
    return {k: len(e.waiting) + len(e.running) for k, e in sims.items()}


def _next_turn(sims: Mapping[str, EngineSim], turn: int, clock: float) -> str | None:
    """The engine that steps next at ``clock``, round robin from position ``turn`` among those
    with work (None: none has)."""
    order = list(sims)
    ready = [k for k in order if sims[k].ready(clock)]
    after = [k for k in ready if order.index(k) >= turn] or ready
    return after[0] if after else None


def simulate_shared(engines: Mapping[str, EngineWork]) -> dict[str, Simulated]:
    """Predict how engines that share one device serve their work, arriving when its ``Work``
    says (open loop), taking turns one step each (as Halo's in-process engines do): each engine
    schedules as vLLM v1 does — first the running sequences (one token per decode, the next
    chunk of an unfinished prompt), then arrived requests first come first served, up to its
    token budget and sequence cap — and while one steps the others' requests keep arriving, so
    their next steps are larger. Engines with nothing arrived wait. A prompt's last chunk also
    yields the first output token; a fully cached prompt still computes one token."""
    ids = itertools.count()
    calls = [
        CallSpec(next(ids), None, w.arrival_s, key, w) for key, e in engines.items() for w in e.work
    ]
    return forecast(calls, engines).engines
