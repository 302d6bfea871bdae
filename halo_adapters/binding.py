"""The one way to route an agent framework's calls through a Halo session.

>>> import halo_adapters                                                   # doctest: +SKIP
>>> with halo_adapters.bind(s, models={"Qwen/Qwen3-14B": "qwen"}):          # doctest: +SKIP
...     graph.batch(rows)                   # every framework call in the block goes through s
...     await asyncio.gather(*(team.run(task=t) for team, t in zip(teams, tasks)))  # AutoGen

Framework-free: each framework's hook module reads :func:`active` and is installed (imported
lazily) when a binding is entered, for every framework already imported, or when a framework is
first imported inside a binding.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import importlib.abc
import importlib.util
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any, Literal, get_args

from halo_core import ConfigError, HaloError

__all__ = ["Binding", "Unmapped", "UnmappedModelError", "active", "bind", "in_context"]

#: What happens to a model the ``models`` mapping does not name: ``"error"`` fails the call,
#: ``"passthrough"`` leaves it to the model's own client (recorded in the session's graph),
#: ``"default"`` sends it to the session's default engine.
Unmapped = Literal["error", "passthrough", "default"]

#: (framework package, Halo hook module with an ``install()``): entering a binding installs the
#: hooks of every framework the process has imported; one imported later, while a binding is
#: active, is hooked as its import finishes (:class:`_HookOnImport`)
_HOOKS = {
    "langchain_core": "halo_adapters._langchain_hook",
    "langgraph": "halo_adapters.langgraph",
    "autogen_agentchat": "halo_adapters._autogen_hook",
}


class UnmappedModelError(HaloError, LookupError):
    """A chat model the binding's ``models`` mapping does not name (with ``unmapped="error"``)."""


@dataclass(frozen=True)
class Binding:
    """An active session, how model ids map to its engine keys, and what to do with the rest."""

    session: Any  # halo_core.Session (duck-typed: chat / achat / tool / run / passthrough ...)
    models: Mapping[str, str] | None = None
    unmapped: Unmapped = "default"

    def _mapped(self, model_id: str | None) -> str | None:
        return None if model_id is None else (self.models or {}).get(model_id)

    def serves(self, model_id: str | None) -> bool:
        """Whether Halo answers this model (else it passes through to its own client)."""
        return self.unmapped != "passthrough" or self._mapped(model_id) is not None

    def engine_for(self, model_id: str | None, owner: str) -> str | None:
        """The engine key for a served model (``None``: the session's default); ``owner`` (the
        model's class name) names a model without an id in the error."""
        engine = self._mapped(model_id)
        if engine is not None or self.unmapped == "default":
            return engine
        keys = sorted(self.models or {})
        if model_id is None:
            what, add = f"{owner} (no model id)", "give it a model id and add it with models={...}"
        else:
            key = next(iter((self.models or {}).values()), "engine key")
            what, add = repr(model_id), f"add it with models={{{model_id!r}: {key!r}}}"
        raise UnmappedModelError(
            f"chat model {what} is not in the Halo binding's models mapping {keys}; "
            f"{add} or bind with unmapped='passthrough'"
        )


# Instance threads of Session.run do not inherit the caller's contextvars, so bindings are
# process-wide (a stack, for nesting); the context-local override serves the import self-tests.
_stack: list[Binding] = []
_stack_lock = threading.Lock()
_override: contextvars.ContextVar[Binding | None] = contextvars.ContextVar(
    "halo_binding_override", default=None
)


def active() -> Binding | None:
    """The binding framework calls are routed through right now, if any."""
    b = _override.get()
    if b is not None:
        return b
    return _stack[-1] if _stack else None


@contextlib.contextmanager
def in_context(b: Binding) -> Iterator[Binding]:
    """Make ``b`` the active binding in this context only, installing nothing (self-tests)."""
    token = _override.set(b)
    try:
        yield b
    finally:
        _override.reset(token)


def _validated(
    session: Any, models: Mapping[str, str] | None, unmapped: Unmapped | None
) -> Binding:
    if unmapped is not None and unmapped not in get_args(Unmapped):
        raise ConfigError(f"unmapped={unmapped!r}: use one of {get_args(Unmapped)}")
    if models is None:
        return Binding(session, None, unmapped or "default")
    models = dict(models)
    engines = getattr(session, "engines", None)
    if engines is not None:
        bad = {k: v for k, v in models.items() if v not in engines}
        if bad:
            raise ConfigError(
                f"models maps to engine(s) this session does not serve: {bad}; "
                f"the session serves {sorted(engines)}"
            )
    return Binding(session, models, unmapped or "error")


def _install_hooks() -> None:
    for package, module in _HOOKS.items():
        if package in sys.modules:
            importlib.import_module(module).install()


class _HookOnImport(importlib.abc.MetaPathFinder):
    """On ``sys.meta_path`` while a binding is active: a framework imported inside the block
    gets its hooks as soon as its package has been imported."""

    def __init__(self) -> None:
        self._finding = threading.local()

    def find_spec(self, name: str, path: Any, target: Any = None) -> ModuleSpec | None:
        if name not in _HOOKS or getattr(self._finding, "on", False):
            return None
        self._finding.on = True
        try:
            spec = importlib.util.find_spec(name)  # the finders after this one
        finally:
            self._finding.on = False
        loader = spec.loader if spec is not None else None
        if spec is None or loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            sys.modules[name] = module  # done importing: the hook module may import it
            importlib.import_module(_HOOKS[name]).install()

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


_on_import = _HookOnImport()


def _watch_imports(on: bool) -> None:
    """Put :data:`_on_import` first on ``sys.meta_path``, or take it off (under the lock)."""
    if on and _on_import not in sys.meta_path:
        sys.meta_path.insert(0, _on_import)
    elif not on and _on_import in sys.meta_path:
        sys.meta_path.remove(_on_import)


@contextlib.contextmanager
def bind(
    session: Any, models: Mapping[str, str] | None = None, *, unmapped: Unmapped | None = None
) -> Iterator[Binding]:
    """Route every framework call (chat models, tools, ``graph.batch``, AutoGen ``team.run``)
    through ``session``.

    ``models`` maps the framework's model ids (``ChatOpenAI(model=...)``,
    ``OpenAIChatCompletionClient(model=...)``) to the session's engine keys. ``unmapped`` says
    what happens to other models (see :data:`Unmapped`); the default is ``"default"`` without a
    mapping (every model to the default engine), ``"error"`` with one.
    """
    b = _validated(session, models, unmapped)
    _install_hooks()
    with _stack_lock:
        _stack.append(b)
        _watch_imports(True)
    try:
        yield b
    finally:
        with _stack_lock:
            # remove this binding (not blindly the top: bindings may close out of order)
            for i in range(len(_stack) - 1, -1, -1):
                if _stack[i] is b:
                    del _stack[i]
                    break
            _watch_imports(bool(_stack))
