"""The journal's storage: one SQLite file in WAL mode.

SQLite because it is embedded (no server to run beside a batch), transactional, safe against
the writing process being killed (WAL with ``synchronous=NORMAL`` loses no committed transaction
when the process dies; only a power loss can drop the last ones), and readable by any tool
while a run writes. Every write commits at once, so what the journal holds is what survives a
crash. Rows are keyed by a run id the user names, so one file can hold many runs.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

SCHEMA_VERSION = "1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS instances (
    run TEXT NOT NULL, key TEXT NOT NULL, position INTEGER NOT NULL, input_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    result TEXT, error TEXT, at REAL NOT NULL,
    PRIMARY KEY (run, key));
CREATE TABLE IF NOT EXISTS calls (
    run TEXT NOT NULL, instance TEXT NOT NULL, node TEXT NOT NULL, ordinal INTEGER NOT NULL,
    request_key TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('llm', 'tool')),
    state TEXT NOT NULL CHECK (state IN ('started', 'done', 'unjournalable')),
    result TEXT, sequential INTEGER NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (run, instance, node, ordinal));
"""

Status = Literal["done", "failed"]
CallState = Literal["started", "done", "unjournalable"]


@dataclass(frozen=True)
class InstanceRow:
    """A finished instance: its result (JSON text) or its error."""

    key: str
    position: int
    input_hash: str
    status: Status
    result: str | None
    error: str | None


@dataclass(frozen=True)
class CallRow:
    """One call of one instance. ``state``: ``started`` (a side-effecting tool that began and
    has no result yet), ``done`` (``result`` holds it), ``unjournalable`` (it ran, but its result
    has no codec). ``sequential``: no other call of the same node and instance was in flight
    when it was issued, so its place in the node's order is fixed."""

    node: str
    ordinal: int
    request_key: str
    kind: Literal["llm", "tool"]
    state: CallState
    result: str | None
    sequential: bool


class Store:
    """Thread-safe access to one journal file for one run id."""

    def __init__(self, path: str | Path, run: str):
        self.path = Path(path)
        self.run = run
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        #: Seconds spent in SQLite writing rows (inside the lock, so not counting waits for it).
        self.write_s = 0.0
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            elif row[0] != SCHEMA_VERSION:
                raise ValueError(
                    f"{self.path} is a Halo journal of schema {row[0]}, this Halo writes "
                    f"{SCHEMA_VERSION}: use a new journal file"
                )

    def close(self) -> None:
        """Checkpoint the WAL into the file and close it."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()

    @contextlib.contextmanager
    def _timed(self) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.write_s += time.perf_counter() - t0

    def size_bytes(self) -> int:
        """The journal's size on disk (file and WAL)."""
        wal = self.path.with_name(self.path.name + "-wal")
        return sum(p.stat().st_size for p in (self.path, wal) if p.exists())

    # ---- instances ---------------------------------------------------------------------------
    def instances(self) -> dict[str, InstanceRow]:
        """Every finished instance of this run, by key."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, position, input_hash, status, result, error FROM instances "
                "WHERE run=?",
                (self.run,),
            ).fetchall()
        return {r[0]: InstanceRow(*r) for r in rows}

    def finish(self, row: InstanceRow) -> None:
        """Record a finished instance (replacing an earlier failure)."""
        with self._lock, self._timed():
            self._db.execute(
                "INSERT OR REPLACE INTO instances VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self.run,
                    row.key,
                    row.position,
                    row.input_hash,
                    row.status,
                    row.result,
                    row.error,
                    time.time(),
                ),
            )

    def discard(self, key: str) -> None:
        """Forget an instance: its result and every call it made."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM instances WHERE run=? AND key=?", (self.run, key))
            self._db.execute("DELETE FROM calls WHERE run=? AND instance=?", (self.run, key))
            self._db.execute("COMMIT")

    # ---- calls -------------------------------------------------------------------------------
    def calls(self, instance: str) -> list[CallRow]:
        """The calls ``instance`` made in earlier runs, by node and ordinal."""
        with self._lock:
            rows = self._db.execute(
                "SELECT node, ordinal, request_key, kind, state, result, sequential FROM calls "
                "WHERE run=? AND instance=? ORDER BY node, ordinal",
                (self.run, instance),
            ).fetchall()
        return [CallRow(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6])) for r in rows]

    def put_call(self, instance: str, row: CallRow) -> None:
        """Record (or update) one call."""
        with self._lock, self._timed():
            self._db.execute(
                "INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self.run,
                    instance,
                    row.node,
                    row.ordinal,
                    row.request_key,
                    row.kind,
                    row.state,
                    row.result,
                    int(row.sequential),
                    time.time(),
                ),
            )

    def delete_call(self, instance: str, node: str, ordinal: int) -> None:
        """Forget one call (a side-effecting tool that raised)."""
        with self._lock:
            self._db.execute(
                "DELETE FROM calls WHERE run=? AND instance=? AND node=? AND ordinal=?",
                (self.run, instance, node, ordinal),
            )
