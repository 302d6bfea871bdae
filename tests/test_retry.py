"""Tool retry policies: off by default, declared per tool, only on the errors they name."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from halo_core import ConfigError, RetryPolicy, Session, ToolCallError, retry


class Flaky:
    """Raises ``error`` on its first ``fails`` calls."""

    def __init__(self, fails: int, error: type[Exception] = TimeoutError) -> None:
        self.fails, self.error, self.calls = fails, error, 0

    def __call__(self, x: int) -> int:
        self.calls += 1
        if self.calls <= self.fails:
            raise self.error(f"try {self.calls}")
        return x * 2


@pytest.mark.timeout(30)
def test_tools_are_tried_once_unless_they_declare_a_policy(
    fake_session: Callable[..., Session],
) -> None:
    s = fake_session()
    once = Flaky(1)
    with pytest.raises(ToolCallError, match="try 1"):
        s.tool(once, 3)
    assert once.calls == 1
    declared = retry(3, backoff_s=0.0, on=(TimeoutError,))(Flaky(2))
    assert s.tool(declared, 3) == 6 and declared.calls == 3
    other = Flaky(1, error=KeyError)
    with pytest.raises(ToolCallError):
        s.tool(other, 3, retry=RetryPolicy(3, backoff_s=0.0, on=(TimeoutError,)))
    assert other.calls == 1  # not an error the policy names
    exhausted = Flaky(5)
    with pytest.raises(ToolCallError, match="try 2"):
        s.tool(exhausted, 3, retry=RetryPolicy(2, backoff_s=0.0))
    assert exhausted.calls == 2


def test_a_policy_says_what_is_wrong_with_it() -> None:
    assert RetryPolicy(3, backoff_s=0.5, multiplier=2).delays() == [0.5, 1.0]
    with pytest.raises(ConfigError, match="at least 1 try"):
        RetryPolicy(0)
