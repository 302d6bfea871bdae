"""An AutoGen ``AssistantAgent`` with tools: read-only SQL over a bookshop database, a calculator.

The team (plain AutoGen, no Halo in it) is AutoGen's single-agent team: one ``analyst`` in a
``RoundRobinGroupChat`` that stops at its first plain text reply (``TextMessageTermination``)::

    task -> analyst: LLM -> [run_sql / calculator calls, run concurrently] -> LLM reflects -> text

``reflect_on_tool_use=True``: after its tool calls the agent asks the model again, with the tool
results, for its answer. A tool that raises (bad SQL, a write, bad arithmetic) comes back to the
model as an error result, as in any AutoGen agent. ``max_turns`` bounds the loop.

The database is a small SQLite bookshop (books, sales) the example writes once to a file in the
temp folder and opens read-only for every query. The tools only read, so they are declared pure
to Halo (``halo_adapters.autogen.pure``): identical queries of different tasks run once.

Tasks are an analyst's questions: 24 distinct ones, cycled, so at N=32 eight questions are asked
twice and at N=256 each about ten times (the same dashboard questions, asked by many people).

Run it: ``python examples/autogen_tools.py`` runs 32 tasks under Halo on SmolLM2
(``--model tiny --n 8``: smaller); with ``--base-url http://127.0.0.1:8000/v1
--served-model smollm2`` the same code runs without Halo against ``vllm serve``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.base import TaskResult
from autogen_agentchat.conditions import TextMessageTermination
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core.models import ChatCompletionClient
from autogen_core.tools import BaseTool, FunctionTool

try:  # imported as examples.autogen_tools
    from examples._autogen_common import pure, run_example
    from examples._common import evaluate_arithmetic
except ImportError:  # run as a script: python examples/autogen_tools.py
    from _autogen_common import pure, run_example  # type: ignore[no-redef]
    from _common import evaluate_arithmetic  # type: ignore[no-redef]

# ---- the database ------------------------------------------------------------------------------

SCHEMA = "books(id, title, author, genre, price, stock), sales(book_id, month, copies)"
BOOKS = [
    ("The Quiet Harbor", "Mara Lind", "novel", 14.50, 12),
    ("Salt and Stone", "Ivo Berg", "novel", 16.00, 4),
    ("Field Notes on Birds", "Ana Ruiz", "nature", 22.90, 7),
    ("Bread at Home", "Tom Okafor", "cooking", 27.00, 15),
    ("The Soup Year", "Tom Okafor", "cooking", 19.50, 0),
    ("Small Engines", "Lea Novak", "technical", 34.00, 3),
    ("Night Trains of Europe", "Ivo Berg", "travel", 24.00, 9),
    ("Learning Go Slowly", "Kai Moreau", "technical", 41.00, 5),
    ("A Garden in Pots", "Ana Ruiz", "nature", 18.75, 11),
    ("Maps of Rain", "Mara Lind", "poetry", 12.00, 6),
]


def _sales() -> list[tuple[int, str, int]]:
    """Six months of sales per book from a fixed recipe (no randomness)."""
    return [
        (book, f"2024-{month:02d}", (book * 7 + month * 3) % 11)
        for book in range(1, len(BOOKS) + 1)
        for month in range(1, 7)
    ]


_build_lock = threading.Lock()


@functools.cache
def database() -> Path:
    """The bookshop database file, written once (atomically) to the temp folder."""
    path = Path(tempfile.gettempdir()) / "halo-examples" / "bookshop-1.sqlite"
    with _build_lock:  # tools run on executor threads: the first calls may come together
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            with contextlib.closing(sqlite3.connect(tmp)) as con:
                con.executescript(
                    "CREATE TABLE books (id INTEGER PRIMARY KEY, title TEXT, author TEXT, "
                    "genre TEXT, price REAL, stock INTEGER);"
                    "CREATE TABLE sales (book_id INTEGER REFERENCES books(id), month TEXT, "
                    "copies INTEGER);"
                )
                con.executemany(
                    "INSERT INTO books (title, author, genre, price, stock) VALUES (?, ?, ?, ?, ?)",
                    BOOKS,
                )
                con.executemany("INSERT INTO sales VALUES (?, ?, ?)", _sales())
                con.commit()
            os.replace(tmp, path)
    return path


# ---- tools -------------------------------------------------------------------------------------

MAX_ROWS = 5


def run_sql(query: str) -> str:
    """Run one read-only SQL query on the bookshop database; returns at most 5 rows."""
    uri = f"file:{database()}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as con:
        try:
            cur = con.execute(query)
            rows = cur.fetchmany(MAX_ROWS + 1)
        except (sqlite3.Error, ValueError, OverflowError) as e:
            raise ValueError(f"SQL error: {e}") from None
        header = " | ".join(d[0] for d in cur.description or ())
    lines = [header] + [" | ".join(str(v) for v in r) for r in rows[:MAX_ROWS]]
    return "\n".join(lines + ["..."] * (len(rows) > MAX_ROWS))


def calculator(expression: str) -> str:
    """Evaluate arithmetic such as 3 * (14.5 + 2)."""
    return evaluate_arithmetic(expression)


#: Both tools only read: declared pure, identical calls of different tasks may share one run.
TOOLS = [
    pure(FunctionTool(run_sql, description=run_sql.__doc__ or "")),
    pure(FunctionTool(calculator, description=calculator.__doc__ or "")),
]

# ---- the team ----------------------------------------------------------------------------------

#: Turns (agent replies) per task before the loop gives up.
MAX_TURNS = 3


def make_team(
    client: ChatCompletionClient,
    *,
    max_turns: int = MAX_TURNS,
    tools: Sequence[BaseTool[Any, Any]] = TOOLS,
) -> RoundRobinGroupChat:
    """A new single-analyst team with ``tools``; it ends at the analyst's first text answer."""
    analyst = AssistantAgent(
        "analyst",
        model_client=client,
        tools=[*tools],
        reflect_on_tool_use=True,
        system_message=f"You answer questions about a bookshop with its SQLite database "
        f"({SCHEMA}). Call run_sql with one SELECT, or calculator, then answer in one sentence.",
    )
    return RoundRobinGroupChat(
        [analyst], termination_condition=TextMessageTermination("analyst"), max_turns=max_turns
    )


