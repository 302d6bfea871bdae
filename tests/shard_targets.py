"""What the sharded-batch tests run in their Ray shards: an unchanged LangGraph graph (an LLM
call, a side-effecting tool that appends the row's id to ``$SHARD_EFFECTS``), whose rows repeat
their question every ``DISTINCT`` rows, so that shards make identical calls. The row named by
``$SHARD_DIE_AT`` kills its own worker process once (``$SHARD_MARKER`` remembers that it did),
after its side effect and once the rows named in ``$SHARD_DIE_AFTER`` (its shard's others) have
theirs in the journal ``$SHARD_JOURNAL``: a side-effecting tool cut off mid-run is never run
again (``InterruptedCallError``), so the kill waits for no tool to be in flight."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any, TypedDict

from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph

DISTINCT = 8


class Row(TypedDict, total=False):
    id: str
    text: str
    answer: str
    receipt: str


def make_rows(n: int) -> list[dict[str, Any]]:
    return [{"id": f"row-{i:04d}", "text": f"Is product {i % DISTINCT} good?"} for i in range(n)]


@tool
def record(row_id: str) -> str:
    """Write the row out (a side effect): one line per execution."""
    with open(os.environ["SHARD_EFFECTS"], "a", encoding="utf-8") as f:
        f.write(f"{row_id}\n")
    return f"recorded {row_id}"


llm = ChatOpenAI(
    model="tiny", base_url="http://127.0.0.1:9/v1", api_key="unused", max_tokens=8, temperature=0
)


def answer(row: Row) -> dict[str, Any]:
    return {"answer": llm.invoke([("user", row["text"])]).content}


def write(row: Row) -> dict[str, Any]:
    receipt = record.invoke({"row_id": row["id"]})
    marker = Path(os.environ.get("SHARD_MARKER", "/nonexistent/marker"))
    if row["id"] == os.environ.get("SHARD_DIE_AT") and not marker.exists():
        _wait_for_tools(os.environ["SHARD_JOURNAL"], os.environ["SHARD_DIE_AFTER"].split(","))
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)  # the shard's worker dies mid-batch
    return {"receipt": receipt}


def _wait_for_tools(journal: str, rows: list[str], timeout_s: float = 60.0) -> None:
    """Until every row of ``rows`` has its tool's result journaled."""
    marks = ",".join("?" * len(rows))
    deadline = time.monotonic() + timeout_s
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
        while time.monotonic() < deadline:
            (done,) = db.execute(
                f"SELECT count(*) FROM calls WHERE kind='tool' AND state='done' "
                f"AND instance IN ({marks})",
                rows,
            ).fetchone()
            if done == len(rows):
                return
            time.sleep(0.05)
    raise TimeoutError(f"the tools of {len(rows)} rows did not finish in {timeout_s} s")


builder = StateGraph(Row)
builder.add_node("answer", answer)
builder.add_node("write", write)
builder.add_edge(START, "answer")
builder.add_edge("answer", "write")
builder.add_edge("write", END)
graph = builder.compile()
