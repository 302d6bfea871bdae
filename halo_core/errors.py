"""Halo's exceptions.

Per-call errors name the instance and the call; config errors say what to change.
"""

from __future__ import annotations


class HaloError(Exception):
    """Base class of Halo's errors."""


class ConfigError(HaloError):
    """Configuration Halo cannot run with; raised at session start."""


class MalformedCallError(HaloError, ValueError):
    """A call whose arguments are not a valid chat request (bad messages, unknown parameter)."""


class CallError(HaloError):
    """A call failed; ``instance`` and ``node`` say whose call it was, ``__cause__`` why."""

    def __init__(self, kind: str, instance: int | None, node: str, reason: BaseException | str):
        self.kind = kind
        self.instance = instance
        self.node = node
        who = f"instance {instance}" if instance is not None else "a call outside any instance"
        detail = (
            f"{type(reason).__name__}: {reason}" if isinstance(reason, BaseException) else reason
        )
        super().__init__(f"{kind} call {node!r} of {who} failed: {detail}")


class LLMCallError(CallError):
    """An LLM call failed (engine error, prompt too long for the model, malformed request)."""

    def __init__(self, instance: int | None, node: str, reason: BaseException | str):
        super().__init__("LLM", instance, node, reason)


class ToolCallError(CallError):
    """A tool raised."""

    def __init__(self, instance: int | None, node: str, reason: BaseException | str):
        super().__init__("tool", instance, node, reason)


class EngineDiedError(HaloError):
    """An engine died more often than ``EngineConfig.max_restarts`` allows."""

    def __init__(self, engine: str, deaths: int, last: BaseException):
        self.engine = engine
        super().__init__(
            f"engine {engine!r} died {deaths} times (last: {type(last).__name__}: {last}) and "
            "is not restarted again: raise EngineConfig.max_restarts, or see the engine's log"
        )


class RemoteInstanceError(HaloError):
    """An instance that failed in another process (a shard of a sharded batch): its key and
    its error as that process reported it."""

    def __init__(self, key: str, error: str):
        self.key, self.error = key, error
        super().__init__(f"instance {key!r} failed: {error}")
