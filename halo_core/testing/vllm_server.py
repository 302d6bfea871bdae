"""Start and stop a stock ``vllm serve`` (OpenAI-compatible HTTP server) as a subprocess.

Baselines and reference runs talk to it the way a LangGraph user would, over HTTP with
``ChatOpenAI``. Halo itself does not need it.

>>> with VLLMServer("path/to/model", served_name="tiny-chat") as url:   # doctest: +SKIP
...     ChatOpenAI(model="tiny-chat", base_url=url, api_key="unused").invoke("Hi")
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from halo_core.backends.base import EngineCounters
from halo_core.errors import HaloError

#: The tool-call parser Halo's tests and benchmarks serve models with (``--tool-call-parser``):
#: its required / named tool choice is plain guided JSON, which ``compact_json`` keeps short
#: (hermes' structural tags allow free whitespace, which random test models never stop emitting).
DEFAULT_TOOL_PARSER = "pythonic"
#: Settings of where vLLM's engine runs, which a server decides itself (``cpu_bind``).
_ENGINE_PLACEMENT_ENV = frozenset({"VLLM_ENABLE_V1_MULTIPROCESSING", "VLLM_CPU_OMP_THREADS_BIND"})


class ServerStartError(HaloError, RuntimeError):
    """The vLLM server exited or did not answer in time; the message names its log file."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class VLLMServer:
    """``python -m vllm.entrypoints.openai.api_server`` on 127.0.0.1; a context manager.

    ``served_name`` may list several names (one model serving several roles).
    ``tool_call_parser`` enables ``--enable-auto-tool-choice`` with that parser (``None``: off);
    ``compact_json`` serves guided JSON without free whitespace (as ``EngineConfig.compact_json``).
    ``cpu_bind`` is the engine's ``VLLM_CPU_OMP_THREADS_BIND`` on a CPU build (e.g. ``"0-3"``,
    ``"nobind"``); ``None`` leaves it unset: vLLM's default, ``auto``, which keeps a core free for
    the API process.
    Entering blocks until ``/v1/models`` answers (about a minute on 2 CPU cores) and returns the
    base URL (``http://127.0.0.1:<port>/v1``); leaving stops the server.
    """

    def __init__(
        self,
        model: str | Path,
        *,
        served_name: str | Sequence[str] | None = None,
        max_model_len: int = 1024,
        dtype: str = "float32",
        tool_call_parser: str | None = DEFAULT_TOOL_PARSER,
        compact_json: bool = False,
        kv_cache_gib: float = 1.0,
        extra_args: Sequence[str] = (),
        log_path: str | Path | None = None,
        start_timeout_s: float = 300.0,
        cpu_bind: str | None = None,
    ):
        self.model = str(model)
        names = [served_name] if isinstance(served_name, str) else list(served_name or [])
        self.served_names = names or [self.model]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
        self.cmd += ["--model", self.model, "--served-model-name", *self.served_names]
        self.cmd += ["--dtype", dtype, "--max-model-len", str(max_model_len)]
        self.cmd += ["--host", "127.0.0.1", "--port", str(self.port)]
        if tool_call_parser:
            self.cmd += ["--enable-auto-tool-choice", "--tool-call-parser", tool_call_parser]
        if compact_json:
            self.cmd += ["--structured-outputs-config.backend", "xgrammar"]
            self.cmd += ["--structured-outputs-config.disable_any_whitespace", "true"]
        self.cmd += list(extra_args)
        # a server as `vllm serve` runs by default: its CPU binding only where cpu_bind asks for
        # one, its engine core in its own process, whatever this process's environment says
        inherited = {k: v for k, v in os.environ.items() if k not in _ENGINE_PLACEMENT_ENV}
        self.cpu_bind = cpu_bind
        self.env = {
            **inherited,
            "VLLM_CPU_KVCACHE_SPACE": str(max(1, round(kv_cache_gib))),
            "VLLM_SERVER_DEV_MODE": "1",  # for POST /reset_prefix_cache between benchmark runs
            "VLLM_LOGGING_LEVEL": "INFO",  # its own log file (a quiet Halo session sets ERROR)
        }
        if cpu_bind is not None:
            self.env["VLLM_CPU_OMP_THREADS_BIND"] = cpu_bind
        self.log_path = Path(log_path or tempfile.mkstemp(prefix="vllm-server-", suffix=".log")[1])
        self.start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[str] | None = None
        self._deadline = 0.0

    def launch(self) -> None:
        """Start the server process without waiting (see :meth:`wait_ready`)."""
        self._log = self.log_path.open("w")
        self._proc = subprocess.Popen(
            self.cmd, stdout=self._log, stderr=subprocess.STDOUT, env=self.env
        )
        self._deadline = time.monotonic() + self.start_timeout_s

    def wait_ready(self) -> str:
        """Block until the launched server answers; return its base URL."""
        assert self._proc is not None, "launch() first"
        while True:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self.stop()
                raise ServerStartError(f"vLLM server exited with {code}; see {self.log_path}")
            try:
                urllib.request.urlopen(f"{self.url}/models", timeout=2).close()
                return self.url
            except OSError:
                if time.monotonic() > self._deadline:
                    self.stop()
                    raise ServerStartError(
                        f"vLLM server did not answer in {self.start_timeout_s:.0f} s; "
                        f"see {self.log_path}"
                    ) from None
                time.sleep(1)

    def start(self) -> str:
        """Launch the server and wait until it answers; return its base URL."""
        self.launch()
        return self.wait_ready()

    def stop(self) -> None:
        """Stop the server (terminate, then kill after 30 s); idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    @property
    def root(self) -> str:
        """The server's root URL (without ``/v1``)."""
        return self.url.removesuffix("/v1")

    def reset_prefix_cache(self) -> None:
        """Drop the server's prefix cache (``POST /reset_prefix_cache``)."""
        req = urllib.request.Request(f"{self.root}/reset_prefix_cache", method="POST")
        urllib.request.urlopen(req, timeout=60).close()

    def counters(self) -> EngineCounters:
        """The server's engine counters from its Prometheus ``/metrics`` (totals since start)."""
        with urllib.request.urlopen(f"{self.root}/metrics", timeout=30) as resp:
            text = resp.read().decode()
        totals: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("vllm:") and "_total" in line.split("{")[0].split(" ")[0]:
                name = line.split("{")[0].split(" ")[0].removesuffix("_total")
                totals[name] = totals.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
        return EngineCounters(
            requests=int(totals.get("vllm:request_success", 0)),
            prompt_tokens=int(totals.get("vllm:prompt_tokens", 0)),
            generation_tokens=int(totals.get("vllm:generation_tokens", 0)),
            prefix_cache_queries=int(totals.get("vllm:prefix_cache_queries", 0)),
            prefix_cache_hits=int(totals.get("vllm:prefix_cache_hits", 0)),
            steps=int(totals.get("vllm:iteration_tokens_total_count", 0)),
        )

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
