"""A durable batch: a LangGraph graph over rows, with a journal that survives a crash.

The graph (plain LangGraph, no Halo in it)::

    START -> answer (LLM) -> lookup (pure read-only SQLite tool) -> write (side-effecting tool)

``write`` appends one line per execution to a file of its own, so you can see that no side
effect runs twice; rows with ``faulty`` make it raise (5% of rows) until ``DURABLE_FIXED=1``,
and rows without ``text`` (1%) are malformed. Run it under Halo with a journal, stop it
(Ctrl-C, ``kill -9``) and run it again: finished rows come back from the journal::

    python examples/durable_batch.py --n 1000 --dir /tmp/durable --model tiny
    DURABLE_FIXED=1 python examples/durable_batch.py ... --retry-failed   # only the failures

or from a file of rows with ``halo batch`` (``DURABLE_DB`` / ``DURABLE_EFFECTS`` name the
price database and the effects file; the script sets them under ``--dir``)::

    halo batch examples.durable_batch:graph --input rows.parquet --output out.parquet \
        --journal journal.db --key id --model tiny
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any, TypedDict

from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph

PRODUCTS = [f"product-{i}" for i in range(40)]


class Row(TypedDict, total=False):
    id: str
    product: str
    text: str | None
    faulty: bool
    answer: str
    price: str
    receipt: str


def make_rows(n: int) -> list[dict[str, Any]]:
    """``n`` rows; every 20th has a faulty tool (5%), every 100th no text (1%, malformed)."""
    return [
        {
            "id": f"row-{i:04d}",
            "product": PRODUCTS[i % len(PRODUCTS)],
            "text": None
            if i % 100 == 99
            else f"Review {i}: is {PRODUCTS[i % len(PRODUCTS)]} good?",
            "faulty": i % 20 == 7,
        }
        for i in range(n)
    ]


def make_db(path: Path) -> Path:
    """The read-only tool's database: one price per product."""
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE IF NOT EXISTS prices (product TEXT PRIMARY KEY, price TEXT)")
        con.executemany(
            "INSERT OR REPLACE INTO prices VALUES (?, ?)",
            [(p, f"{10 + i}.99") for i, p in enumerate(PRODUCTS)],
        )
    return path


@tool
def price_of(product: str) -> str:
    """A product's price, read from the database (read-only)."""
    con = sqlite3.connect(f"file:{os.environ['DURABLE_DB']}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT price FROM prices WHERE product = ?", (product,)).fetchone()
    finally:
        con.close()
    return row[0] if row else "unknown"


price_of.metadata = {"halo_pure": True}  # read-only: Halo may merge identical lookups


@tool
def record(row_id: str, answer: str, faulty: bool) -> str:
    """Write the row's answer out (a side effect): one line per execution."""
    if faulty and os.environ.get("DURABLE_FIXED") != "1":
        raise RuntimeError(f"the record service rejected {row_id}")
    with open(os.environ["DURABLE_EFFECTS"], "a", encoding="utf-8") as f:
        f.write(f"{row_id}\n")
    return f"recorded {row_id} ({len(answer)} chars)"


llm = ChatOpenAI(
    model="tiny", base_url="http://127.0.0.1:9/v1", api_key="unused", max_tokens=8, temperature=0
)


def answer(row: Row) -> dict[str, Any]:
    text = row.get("text")
    if not isinstance(text, str) or not text:
        raise ValueError(f"malformed input {row.get('id')!r}: no text")
    return {"answer": llm.invoke([("user", text)]).content}


def lookup(row: Row) -> dict[str, Any]:
    return {"price": price_of.invoke({"product": row["product"]})}


def write(row: Row) -> dict[str, Any]:
    args = {"row_id": row["id"], "answer": row["answer"], "faulty": row.get("faulty", False)}
    return {"receipt": record.invoke(args)}


builder = StateGraph(Row)
builder.add_node("answer", answer)
builder.add_node("lookup", lookup)
builder.add_node("write", write)
builder.add_edge(START, "answer")
builder.add_edge("answer", "lookup")
builder.add_edge("lookup", "write")
builder.add_edge("write", END)
graph = builder.compile()


def main(argv: list[str] | None = None) -> Any:
    """Run the batch under Halo with a journal under ``--dir``; run it again to resume."""
    import argparse

    import halo_adapters.langgraph as halo_lg
    from halo_core import EngineConfig, Journal, Session, SessionConfig

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--dir", type=Path, default=Path("durable-batch"), help="journal, db, effects")
    p.add_argument("--model", default="smollm2", help="smollm2 (default), tiny, a model dir")
    p.add_argument("--retry-failed", action="store_true", help="re-run the failed rows")
    args = p.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DURABLE_DB", str(make_db(args.dir / "prices.db")))
    os.environ.setdefault("DURABLE_EFFECTS", str(args.dir / "effects.txt"))
    rows = make_rows(args.n)
    engines = {"default": EngineConfig(model=args.model)}
    with (
        Session(SessionConfig(engines=engines)) as session,
        Journal(args.dir / "journal.db", retry_failed=args.retry_failed) as journal,
    ):
        report = halo_lg.batch(
            graph,
            rows,
            session=session,
            journal=journal,
            keys=[r["id"] for r in rows],
            progress=True,
        )
    print(report.format())
    effects = Path(os.environ["DURABLE_EFFECTS"])
    lines = effects.read_text().split() if effects.exists() else []
    print(f"side effects     {len(lines)} executions for {len(set(lines))} rows")
    return report


if __name__ == "__main__":
    main()