QUESTIONS = [
    "Which book is the most expensive?",
    "How many books are out of stock?",
    "How many copies were sold in March 2024?",
    "Which author has the most books in the shop?",
    "What is the average price of cooking books?",
    "Which genre sold the most copies?",
    "What is the total value of the stock at list price?",
    "How many copies of Salt and Stone were sold?",
    "Which month had the highest sales?",
    "What does one copy of every novel cost together?",
    "Which book sold the fewest copies?",
    "How many different genres are there?",
    "What is 15 percent off the price of Small Engines?",
    "How many books cost less than 20 dollars?",
    "Which books by Ana Ruiz are in stock?",
    "What was the revenue from technical books in June 2024?",
    "How many copies did Tom Okafor sell in total?",
    "What is the cheapest travel book?",
    "How many books have fewer than five copies in stock?",
    "What is the price of three copies of Maps of Rain?",
    "Which book sold the most copies in January 2024?",
    "What is the average number of copies sold per month?",
    "Which poetry books are there?",
    "How much would two Bread at Home books and one Soup Year cost?",
]


def make_inputs(n: int) -> list[str]:
    """``n`` questions, cycling through the 24 built-in ones (deterministic)."""
    return [QUESTIONS[i % len(QUESTIONS)] for i in range(n)]


def main(argv: Sequence[str] | None = None) -> list[TaskResult | BaseException]:
    return run_example(__doc__, make_team, make_inputs, argv)


if __name__ == "__main__":
    main()
