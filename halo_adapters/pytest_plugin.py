"""A pytest plugin that runs every test inside a Halo binding: a framework's own suite (or yours)
under Halo, to see that binding changes no outcome.

    pytest -p halo_adapters.pytest_plugin tests/            # add --halo-report for call counts

One :class:`~halo_core.Session` on the fake engine serves the whole test session; each test's
setup, call and teardown run inside ``halo_adapters.bind(session, models={},
unmapped="passthrough")``: every chat model answers from its own client (Halo records the call)
and every tool runs in Halo's tool pool. Compare the outcomes with a run without ``-p``;
``scripts/compat.py`` does that for LangGraph's and AutoGen's own test suites.
"""

from __future__ import annotations

import contextlib
import importlib
from collections import Counter
from collections.abc import Generator

import pytest

import halo_adapters
from halo_core import EngineConfig, Session, SessionConfig

__all__ = ["FRAMEWORKS"]

#: Imported (where importable) before the first binding, so every test's framework classes are
#: hooked from its setup on.
FRAMEWORKS = ("langchain_core", "langgraph", "autogen_agentchat")

_session = pytest.StashKey[Session]()
_calls = pytest.StashKey[Counter[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--halo-report",
        action="store_true",
        help="halo: print how many calls the bindings routed (by kind) at the end",
    )


def pytest_configure(config: pytest.Config) -> None:
    from halo_core.testing import fake_engine

    for name in FRAMEWORKS:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    fake_engine.register()
    engine = EngineConfig(model="fake", backend="fake", calibrate=False)
    config.stash[_session] = Session(SessionConfig(engines={"fake": engine}))
    config.stash[_calls] = Counter()


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(_session, None)
    if session is not None:
        session.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    session = item.config.stash[_session]
    try:
        with halo_adapters.bind(session, models={}, unmapped="passthrough"):
            return (yield)
    finally:
        calls = item.config.stash[_calls]
        calls.update(f"{r.kind}{'/passthrough' * r.passthrough}" for r in session.graph)
        calls["tests"] += 1
        session.reset()  # keeps the graph and the memo from growing across the suite


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    config = terminalreporter.config
    if config.getoption("--halo-report"):
        counts = " ".join(f"{k}={v}" for k, v in sorted(config.stash[_calls].items()))
        terminalreporter.write_line(f"halo-report: {counts}")
