"""A Session leaves the process's environment as it found it: a ``vllm serve`` started after it
closed, from the same process, gets the environment it would have had without Halo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = r"""
import json, os, subprocess, sys, time
from pathlib import Path

HALO = ("VLLM_ENABLE_V1_MULTIPROCESSING", "VLLM_CPU_OMP_THREADS_BIND", "VLLM_CPU_KVCACHE_SPACE",
        "VLLM_LOGGING_LEVEL", "TORCH_CPP_LOG_LEVEL", "TRANSFORMERS_VERBOSITY")


def served_env():
    # the environment a `vllm serve` started now from this process gets, read from the process
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", sys.argv[1]]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        environ = Path(f"/proc/{server.pid}/environ").read_bytes()
    finally:
        server.kill()
        server.wait()
    pairs = (item.split(b"=", 1) for item in environ.split(b"\0") if b"=" in item)
    env = {k.decode(): v.decode() for k, v in pairs}
    return {k: env.get(k) for k in HALO}


if __name__ == "__main__":
    from halo_core import Session

    before = served_env()
    with Session(model=sys.argv[1], max_model_len=512, kv_cache_gib=1, calibrate=False) as s:
        inside = s.engines["default"].counters().requests  # the engine started
        during = {k: os.environ.get(k) for k in HALO}
        answer = s.chat([{"role": "user", "content": "hi"}], max_tokens=2).output_tokens
    print(json.dumps({"before": before, "after": served_env(), "during": during,
                      "answer": answer, "inside": inside}))
"""


@pytest.mark.engine
@pytest.mark.timeout(300)
def test_a_vllm_serve_after_a_session_gets_the_default_environment(
    tiny_model: Path, tmp_path: Path
) -> None:
    script = tmp_path / "env_probe.py"
    script.write_text(SCRIPT)
    out = subprocess.run(
        [sys.executable, str(script), str(tiny_model)],
        capture_output=True,
        text=True,
        timeout=280,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("VLLM_")},
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),  # this checkout's Halo
        },
    )
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["answer"] >= 1  # the engine ran with Halo's settings in place
    assert seen["after"] == seen["before"]
    assert seen["before"]["VLLM_ENABLE_V1_MULTIPROCESSING"] is None
    assert all(v is None for v in seen["during"].values()), seen["during"]
