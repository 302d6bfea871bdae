"""The journal on a fake engine: resume without recomputing, retries of failed instances, side
effects never repeated, changed workflows caught (the real-engine proof: test_durable_*.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from halo_core import (
    ChatResult,
    FailedEarlier,
    InterruptedCallError,
    Journal,
    JournalMismatchError,
    Session,
)
from halo_core.journal.codec import Unjournalable, decode, encode
from halo_core.testing.fake_engine import FakeEngine


def _requests(s: Session) -> int:
    engine: FakeEngine = s.engines["m"]  # type: ignore[assignment]
    return len(engine.requests)


class Effects:
    """A side-effecting tool that counts its executions per argument."""

    def __init__(self) -> None:
        self.runs: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, what: str) -> str:
        with self.lock:
            self.runs[what] = self.runs.get(what, 0) + 1
        return f"sent {what}"


def _workflow(s: Session, effects: Effects, fail: set[int] | None = None) -> Callable[[int], Any]:
    def wf(i: int) -> dict[str, Any]:
        a = s.chat([{"role": "user", "content": f"q{i % 3}"}], node="ask").text
        looked = s.tool(str.upper, a, pure=True, node="lookup")
        sent = s.tool(effects, f"{i}:{looked}", node="send")
        if fail is not None and i in fail:
            raise RuntimeError(f"boom {i}")
        return {"i": i, "answer": a, "sent": sent}

    return wf


def test_codec_round_trips_results_and_refuses_what_it_cannot_encode() -> None:
    r = ChatResult("t", 3, 1, 0, "stop", [1, 2], content="t", tool_calls=[{"id": "x"}])
    value = {"r": r, "pair": (1, "a"), "xs": [1.5, None, True]}
    back = decode(encode(value))
    assert back == value and back["r"] is not r
    with pytest.raises(Unjournalable):
        encode({"s": {1, 2}})
    with pytest.raises(Unjournalable):
        encode({1: "int key"})


@pytest.mark.timeout(60)
def test_a_rerun_returns_finished_instances_without_running_them(
    fake_session: Callable[..., Session], tmp_path: Path
) -> None:
    effects = Effects()
    with Journal(tmp_path / "j.db", run="r1") as j:
        s = fake_session(epoch_window_s=0.01)
        first = s.run(_workflow(s, effects), range(12), journal=j, progress=False)
        assert first.failed == 0 and first.journal is not None
        assert first.journal.resumed == 0 and first.journal.written == 36
        sent = dict(effects.runs)
        requests = _requests(s)
        again = s.run(_workflow(s, effects), range(12), journal=j, progress=False)
    assert again.results == first.results
    assert again.journal is not None and again.journal.resumed == 12
    assert _requests(s) == requests and effects.runs == sent  # nothing ran again
    assert again.instance_uids == [-1] * 12


@pytest.mark.timeout(60)
def test_retry_failed_reruns_only_the_failures_with_their_calls_from_the_journal(
    fake_session: Callable[..., Session], tmp_path: Path
) -> None:
    effects = Effects()
    s = fake_session(epoch_window_s=0.01)
    with Journal(tmp_path / "j.db") as j:
        first = s.run(_workflow(s, effects, fail={2, 7}), range(10), journal=j, progress=False)
    assert [i for i, r in enumerate(first.results) if isinstance(r, Exception)] == [2, 7]
    with Journal(tmp_path / "j.db") as j:  # a plain re-run keeps the failures as they were
        kept = s.run(_workflow(s, effects), range(10), journal=j, progress=False)
    assert isinstance(kept.results[2], FailedEarlier) and "boom 2" in str(kept.results[2])
    requests = _requests(s)
    with Journal(tmp_path / "j.db", retry_failed=True) as j:
        retried = s.run(_workflow(s, effects), range(10), journal=j, progress=False)
    assert retried.failed == 0 and retried.journal is not None
    assert retried.journal.resumed == 8 and retried.journal.answered == 6  # 2 x 3 calls
    assert _requests(s) == requests  # the failed instances' LLM calls came from the journal
    assert set(effects.runs.values()) == {1}  # each send ran once, also for the retried ones
    assert retried.results[7] == {"i": 7, "answer": "len=2", "sent": "sent 7:LEN=2"}


@pytest.mark.timeout(60)
def test_an_interrupted_side_effect_is_never_repeated(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal(path) as j:
        inst = j.instance("0:x", "x")
        ticket, _ = inst.lookup("send", "k", "tool", side_effect=True)
        inst.started(ticket)  # ... and the driver died before the tool returned
        assert j.store.calls("0:x")[0].state == "started"
    with Journal(path) as j:
        inst = j.instance("0:x", "x")
        with pytest.raises(InterruptedCallError, match="never repeats a side effect"):
            inst.lookup("send", "k", "tool", side_effect=True)


@pytest.mark.timeout(60)
def test_a_changed_prompt_is_a_clear_error_unless_the_instance_is_discarded(
    fake_session: Callable[..., Session], tmp_path: Path
) -> None:
    s = fake_session(epoch_window_s=0.01)

    def wf(prompt: str, fail: bool = False) -> Callable[[int], str]:
        def run(i: int) -> str:
            first = s.chat([{"role": "user", "content": f"{prompt}{i}"}], node="ask").text
            if fail:
                raise RuntimeError("fails after its first call")
            return first + s.chat([{"role": "user", "content": "next"}], node="ask").text

        return run

    with Journal(tmp_path / "j.db") as j:
        s.run(wf("a", fail=True), range(3), journal=j, progress=False)
    with Journal(tmp_path / "j.db", retry_failed=True) as j:  # "fixed", with another prompt
        changed = s.run(wf("bb"), range(3), journal=j, progress=False)
    assert all(isinstance(r, JournalMismatchError) for r in changed.results)
    assert "call 0 of node 'ask'" in str(changed.results[0])
    with Journal(tmp_path / "j.db", retry_failed=True, on_mismatch="discard") as j:
        redone = s.run(wf("bb"), range(3), journal=j, progress=False)
    assert redone.results == ["len=3len=4", "len=3len=4", "len=3len=4"]


@pytest.mark.timeout(60)
def test_parallel_calls_match_their_journal_in_any_order(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db") as j:
        inst = j.instance("i", "h")
        tickets = [inst.lookup("fan", k, "llm", side_effect=False)[0] for k in ("a", "b", "c")]
        for t, v in zip(tickets, ("A", "B", "C"), strict=True):
            inst.settle(t, v, ok=True)
    with Journal(tmp_path / "j.db") as j:
        inst = j.instance("i", "h")
        got = [inst.lookup("fan", k, "llm", side_effect=False)[1] for k in ("c", "a", "b")]
    assert got == ["C", "A", "B"]


def test_another_input_under_the_same_key_is_a_mismatch(
    fake_session: Callable[..., Session], tmp_path: Path
) -> None:
    s = fake_session(epoch_window_s=0.01)
    with Journal(tmp_path / "j.db") as j:
        s.run(lambda x: x["v"], [{"v": 1}], journal=j, keys=["row-1"], progress=False)
        again = s.run(lambda x: x["v"], [{"v": 2}], journal=j, keys=["row-1"], progress=False)
    assert isinstance(again.results[0], JournalMismatchError)
    assert "its input" in str(again.results[0])
