"""Shared fixtures: one tiny model and one real vLLM engine for the whole test session."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")

from halo_core import EngineConfig, OptimizerConfig, Session, SessionConfig
from halo_core.testing import fake_engine
from halo_core.testing.tiny_llama import build_tiny_llama
from halo_core.testing.vllm_server import DEFAULT_TOOL_PARSER, VLLMServer

MAX_MODEL_LEN = 1024


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight Llama with a chat template, built once per test session."""
    return build_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama")


@pytest.fixture(scope="session")
def engine_session(tiny_model: Path) -> Iterator[Session]:
    """The one real in-process vLLM engine every engine test shares (default CPU block size,
    the pythonic tool-call parser and compact guided JSON, like the ``vllm_server`` fixture: the
    random test model would otherwise fill guided JSON with whitespace until max_tokens), on the
    backend ``$HALO_TEST_BACKEND`` names (default ``vllm-host``, the engine host)."""
    engine = EngineConfig(
        model=str(tiny_model),
        backend=os.environ.get("HALO_TEST_BACKEND", "vllm-host"),
        max_model_len=MAX_MODEL_LEN,
        tool_call_parser=DEFAULT_TOOL_PARSER,
        compact_json=True,
    )
    cfg = SessionConfig(engines={"tiny": engine})
    with Session(cfg) as s:
        yield s


@pytest.fixture
def halo(engine_session: Session) -> Iterator[Session]:
    """The shared session with the default optimizer, a cold prefix cache and an empty memo."""
    engine_session.reset()
    with engine_session.optimizing(OptimizerConfig()):
        yield engine_session


@pytest.fixture(scope="session")
def vllm_server(tiny_model: Path) -> Iterator[str]:
    """A stock ``vllm serve`` of the tiny model as ``tiny-chat`` (pythonic tool parser), shared by
    every test that compares against "without Halo" over HTTP (about a minute to start)."""
    server = VLLMServer(
        tiny_model, served_name="tiny-chat", max_model_len=MAX_MODEL_LEN, compact_json=True
    )
    with server as url:
        yield url


@pytest.fixture
def fake_session() -> Iterator[Callable[..., Session]]:
    """Makes sessions whose one engine ``m`` is a :class:`FakeEngine`."""
    made: list[Session] = []
    fake_engine.register()

    def make(wait_for_leader_prefill: bool = False, **kw: Any) -> Session:
        engine = EngineConfig(
            model="fake",
            backend="fake",
            wait_for_leader_prefill=wait_for_leader_prefill,
            calibrate=False,
        )
        s = Session(SessionConfig(engines={"m": engine}, **kw))
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()
