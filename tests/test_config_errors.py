"""Wrong configuration fails fast with a message that says what to change; shutdown cleans up."""

from __future__ import annotations

import threading
from pathlib import Path

import pydantic
import pytest

from halo_core import ConfigError, EngineConfig, OptimizerConfig, Session, SessionConfig


def _halo_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("halo-")]


def test_missing_model_directory_names_the_engine(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'main'.*not a directory"):
        Session(SessionConfig(engines={"main": EngineConfig(model=str(tmp_path / "nope"))}))


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"kv_cache_gib": 0}, "kv_cache_gib"),
        ({"max_model_len": 4}, "max_model_len"),
        ({"block_size": 20}, "multiple of 16"),
        ({"dtype": "fp8"}, "dtype"),
        ({"max_num_seq": 4}, "max_num_seq"),  # a typo is an error, not a silent default
    ],
)
def test_impossible_engine_settings_are_rejected(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=needle):
        EngineConfig(model="tiny", **kwargs)  # type: ignore[arg-type]


def test_a_session_needs_an_engine() -> None:
    with pytest.raises(pydantic.ValidationError, match="at least one"):
        SessionConfig(engines={})
    with pytest.raises(ConfigError, match="either"):
        Session()


def test_optimizer_rules_are_known_and_listed_once() -> None:
    with pytest.raises(pydantic.ValidationError, match="'dedup', 'memo', 'prefix_groups'"):
        OptimizerConfig(rules=("dedup", "dedupe"))  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError, match="names a rule twice"):
        OptimizerConfig(rules=("memo", "memo"))
    assert OptimizerConfig.direct().rules == () and not OptimizerConfig.direct().defer


def test_every_configurable_rule_exists() -> None:
    from typing import get_args

    from halo_core.config import RuleName
    from halo_core.optimizer import Optimizer

    assert set(Optimizer(OptimizerConfig(), {}).rules) == set(get_args(RuleName))


def test_an_unknown_backend_names_the_registered_ones() -> None:
    with pytest.raises(ConfigError, match=r"'main': unknown backend 'tpu-pod'.*'ray'.*'vllm'"):
        Session(SessionConfig(engines={"main": EngineConfig(model="tiny", backend="tpu-pod")}))


@pytest.mark.engine
def test_context_longer_than_the_model_fails_at_start_and_leaves_nothing(tiny_model: Path) -> None:
    before = _halo_threads()
    with pytest.raises(ConfigError, match="max_model_len"):
        Session(model=str(tiny_model), max_model_len=1_000_000)
    assert _halo_threads() == before


@pytest.mark.engine
def test_close_after_an_error_releases_engine_and_threads(tiny_model: Path) -> None:
    before = _halo_threads()
    with pytest.raises(RuntimeError, match="user code broke"), Session(model=str(tiny_model)) as s:
        assert s.chat([{"role": "user", "content": "hi"}], max_tokens=2).output_tokens >= 1
        assert len(_halo_threads()) > len(before)
        raise RuntimeError("user code broke")
    assert _halo_threads() == before
    assert s.engines == {}


def test_unknown_schedulers_and_closing_decisions_fail_before_any_engine_starts() -> None:
    engines = {"m": EngineConfig(model="nowhere/model", calibrate=False)}  # never built
    with pytest.raises(ConfigError, match=r"scheduler='fifo'.*registered: \['epoch'\]"):
        Session(SessionConfig(engines=engines, scheduler="fifo"))
    with pytest.raises(ConfigError, match=r"epoch_closing='soon'.*'cost', 'window'"):
        Session(SessionConfig(engines=engines, optimizer=OptimizerConfig(epoch_closing="soon")))


def test_backend_settings_are_checked_against_the_backends_own_model(tmp_path: Path) -> None:
    bad = EngineConfig(model="tiny", backend_settings={"omp_wait": "PASSIVE"}, calibrate=False)
    with pytest.raises(ConfigError, match=r"(?s)engine 'main': backend_settings.*omp_wait"):
        Session(SessionConfig(engines={"main": bad}))
    in_process = EngineConfig(model="tiny", backend="vllm", backend_settings={"x": 1})
    with pytest.raises(ConfigError, match="backend_settings for 'vllm'"):
        Session(SessionConfig(engines={"main": in_process}))
    model = str(tmp_path)  # the settings are compared before anything is loaded
    apart = {
        "a": EngineConfig(model=model, backend_settings={"omp_wait_policy": "ACTIVE"}),
        "b": EngineConfig(model=model),
    }
    with pytest.raises(ConfigError, match=r"share one engine host.*give them the same"):
        Session(SessionConfig(engines=apart))
