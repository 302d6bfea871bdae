"""Shared fixtures: one tiny model and one real vLLM engine for the whole test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")

from halo_core import EngineConfig, PassConfig, Session, SessionConfig
from halo_core.models import build_tiny_llama

MAX_MODEL_LEN = 1024


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight Llama with a chat template, built once per test session."""
    return build_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama")


@pytest.fixture(scope="session")
def engine_session(tiny_model: Path) -> Iterator[Session]:
    """The one real in-process vLLM engine every engine test shares (default CPU block size)."""
    cfg = SessionConfig(
        engines={"tiny": EngineConfig(model=str(tiny_model), max_model_len=MAX_MODEL_LEN)}
    )
    with Session(cfg) as s:
        yield s


@pytest.fixture
def halo(engine_session: Session) -> Iterator[Session]:
    """The shared session with default passes, a cold prefix cache and an empty dedup memo."""
    engine_session.reset()
    with engine_session.passes(PassConfig()):
        yield engine_session
