"""One instance's calls against what the journal holds from earlier runs.

A call is identified by its instance, its node and its ordinal (the calls of one node numbered
in issue order), and carries its request key. On a re-run each new call is matched to an
unconsumed journaled call of the same node with the same request key — by key, not by
ordinal, so parallel branches that issue in another order still match — and answered from the
journal. A call that matches nothing where the journal holds a different request at the same
place of a node that issued its calls one at a time means the workflow changed:
:class:`JournalMismatchError`. A side-effecting tool call that began before a crash and left
no result may or may not have run: it is never run again (:class:`InterruptedCallError`).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from halo_core.errors import HaloError
from halo_core.journal.codec import Unjournalable, decode, encode
from halo_core.journal.store import CallRow, InstanceRow, Store

Kind = Literal["llm", "tool"]


class JournalMismatchError(HaloError):
    """A re-run instance differs from its journal (the workflow, its prompts or its input
    changed since the journal was written)."""

    def __init__(self, instance: str, what: str):
        self.instance = instance
        super().__init__(
            f"instance {instance!r}: {what} differs from the journal's — the workflow, its "
            "prompts or its input changed since the journal was written. Use a new run id, or "
            "discard this instance's journal (Journal(..., on_mismatch='discard')) to run it "
            "again from scratch"
        )

    @classmethod
    def call(cls, instance: str, node: str, ordinal: int, journaled: str, now: str) -> Self:
        """A call whose request differs from the journal's at the same place."""
        return cls(
            instance,
            f"call {ordinal} of node {node!r} (request {now[:12]}, journaled {journaled[:12]})",
        )


class InterruptedCallError(HaloError):
    """A side-effecting tool call of an earlier run has no journaled result: it may have run,
    so Halo does not run it again."""

    def __init__(self, instance: str, node: str, why: str):
        self.instance, self.node = instance, node
        super().__init__(
            f"instance {instance!r}: side-effecting tool call {node!r} {why}; Halo never repeats "
            "a side effect. Check the tool's target, then discard this instance's journal "
            "(Journal(..., on_mismatch='discard') with retry_failed=True) to run it again"
        )


@dataclass(frozen=True)
class Ticket:
    """A call's place in its instance's journal."""

    node: str
    ordinal: int
    request_key: str
    kind: Kind
    sequential: bool


#: ``lookup``'s answer when the journal has no result: run the call.
MISS: Any = object()


@dataclass
class Counts:
    """What the journal did in one run (shared by its instances; guarded by ``lock``)."""

    answered: int = 0  # calls answered from the journal
    written: int = 0  # call results written
    unjournalable: int = 0  # calls whose result had no codec (rerun on resume)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **deltas: float) -> None:
        with self.lock:
            for k, v in deltas.items():
                setattr(self, k, getattr(self, k) + v)


