"""``examples/langgraph_plan.ipynb`` runs top to bottom in a Jupyter kernel: no cell fails, the
plan is drawn as SVG, and the engine's start-up log stays out of the cells."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from nbclient import NotebookClient

pytestmark = pytest.mark.engine  # the kernel starts its own vLLM engine (the tiny model)

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "langgraph_plan.ipynb"
#: vLLM's log lines (level names, colour codes), torch's C++ warnings, libraries' FutureWarnings
NOISE = re.compile(r"\x1b\[|\b(?:DEBUG|INFO|WARNING)\b|\bWarning: |FutureWarning")
#: environment that would set the engine's verbosity for the kernel instead of Halo's default
LOG_ENV = ("VLLM_LOGGING_LEVEL", "VLLM_CONFIGURE_LOGGING", "TORCH_CPP_LOG_LEVEL")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[dict[str, Any]]]:
    """Every code cell's outputs, after running the notebook in a kernel of this interpreter."""
    jupyter = tmp_path_factory.mktemp("jupyter")
    write_kernel_spec(str(jupyter / "kernels" / "halo-test"))  # runs sys.executable
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="halo-test",
        timeout=600,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},  # imports langgraph_sql_agent
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(jupyter))
        for name in LOG_ENV:
            mp.delenv(name, raising=False)
        client.execute()  # raises CellExecutionError, naming the cell, if one fails
    yield [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]


def test_runs_the_batch_and_draws_the_plan(outputs: list[dict[str, Any]]) -> None:
    text = "".join(out.get("text", "") for out in outputs if out["output_type"] == "stream")
    assert "instances        16 done, 0 failed" in text, text[-2000:]
    svgs = [o["data"]["image/svg+xml"] for o in outputs if "image/svg+xml" in o.get("data", {})]
    assert len(svgs) == 1 and "<svg" in svgs[0] and "agent" in svgs[0]


def test_no_engine_log_noise(outputs: list[dict[str, Any]]) -> None:
    noisy = [
        line
        for out in outputs
        if out["output_type"] == "stream"
        for line in out["text"].splitlines()
        if NOISE.search(line)
    ]
    assert not noisy, "engine log lines in the notebook's cells:\n" + "\n".join(noisy[:10])
