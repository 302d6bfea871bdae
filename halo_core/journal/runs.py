"""Where the journal meets running calls and instances: a journaled call's future, an instance's
result written before it is returned, and its run from scratch after a mismatch."""

from __future__ import annotations

import concurrent.futures
import logging
from typing import Any

from halo_core.calls import InstanceRef
from halo_core.journal.replay import (
    InstanceJournal,
    InterruptedCallError,
    JournalMismatchError,
    Ticket,
)

log = logging.getLogger("halo")

#: Errors after which ``on_mismatch="discard"`` runs an instance again from scratch.
DISCARDABLE = (JournalMismatchError, InterruptedCallError)


def done(value: Any) -> concurrent.futures.Future[Any]:
    """A future already resolved with ``value`` (a call the journal answered)."""
    fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
    fut.set_result(value)
    return fut


def journaled(
    journal: InstanceJournal, ticket: Ticket, fut: concurrent.futures.Future[Any]
) -> concurrent.futures.Future[Any]:
    """The caller's future for a journaled call: resolved only after the call's result is
    written (a failure is not written), so nothing the caller does next can precede it."""
    out: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def settle(done: concurrent.futures.Future[Any]) -> None:
        error = done.exception()
        try:
            journal.settle(ticket, done.result() if error is None else None, ok=error is None)
        finally:
            if error is None:
                out.set_result(done.result())
            else:
                out.set_exception(error)

    fut.add_done_callback(settle)
    return out


def restarts(inst: InstanceRef, error: Exception) -> bool:
    """Whether a failed journaled instance runs again from scratch: it differed from its
    journal, which says to discard it then (once)."""
    journal = inst.journal
    cause = error if isinstance(error, DISCARDABLE) else error.__cause__
    if journal is None or not journal.discard_on_mismatch or journal.restarted:
        return False
    if not isinstance(cause, DISCARDABLE):
        return False
    log.info("instance %d: %s; its journal is discarded, it runs again", inst.index, cause)
    inst.journal = journal.restart()
    inst.calls_made = 0  # its calls are numbered from the start again
    return True


def finished(inst: InstanceRef, result: Any) -> Any:
    """An instance's result, written to its journal first."""
    if inst.journal is not None:
        inst.journal.finish(inst.index, result)
    return result
