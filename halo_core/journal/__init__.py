"""Durable batches: a journal of finished instances and completed calls that a re-run replays.

>>> from halo_core import Journal, Session                            # doctest: +SKIP
>>> with Session(model="smollm2") as s, Journal("batch.db", run="nightly") as j:
...     report = s.run(fn, rows, journal=j, keys=[r["id"] for r in rows])

Re-running the same batch with the same journal returns finished instances without running
them; unfinished ones run again and every call the journal holds is answered from it (no engine
request, no tool run); a side-effecting tool never runs twice. ``retry_failed=True`` runs the
instances that failed again (their completed calls still come from the journal).
"""

from __future__ import annotations

import collections
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from halo_core.errors import ConfigError, HaloError
from halo_core.journal.codec import Codec, Unjournalable, decode, register
from halo_core.journal.replay import (
    MISS,
    Counts,
    InstanceJournal,
    InterruptedCallError,
    JournalMismatchError,
    Ticket,
)
from halo_core.journal.store import Store

__all__ = [
    "MISS",
    "Codec",
    "FailedEarlier",
    "InstanceJournal",
    "InterruptedCallError",
    "Journal",
    "JournalCounts",
    "JournalMismatchError",
    "Ticket",
    "Unjournalable",
    "input_hash",
    "register",
]


class FailedEarlier(HaloError):
    """An instance that failed in an earlier run of the journal (returned as its result unless
    the run retries failures)."""

    def __init__(self, key: str, error: str):
        self.key, self.error = key, error
        super().__init__(
            f"instance {key!r} failed in an earlier run: {error} (retry_failed=True runs it again)"
        )


@dataclass(frozen=True)
class JournalCounts:
    """What the journal did in one run: instances returned from it (``resumed``: finished,
    ``failed_before``: failed earlier and not retried), calls it answered and wrote, the time
    spent in SQLite writing rows (calls and instances), and its size on disk after the run."""

    resumed: int
    failed_before: int
    answered: int
    written: int
    unjournalable: int
    write_s: float
    size_bytes: int

    def format(self) -> str:
        """One line for a run report."""
        return (
            f"journal: {self.resumed} instances resumed, {self.failed_before} failed before, "
            f"{self.answered} calls answered from it, {self.written} written "
            f"({self.write_s:.2f} s in SQLite), {self.size_bytes / 1e6:.1f} MB"
        )


def input_hash(value: Any) -> str:
    """A stable hash of an input (JSON with sorted keys; other values by ``repr``)."""
    blob = json.dumps(value, sort_keys=True, ensure_ascii=False, default=repr)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class _Start:
    """How one input of a run starts: with a result from the journal, or to run."""

    key: str
    input_hash: str
    result: Any = MISS
    journal: InstanceJournal | None = None


class Journal:
    """A batch's journal in one SQLite file (WAL), under a run id the user names.

    ``retry_failed``: instances that failed in an earlier run run again (else their stored
    error is their result). ``on_mismatch``: what to do with an instance whose re-run differs
    from its journal (another input under the same key, or a call whose request changed):
    ``"error"`` fails that instance with :class:`JournalMismatchError`; ``"discard"`` forgets
    its journal and runs it from scratch.
    """

    def __init__(
        self,
        path: str | Path,
        run: str = "default",
        *,
        retry_failed: bool = False,
        on_mismatch: Literal["error", "discard"] = "error",
    ):
        if on_mismatch not in ("error", "discard"):
            raise ConfigError(f"on_mismatch={on_mismatch!r}: use 'error' or 'discard'")
        self.store = Store(path, run)
        self.retry_failed = retry_failed
        self.on_mismatch = on_mismatch
        self._counts = Counts()
        self._resumed = self._failed_before = 0
        self._write_s0 = 0.0

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file (everything written is already committed)."""
        self.store.close()

    # ---- a run -------------------------------------------------------------------------------
    @staticmethod
    def keys(
        inputs: Sequence[Any], keys: Sequence[Any] | None, hashes: Sequence[str] | None = None
    ) -> list[str]:
        """Each input's instance key: the user's (a row id), else position and input hash
        (``hashes``, if the caller has them)."""
        if keys is None:
            hashes = hashes or [input_hash(x) for x in inputs]
            return [f"{i}:{h}" for i, h in enumerate(hashes)]
        if len(keys) != len(inputs):
            raise ConfigError(f"{len(keys)} keys for {len(inputs)} inputs: give one key per input")
        out = [str(k) for k in keys]
        dup, count = collections.Counter(out).most_common(1)[0] if out else ("", 0)
        if count > 1:
            raise ConfigError(f"instance key {dup!r} is given twice: keys must be unique")
        return out

    def begin(self, inputs: Sequence[Any], keys: Sequence[Any] | None) -> list[_Start]:
        """How each input starts: finished instances with their journaled result, the others
        with their instance journal."""
        self._counts = Counts()
        self._resumed = self._failed_before = 0
        self._write_s0 = self.store.write_s
        done = self.store.instances()
        starts = []
        hashes = [input_hash(x) for x in inputs]  # once per input: keys and change checks
        for key, h in zip(self.keys(inputs, keys, hashes), hashes, strict=True):
            start = _Start(key, h)
            row = done.get(key)
            if row is not None and row.input_hash != start.input_hash:
                if self.on_mismatch == "discard":
                    self.store.discard(key)
                    row = None
                else:
                    what = f"its input (hash {start.input_hash}, journaled {row.input_hash})"
                    start.result = JournalMismatchError(key, what)
                    starts.append(start)
                    continue
            if row is not None and row.status == "done" and row.result is not None:
                start.result = decode(row.result)
                self._resumed += 1
            elif row is not None and row.status == "failed" and not self.retry_failed:
                start.result = FailedEarlier(key, row.error or "")
                self._failed_before += 1
            else:
                start.journal = self.instance(key, start.input_hash)
            starts.append(start)
        return starts

    def instance(self, key: str, input_hash: str) -> InstanceJournal:
        """The journal of instance ``key`` for this run (its earlier calls loaded)."""
        return InstanceJournal(
            key,
            input_hash,
            self.store,
            self._counts,
            discard_on_mismatch=self.on_mismatch == "discard",
        )

    def counts(self) -> JournalCounts:
        """What the journal did in the current (or last) run."""
        c = self._counts
        return JournalCounts(
            self._resumed,
            self._failed_before,
            c.answered,
            c.written,
            c.unjournalable,
            self.store.write_s - self._write_s0,
            self.store.size_bytes(),
        )
