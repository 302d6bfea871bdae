"""Several models = several engines in one session, addressed by model key."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from halo_core import ConfigError, EngineConfig, OptimizerConfig, Session, SessionConfig
from halo_core.testing.tiny_llama import build_tiny_llama

pytestmark = pytest.mark.engine


def test_two_engines_serve_their_own_calls_and_count_them_apart(
    tiny_model: Path, tmp_path: Path, halo: Session
) -> None:
    other = build_tiny_llama(tmp_path / "tiny-128", hidden_size=128, seed=1)
    cfg = SessionConfig(
        engines={
            "small": EngineConfig(model=str(other), max_model_len=512),
            "base": EngineConfig(
                model=str(tiny_model), max_model_len=512, max_num_batched_tokens=4096
            ),
        }
    )
    msgs = [{"role": "user", "content": "Name a colour."}]
    with Session(cfg) as s:
        assert cfg.default_model == "small"
        budgets = {k: e.max_num_batched_tokens for k, e in s.engines.items()}
        assert budgets == {"small": 2048, "base": 4096}  # vLLM's CPU default, and as configured

        def wf(i: int) -> tuple[str, str]:
            return s.chat(msgs, max_tokens=6).text, s.chat(msgs, model="base", max_tokens=6).text

        results = s.map(wf, range(8), progress=False)
        counters = s.counters()
    assert counters["small"].requests == 1 and counters["base"].requests == 1  # merged per model
    small, base = results[0]
    assert all(r == (small, base) for r in results)
    assert small != base  # different weights answer differently
    # closing engines leaves the process-wide vLLM state other engines use (guided decoding)
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    rf = {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
    assert halo.chat(msgs, response_format=rf, max_tokens=12).text.startswith('{"ok":')


def test_the_multiprocess_backend_answers_as_the_in_process_engine(
    tiny_model: Path, halo: Session
) -> None:
    """``backend="vllm-mp"`` (the engine core in its own process, as ``vllm serve`` runs it):
    the same greedy outputs and counters; it reports no step shapes, so it is not calibrated."""
    prompts = [
        [{"role": "user", "content": f"Describe item {i} in a few words."}] for i in range(6)
    ]
    cfg = EngineConfig(model=str(tiny_model), backend="vllm-mp", max_model_len=1024)
    with Session(SessionConfig(engines={"mp": cfg})) as s:
        assert s.calibrated == {} and s.engines["mp"].step_records() == []
        got = s.map(lambda m: s.chat(m, max_tokens=12).text, prompts, progress=False)
        requests = s.counters()["mp"].requests
    expected = halo.map(lambda m: halo.chat(m, max_tokens=12).text, prompts, progress=False)
    assert got == expected and requests == len(prompts)


def _plan_wait_answer(s: Session, i: int) -> tuple[str, str]:
    """LLM ("plan") -> a 50 ms tool -> LLM ("answer")."""
    plan = s.chat([{"role": "user", "content": f"Plan step {i}."}], node="plan", max_tokens=8)
    s.tool(time.sleep, 0.05, node="wait")
    answer = s.chat([{"role": "user", "content": f"Answer {i}."}], node="answer", max_tokens=8)
    return plan.text, answer.text


def test_critical_path_priorities_on_a_priority_engine(tiny_model: Path, halo: Session) -> None:
    """With ``critical_path`` on, the engine runs vLLM's priority scheduling: "plan" calls (a
    tool ahead of them) learn their tool time from finished instances; outputs do not change."""
    cfg = SessionConfig(
        engines={
            "p": EngineConfig(
                model=str(tiny_model), max_model_len=1024, scheduling_policy="priority"
            )
        },
        optimizer=OptimizerConfig(critical_path=True),
    )
    with Session(cfg) as s:
        first = s.map(lambda i: _plan_wait_answer(s, i), range(12), progress=False)
        ahead = dict(s.tool_time_ahead.ahead_s)
        second = s.map(lambda i: _plan_wait_answer(s, i), range(12), progress=False)
    assert ahead["plan"] >= 0.05 and ahead["answer"] == 0
    expected = halo.map(lambda i: _plan_wait_answer(halo, i), range(12), progress=False)
    assert first == second == expected
    with (
        pytest.raises(ConfigError, match="scheduling_policy='priority'"),
        halo.optimizing(OptimizerConfig(critical_path=True)),
    ):
        pass
