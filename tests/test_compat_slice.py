"""The CI slice of the compatibility suite: LangGraph's and AutoGen's own tests (ToolNode, the
ReAct agent, the group chats, the OpenAI client) have the same outcomes with every test inside a
Halo binding as without. ``scripts/compat.py`` without ``--slice`` runs the whole suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(3600)  # the first run fetches the sdists and builds .compat/venv
def test_framework_suites_same_outcomes_under_halo() -> None:
    cmd = [
        sys.executable,
        str(ROOT / "scripts" / "compat.py"),
        "--slice",
        "--repeat-diffs",
        "--project-python",
        sys.executable,
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, (
        f"outcomes differ under Halo (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}"
    )