class InstanceJournal:
    """The journal of one instance in one run: answers its calls from earlier runs and
    records the ones it executes. Thread-safe (parallel branches call from many threads)."""

    def __init__(
        self,
        key: str,
        input_hash: str,
        store: Store,
        counts: Counts,
        *,
        discard_on_mismatch: bool = False,
        restarted: bool = False,
    ):
        self.key, self.input_hash = key, input_hash
        #: ``on_mismatch="discard"``: a mismatch restarts the instance from scratch (once).
        self.discard_on_mismatch = discard_on_mismatch
        self.restarted = restarted
        self._store = store
        self._counts = counts
        prior = store.calls(key)
        self._lock = threading.Lock()
        self._prior: dict[str, list[CallRow]] = defaultdict(list)
        for row in sorted(prior, key=lambda r: (r.node, r.ordinal)):
            self._prior[row.node].append(row)
        self._consumed: set[tuple[str, int]] = set()
        self._issued: Counter[str] = Counter()
        self._in_flight: Counter[str] = Counter()
        self._started: set[tuple[str, int]] = set()
        self._next: dict[str, int] = {n: rows[-1].ordinal + 1 for n, rows in self._prior.items()}

    def restart(self) -> InstanceJournal:
        """Forget this instance's journal; a fresh one for running it again from scratch."""
        self._store.discard(self.key)
        return InstanceJournal(
            self.key,
            self.input_hash,
            self._store,
            self._counts,
            discard_on_mismatch=self.discard_on_mismatch,
            restarted=True,
        )

    def finish(self, position: int, result: Any) -> None:
        """Record the finished instance: its result, or its exception as its error (a result
        without a codec is not kept: the instance runs again on resume, its calls answered
        from the journal)."""
        if isinstance(result, BaseException):
            row = InstanceRow(
                self.key,
                position,
                self.input_hash,
                "failed",
                None,
                f"{type(result).__name__}: {result}",
            )
        else:
            try:
                text: str | None = encode(result)
            except Unjournalable:
                text = None
            row = InstanceRow(self.key, position, self.input_hash, "done", text, None)
        self._store.finish(row)

    def lookup(
        self, node: str, request_key: str, kind: Kind, side_effect: bool
    ) -> tuple[Ticket, Any]:
        """This call's ticket and its journaled result, or :data:`MISS` (run it, then
        :meth:`settle`)."""
        with self._lock:
            position = self._issued[node]
            self._issued[node] += 1
            sequential = self._in_flight[node] == 0
            rows = self._prior.get(node, [])
            match = next(
                (
                    r
                    for r in rows
                    if r.request_key == request_key and (node, r.ordinal) not in self._consumed
                ),
                None,
            )
            if match is not None:
                self._consumed.add((node, match.ordinal))
                ticket = Ticket(node, match.ordinal, request_key, kind, sequential)
                if match.state == "done" and match.result is not None:
                    self._counts.add(answered=1)
                    return ticket, decode(match.result)
                if side_effect:
                    why = (
                        "began in an earlier run and left no result"
                        if match.state == "started"
                        else "ran in an earlier run but its result could not be journaled"
                    )
                    raise InterruptedCallError(self.key, node, why)
            else:
                if position < len(rows):
                    there = rows[position]
                    if (
                        (node, there.ordinal) not in self._consumed
                        and there.sequential
                        and sequential
                    ):
                        raise JournalMismatchError.call(
                            self.key, node, there.ordinal, there.request_key, request_key
                        )
                ordinal = self._next.get(node, 0)
                self._next[node] = ordinal + 1
                ticket = Ticket(node, ordinal, request_key, kind, sequential)
            self._in_flight[node] += 1
            return ticket, MISS

    def started(self, ticket: Ticket) -> None:
        """A side-effecting tool call is about to run: written before it runs."""
        self._put(ticket, "started", None)
        with self._lock:
            self._started.add((ticket.node, ticket.ordinal))

    def around(self, ticket: Ticket, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` journaled where it runs: ``started`` written just before, the result just
        after (for side-effecting tools, so the window in which a crash leaves a side effect
        without its result is as short as it can be)."""
        if inspect.iscoroutinefunction(fn):

            async def arun(*args: Any, **kwargs: Any) -> Any:
                with self._running(ticket) as result:
                    result.append(await fn(*args, **kwargs))
                return result[0]

            return functools.update_wrapper(arun, fn)

        def run(*args: Any, **kwargs: Any) -> Any:
            with self._running(ticket) as result:
                result.append(fn(*args, **kwargs))
            return result[0]

        return functools.update_wrapper(run, fn)

    @contextlib.contextmanager
    def _running(self, ticket: Ticket) -> Iterator[list[Any]]:
        """``started`` on entry; on exit the value the block appended, or the failure."""
        self.started(ticket)
        result: list[Any] = []
        try:
            yield result
        except BaseException:
            self.settle(ticket, None, ok=False)
            raise
        self.settle(ticket, result[0], ok=True)

    def settle(self, ticket: Ticket, value: Any, ok: bool) -> None:
        """The call ended: write its result if it succeeded (a failure is not journaled, so a
        re-run tries it again)."""
        with self._lock:
            self._in_flight[ticket.node] -= 1
            began = (ticket.node, ticket.ordinal) in self._started
            self._started.discard((ticket.node, ticket.ordinal))
        if not ok:
            if began:  # it raised: not a completed side effect, a retry may run it again
                self._store.delete_call(self.key, ticket.node, ticket.ordinal)
            return
        try:
            text = encode(value)
        except Unjournalable:
            self._counts.add(unjournalable=1)
            self._put(ticket, "unjournalable", None)
            return
        self._put(ticket, "done", text)

    def _put(self, ticket: Ticket, state: Any, result: str | None) -> None:
        row = CallRow(
            ticket.node,
            ticket.ordinal,
            ticket.request_key,
            ticket.kind,
            state,
            result,
            ticket.sequential,
        )
        self._store.put_call(self.key, row)
        self._counts.add(written=state == "done")
