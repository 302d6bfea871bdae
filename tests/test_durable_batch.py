"""Durable batches on the real engine (tiny model), 1,000 instances of ``examples/durable_batch.py``
(an LLM call, a pure SQLite tool, a side-effecting tool that counts its executions in a file):
injected faults fail only their own instances, a dying engine is restarted, a driver killed
with SIGKILL resumes from its journal without recomputing or repeating a side effect, and
``--retry-failed`` re-runs exactly the failures — through ``halo batch`` over Parquet rows."""

from __future__ import annotations

import collections
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

import halo_adapters.langgraph as halo_lg
from examples import durable_batch as durable_app
from halo_core import Journal, Session

N = 1000
ROOT = Path(__file__).resolve().parent.parent
FAULTY = {r["id"] for r in durable_app.make_rows(N) if r["faulty"] and r["text"]}
MALFORMED = {r["id"] for r in durable_app.make_rows(N) if not r["text"]}

pytestmark = [pytest.mark.engine, pytest.mark.slow]


@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    env = {
        "DURABLE_DB": str(durable_app.make_db(tmp_path / "prices.db")),
        "DURABLE_EFFECTS": str(tmp_path / "effects.txt"),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    yield env


def _effects(path: str | Path) -> collections.Counter[str]:
    p = Path(path)
    return collections.Counter(p.read_text().split()) if p.exists() else collections.Counter()


def _die_in_the_10th_step(engine: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[[], bool]:
    """Make the engine die in its 10th step of the run: the engine host's process is killed
    (``vllm-host``), or the in-process engine core's step raises (``vllm``); returns whether
    it was replaced since."""
    steps = [0]
    if hasattr(engine, "host"):
        proc, real_report = engine.host.link._proc, engine.stepped

        def report_then_kill(msg: Any) -> None:
            steps[0] += 1
            if steps[0] == 10:
                proc.kill()
            real_report(msg)

        monkeypatch.setattr(engine, "stepped", report_then_kill)
        return lambda: engine.host.link._proc is not proc
    core = engine._engine
    real_step = core.step

    def dying_step() -> Any:
        steps[0] += 1
        if steps[0] == 10:
            raise RuntimeError("engine core killed by the test")
        return real_step()

    monkeypatch.setattr(core, "step", dying_step)
    return lambda: engine._engine is not core


@pytest.mark.timeout(900)
def test_faults_and_a_dying_engine_fail_only_their_own_instances(
    halo: Session, app_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = durable_app.make_rows(N)
    engine: Any = halo.engines["tiny"]
    deaths = engine.deaths
    restarted = _die_in_the_10th_step(engine, monkeypatch)
    with Journal(tmp_path / "j.db") as j:
        report = halo_lg.batch(
            durable_app.graph, rows, session=halo, journal=j, keys=[r["id"] for r in rows]
        )
    assert engine.deaths == deaths + 1 and restarted()
    failed = {rows[i]["id"]: r for i, r in enumerate(report.results) if isinstance(r, Exception)}
    assert set(failed) == FAULTY | MALFORMED
    for key, error in failed.items():  # each failed instance carries its own error
        own = "the record service rejected" if key in FAULTY else "malformed input"
        assert own in str(error) and key in str(error)
    done = [r for r in report.results if not isinstance(r, Exception)]
    assert len(done) == N - len(FAULTY) - len(MALFORMED)
    assert all(r["receipt"].startswith(f"recorded {r['id']}") for r in done)
    effects = _effects(app_env["DURABLE_EFFECTS"])
    assert set(effects) == {r["id"] for r in done} and max(effects.values()) == 1


def _halo_batch(
    env: dict[str, str], *args: str, wait: bool = True
) -> subprocess.CompletedProcess[str] | subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "halo_adapters.app", "batch", "examples.durable_batch:graph"]
    full = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    if not wait:
        return subprocess.Popen(
            [*cmd, *args],
            cwd=ROOT,
            env=full,
            text=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    done = subprocess.run(
        [*cmd, *args], cwd=ROOT, env=full, text=True, capture_output=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _finished(journal: Path) -> int:
    if not journal.exists():
        return 0
    with sqlite3.connect(journal, timeout=30) as con:
        try:
            return int(con.execute("SELECT count(*) FROM instances").fetchone()[0])
        except sqlite3.OperationalError:  # the table is not there yet
            return 0


def _side_effect_in_flight(journal: Path) -> bool:
    with sqlite3.connect(journal, timeout=30) as con:
        return bool(con.execute("SELECT count(*) FROM calls WHERE state='started'").fetchone()[0])


def _kill_mid_run(driver: subprocess.Popen[str], journal: Path) -> None:
    """SIGKILL the driver once a third of the instances finished, at a moment when no
    side-effecting tool is between its start and its journaled result (frozen with SIGSTOP to
    look): a kill inside that window fails the instance with InterruptedCallError — by design,
    Halo never repeats a side effect it cannot prove undone — which this test does not want."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and driver.poll() is None:
        if _finished(journal) >= N // 3:
            driver.send_signal(signal.SIGSTOP)
            if not _side_effect_in_flight(journal):
                driver.send_signal(signal.SIGKILL)
                driver.wait()
                return
            driver.send_signal(signal.SIGCONT)
        time.sleep(0.05)
    raise AssertionError("the driver ended (or stalled) before it could be killed")


def _results(path: Path) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in pq.read_table(path).to_pylist()}


def _line(stdout: str, pattern: str) -> list[int]:
    found = re.search(pattern, stdout)
    assert found, f"no {pattern!r} in:\n{stdout}"
    return [int(g) for g in found.groups()]


@pytest.mark.timeout(1800)
def test_a_killed_driver_resumes_without_recomputing_or_repeating_a_side_effect(
    app_env: dict[str, str], tmp_path: Path
) -> None:
    rows = tmp_path / "rows.parquet"
    pd.DataFrame(durable_app.make_rows(N)).to_parquet(rows)
    common = ["--input", str(rows), "--key", "id", "--model", "tiny", "--no-progress"]

    # the uninterrupted run: what the interrupted one must end with
    ref_env = {**app_env, "DURABLE_EFFECTS": str(tmp_path / "ref-effects.txt")}
    _halo_batch(ref_env, *common, "--output", str(tmp_path / "ref.parquet"))
    ref = _results(tmp_path / "ref.parquet")

    journal, out = tmp_path / "j.db", tmp_path / "out.parquet"
    durable = [*common, "--output", str(out), "--journal", str(journal)]
    driver = _halo_batch(app_env, *durable, wait=False)
    assert isinstance(driver, subprocess.Popen)
    _kill_mid_run(driver, journal)
    before = _finished(journal)
    assert N // 3 <= before < N and not out.exists()

    resumed = _halo_batch(app_env, *durable)
    assert isinstance(resumed, subprocess.CompletedProcess)
    got = _results(out)
    assert list(got) == list(ref)  # one row per input, in input order
    for key, r in ref.items():
        assert got[key]["status"] == r["status"], key
        if r["status"] == "done":
            assert got[key]["output"] == r["output"], key
        else:  # failed before the kill (returned from the journal) or after, with its error
            assert r["error"].split(": ", 1)[1] in got[key]["error"], key
    done_before, failed_before = _line(
        resumed.stdout, r"journal: (\d+) instances resumed, (\d+) failed"
    )
    assert done_before + failed_before == before  # every finished instance came back as it was
    print(f"\nkilled after {before} of {N} instances; the re-run:\n{resumed.stdout}")
    [requested, _] = _line(resumed.stdout, r"LLM calls\s+(\d+) requested, (\d+) executed")
    assert requested <= N - before  # no finished instance asked the engine again
    effects = _effects(app_env["DURABLE_EFFECTS"])
    assert max(effects.values()) == 1  # no side effect ran twice, across the kill
    assert set(effects) == {k for k, r in ref.items() if r["status"] == "done"}

    # fix the faulty tool, re-run only the failures
    fixed = {**app_env, "DURABLE_FIXED": "1"}
    retried = _halo_batch(fixed, *durable, "--retry-failed")
    assert isinstance(retried, subprocess.CompletedProcess)
    failures = {k for k, r in got.items() if r["status"] == "failed"}
    assert failures == FAULTY | MALFORMED
    [back] = _line(retried.stdout, r"journal: (\d+) instances resumed")
    assert back == N - len(failures)  # exactly the failed instances ran again
    final = _results(out)
    assert {k for k, r in final.items() if r["status"] == "failed"} == MALFORMED
    effects = _effects(app_env["DURABLE_EFFECTS"])
    assert max(effects.values()) == 1 and set(FAULTY) <= set(effects)


@pytest.mark.timeout(900)
def test_an_engine_core_process_killed_mid_run_is_restarted(
    tiny_model: Path, app_env: dict[str, str]
) -> None:
    import psutil

    from halo_core import EngineConfig, SessionConfig

    rows = durable_app.make_rows(200)
    cfg = EngineConfig(model=str(tiny_model), backend="vllm-mp", max_model_len=1024)
    before = {p.pid for p in psutil.Process().children(recursive=True)}  # e.g. a vllm serve
    with Session(SessionConfig(engines={"tiny": cfg})) as s:
        children = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
        cores = [p for p in children if "EngineCor" in p.name() + " ".join(p.cmdline())]
        assert len(cores) == 1, [(p.name(), p.cmdline()) for p in children]
        engine: Any = s.engines["tiny"]
        killed = False
        real_step = engine._engine.step

        def step_then_kill() -> Any:  # SIGKILL the core process while requests are in it
            nonlocal killed
            if not killed and engine._live:
                killed = True
                cores[0].kill()
                cores[0].wait(30)
            return real_step()

        engine._engine.step = step_then_kill
        report = halo_lg.batch(durable_app.graph, rows, session=s)
        assert killed and engine.deaths == 1
        errors = {
            rows[i]["id"]: r for i, r in enumerate(report.results) if isinstance(r, Exception)
        }
        expected = {r["id"] for r in rows if r["faulty"] or not r["text"]}
        assert set(errors) == expected, {k: str(e) for k, e in errors.items() if k not in expected}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", ["vllm-host", "vllm"])
def test_an_engine_that_keeps_dying_fails_its_calls_with_an_error_that_says_so(
    tiny_model: Path, backend: str
) -> None:
    from halo_core import EngineConfig, EngineDiedError, LLMCallError, SessionConfig

    cfg = EngineConfig(
        model=str(tiny_model), backend=backend, max_model_len=1024, max_restarts=0, calibrate=False
    )
    with Session(SessionConfig(engines={"tiny": cfg})) as s:
        engine: Any = s.engines["tiny"]
        if backend == "vllm-host":
            engine.host.link._proc.kill()  # the host process, SIGKILLed
        else:

            def dead() -> Any:
                raise RuntimeError("engine core killed by the test")

            engine._engine.step = dead
        report = s.run(lambda i: s.chat([{"role": "user", "content": f"q{i}"}]).text, range(4))
        assert engine.deaths == 1 and report.failed == 4
        for error in report.results:
            assert isinstance(error, LLMCallError) and isinstance(error.__cause__, EngineDiedError)
            assert "died 1 times" in str(error) and "max_restarts" in str(error)
        with pytest.raises(LLMCallError, match="is not restarted again"):
            s.chat([{"role": "user", "content": "later"}])


@pytest.mark.timeout(300)
def test_halo_run_resumes_from_its_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from halo_adapters.app.cli import main

    args = ["run", "--model", "tiny", "--n", "8", "--no-progress", "--samples", "0"]
    journal = ["--journal", str(tmp_path / "j.db")]
    assert main([*args, *journal]) == 0
    assert "journal: 0 instances resumed" in capsys.readouterr().out
    assert main([*args, *journal]) == 0
    out = capsys.readouterr().out
    assert "journal: 8 instances resumed" in out and "LLM calls        0 requested" in out
    assert main([*args, "--retry-failed"]) == 2  # a retry without a journal: what to change
    assert "give --journal" in capsys.readouterr().err
