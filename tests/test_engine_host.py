"""The engine host (``backend="vllm-host"``): a session's engines in one process of their own,
fed plain data. Its answers, counters and recovery are held against the in-process engine."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from halo_core import (
    ConfigError,
    EngineConfig,
    OptimizerConfig,
    Session,
    SessionConfig,
)
from halo_core.calls import ChatResult
from halo_core.testing.tiny_llama import build_tiny_llama
from halo_core.testing.vllm_server import DEFAULT_TOOL_PARSER

pytestmark = pytest.mark.engine

SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
]


def _calls() -> list[dict[str, Any]]:
    """Chat calls covering what the host reads back: lengths 1..24 (texts that end inside a
    multi-byte character among them), stop strings, guided JSON, a named tool call."""
    calls: list[dict[str, Any]] = [
        {"messages": [{"role": "user", "content": f"Say something about {i}."}], "max_tokens": i}
        for i in range(1, 25)
    ]
    for stop in (["e"], ["ou", "an"], [" "]):
        calls.append(
            {
                "messages": [{"role": "user", "content": "Tell a story."}],
                "stop": stop,
                "max_tokens": 30,
            }
        )
    rf = {"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA}}
    calls.append({"messages": [{"role": "user", "content": "ok?"}], "response_format": rf})
    calls.append(
        {
            "messages": [{"role": "user", "content": "Look it up."}],
            "tools": TOOLS,
            "tool_choice": {"type": "function", "function": {"name": "lookup"}},
            "max_tokens": 60,
        }
    )
    return calls


def _answers(s: Session) -> list[tuple[Any, ...]]:
    def one(call: dict[str, Any]) -> tuple[Any, ...]:
        r: ChatResult = s.chat(**call)
        calls = [c["function"] for c in r.tool_calls]  # their ids are random, as on vllm serve
        return (r.text, r.token_ids, r.finish_reason, calls, r.content, r.prompt_tokens)

    with s.optimizing(OptimizerConfig.direct()):
        return s.map(one, _calls(), progress=False)


@pytest.fixture(scope="module")
def host(tiny_model: Path) -> Any:
    cfg = EngineConfig(
        model=str(tiny_model),
        backend="vllm-host",
        max_model_len=1024,
        tool_call_parser=DEFAULT_TOOL_PARSER,
        compact_json=True,
    )
    with Session(SessionConfig(engines={"tiny": cfg})) as s:
        yield s


def test_the_host_answers_and_counts_as_the_in_process_engine(
    host: Session, tiny_model: Path
) -> None:
    cfg = host.config.engines["tiny"].model_copy(update={"backend": "vllm", "calibrate": False})
    host.reset()
    before = host.counters()["tiny"]
    got = _answers(host)
    host_counts = host.counters()["tiny"] - before
    with Session(SessionConfig(engines={"tiny": cfg})) as in_process:
        expected = _answers(in_process)
        vllm_counts = in_process.counters()["tiny"]  # vLLM's own stat loggers
        tokenizer = in_process.engines["tiny"]._chat.tokenizer  # type: ignore[attr-defined]
    assert got == expected
    # some texts end inside a multi-byte character: vLLM holds those bytes back, as the host does
    assert any(text != tokenizer.decode(ids, skip_special_tokens=True) for text, ids, *_ in got)
    assert got[-1][3], got[-1]  # the named tool's call, parsed as vllm serve parses it
    assert host_counts.requests == vllm_counts.requests == len(_calls())
    assert host_counts.prompt_tokens == vllm_counts.prompt_tokens
    assert host_counts.generation_tokens == vllm_counts.generation_tokens
    assert host_counts.prefix_cache_hits == vllm_counts.prefix_cache_hits
    assert host_counts.steps > 0 and host.engines["tiny"].step_records()


def test_the_host_is_one_process_for_several_models(tiny_model: Path, tmp_path: Path) -> None:
    other = build_tiny_llama(tmp_path / "tiny-128", hidden_size=128, seed=1)
    engines = {
        "small": EngineConfig(model=str(other), backend="vllm-host", max_model_len=512),
        "base": EngineConfig(model=str(tiny_model), backend="vllm-host", max_model_len=512),
    }
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    msgs = [{"role": "user", "content": "Name a colour."}]
    with Session(
        SessionConfig(engines=engines, optimizer=OptimizerConfig(engine_turns="drain"))
    ) as s:
        hosts = [p for p in psutil.Process().children() if p.pid not in before]
        assert len(hosts) == 1 and "halo_core.backends.host.loop" in " ".join(hosts[0].cmdline())

        def wf(i: int) -> tuple[str, str]:
            return s.chat(msgs, max_tokens=6).text, s.chat(msgs, model="base", max_tokens=6).text

        results = s.map(wf, range(8), progress=False)
        counters = s.counters()
    assert counters["small"].requests == 1 and counters["base"].requests == 1
    assert len(set(results)) == 1 and results[0][0] != results[0][1]
    assert not hosts[0].is_running() or hosts[0].status() == psutil.STATUS_ZOMBIE


def test_a_killed_host_is_restarted_and_its_requests_sent_again(host: Session) -> None:
    prompts = [[{"role": "user", "content": f"Item {i}, briefly."}] for i in range(32)]
    with host.optimizing(OptimizerConfig.direct()):
        expected = host.map(lambda m: host.chat(m, max_tokens=24).text, prompts, progress=False)
    engine: Any = host.engines["tiny"]
    proc = engine.host.link._proc
    killed = False

    def killer() -> None:  # SIGKILL the host while requests are in it
        nonlocal killed
        while not engine._pending:
            time.sleep(0.001)
        proc.kill()
        killed = True

    t = threading.Thread(target=killer)
    t.start()
    with host.optimizing(OptimizerConfig.direct()):
        got = host.map(lambda m: host.chat(m, max_tokens=24).text, prompts, progress=False)
    t.join()
    assert killed and engine.deaths == 1 and engine.host.link._proc is not proc
    assert got == expected


def test_a_host_that_cannot_build_its_engine_fails_fast_with_what_to_change(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    cfg = EngineConfig(model=str(empty), backend="vllm-host", calibrate=False)
    with pytest.raises(ConfigError, match="not-a-model"):
        Session(SessionConfig(engines={"x": cfg}))
