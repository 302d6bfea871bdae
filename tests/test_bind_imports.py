"""``bind()`` hooks a framework imported inside the block, not only those imported before."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import asyncio, json
import halo_adapters
from halo_core import EngineConfig, Session, SessionConfig
from halo_core.testing import fake_engine

fake_engine.register()
engine = EngineConfig(model="fake", backend="fake", calibrate=False)
with Session(SessionConfig(engines={"m": engine})) as s:
    with halo_adapters.bind(s, unmapped="passthrough"):
        from langchain_core.tools import tool                    # imported inside the block

        @tool
        def shout(text: str) -> str:
            "Shout."
            return text.upper()

        out = shout.invoke({"text": "hi"})
        from autogen_agentchat.agents import AssistantAgent      # and AutoGen
        from autogen_core import CancellationToken
        from autogen_core.tools import FunctionTool

        def lower(text: str) -> str:
            return text.lower()

        async def main():
            with s.instance():
                return await FunctionTool(lower, description="Lower.").run_json(
                    {"text": "HO"}, CancellationToken())

        low = asyncio.run(main())
    tools = sorted(r.node for r in s.graph.records.values() if r.kind == "tool")
print(json.dumps({"out": out, "low": low, "tools": tools}))
"""


def test_a_framework_imported_inside_a_binding_is_hooked(tmp_path: Path) -> None:
    script = tmp_path / "late_import.py"
    script.write_text(SCRIPT)
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["out"] == "HI" and seen["low"] == "ho"
    assert seen["tools"] == ["lower", "shout"]  # both went through Halo's tool pool
