"""A SQL agent in LangGraph: an LLM loops over read-only SQL and a calculator until it answers.

The graph (plain LangGraph, no Halo in it)::

    START -> start -> get_schema -> agent <-> tools  (ToolNode: run_sql, calculator)
                                     |  \\-> remind -> agent   (no tool call: ask again)
                                     \\-> answer -> END        (FinalAnswer, or the step limit)

``start`` opens the conversation with a ``get_schema`` tool call for each table the question
needs, which a ``ToolNode`` runs (as LangGraph's SQL agent tutorial does), so the model sees the
schema before its first turn.
The agent model is bound to its tools with ``tool_choice="required"``: every turn is a tool call,
either ``run_sql`` / ``calculator`` (executed by the ``ToolNode``, results go back to the model)
or ``FinalAnswer`` (the loop ends). A step limit ends runaway loops. Bad SQL and bad arithmetic
come back to the model as error ``ToolMessage`` s (``handle_tool_error=True``), as in any agent.

The database is a small in-memory SQLite shop (products, customers, orders) the example builds
from synthetic data; every query runs on a fresh read-only copy of it. The read-only tools are
declared pure to Halo with ``metadata={"halo_pure": True}`` (what
``halo_adapters.pure`` sets), so identical queries of different inputs run once.

Run it::

    python examples/langgraph_sql_agent.py                     # under Halo, SmolLM2, 32 questions
    python examples/langgraph_sql_agent.py --model tiny --n 8
    python examples/langgraph_sql_agent.py --base-url http://127.0.0.1:8000/v1 \\
        --served-model smollm2                                 # without Halo, against vllm serve
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Sequence
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage
from langchain_core.tools import ToolException, tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode
from pydantic import BaseModel, Field

try:  # imported as examples.langgraph_sql_agent
    from examples._common import evaluate_arithmetic, run_example, short
except ImportError:  # run as a script: python examples/langgraph_sql_agent.py
    from _common import evaluate_arithmetic, run_example, short  # type: ignore[no-redef]

# ---- the database ------------------------------------------------------------------------------

SCHEMA_SQL = """
CREATE TABLE products (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL, price REAL NOT NULL
);
CREATE TABLE customers (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    product_id INTEGER NOT NULL REFERENCES products(id),
    quantity INTEGER NOT NULL,
    order_date TEXT NOT NULL
);
"""

PRODUCTS = [
    ("Desk Lamp", "lighting", 39.90),
    ("Floor Lamp", "lighting", 89.00),
    ("Coffee Maker", "kitchen", 79.99),
    ("Chef Knife", "kitchen", 64.00),
    ("Water Pitcher", "kitchen", 29.95),
    ("Headphones", "electronics", 149.00),
    ("Power Bank", "electronics", 45.99),
    ("Tablet", "electronics", 229.00),
    ("Yoga Mat", "sports", 34.50),
    ("Running Shoes", "sports", 119.50),
    ("Tent", "outdoor", 159.00),
    ("Sleeping Bag", "outdoor", 74.25),
]
CUSTOMERS = [
    ("Ada", "Lyon"),
    ("Ben", "Leeds"),
    ("Chloe", "Lyon"),
    ("Dev", "Pune"),
    ("Elif", "Izmir"),
    ("Femi", "Lagos"),
    ("Gus", "Leeds"),
    ("Hana", "Osaka"),
]


def _orders() -> list[tuple[int, int, int, str]]:
    """48 orders from a fixed recipe (no randomness): customer, product, quantity, date."""
    rows = []
    for i in range(48):
        month = 1 + i % 6
        rows.append(
            (
                1 + (i * 5) % 8,
                1 + (i * 7) % 12,
                1 + (i * 3) % 4,
                f"2024-{month:02d}-{1 + i % 28:02d}",
            )
        )
    return rows


@functools.cache
def database_image() -> bytes:
    """The shop database, built once, as SQLite's serialized bytes."""
    con = sqlite3.connect(":memory:")
    con.executescript(SCHEMA_SQL)
    con.executemany("INSERT INTO products (name, category, price) VALUES (?, ?, ?)", PRODUCTS)
    con.executemany("INSERT INTO customers (name, city) VALUES (?, ?)", CUSTOMERS)
    con.executemany(
        "INSERT INTO orders (customer_id, product_id, quantity, order_date) VALUES (?, ?, ?, ?)",
        _orders(),
    )
    con.commit()
    image = con.serialize()
    con.close()
    return image


def connect() -> sqlite3.Connection:
    """A private, read-only copy of the shop database (safe to use from any thread)."""
    con = sqlite3.connect(":memory:")
    con.deserialize(database_image())
    con.execute("PRAGMA query_only = ON")
    return con


TABLES = ("products", "customers", "orders")

# ---- tools -------------------------------------------------------------------------------------

MAX_ROWS = 5
MAX_RESULT_CHARS = 200


@tool
def get_schema(table: str) -> str:
    """Columns of one table."""
    with contextlib.closing(connect()) as con:
        cols = con.execute("SELECT name, type FROM pragma_table_info(?)", (table,)).fetchall()
    if not cols:
        raise ToolException(f"Error: no table named {table!r}; tables: {', '.join(TABLES)}")
    return f"{table}({', '.join(f'{name} {kind}' for name, kind in cols)})"


class RunSqlInput(BaseModel):
    query: str = Field(max_length=80)


@tool(args_schema=RunSqlInput)
def run_sql(query: str) -> str:
    """Run a read-only SQL query (at most 5 rows)."""
    if not query.strip():
        raise ToolException("Error: empty query")
    try:
        with contextlib.closing(connect()) as con:
            cur = con.execute(query)
            rows = cur.fetchmany(MAX_ROWS + 1)
            header = [d[0] for d in cur.description or ()]
    except (sqlite3.Error, ValueError, OverflowError) as e:
        raise ToolException(f"Error: {e}") from None
    lines = [" | ".join(header)] + [" | ".join(str(v) for v in r) for r in rows[:MAX_ROWS]]
    if len(rows) > MAX_ROWS:
        lines.append("...")
    text = "\n".join(lines)
    return text if len(text) <= MAX_RESULT_CHARS else text[: MAX_RESULT_CHARS - 3] + "..."


class CalculatorInput(BaseModel):
    expression: str = Field(max_length=40)


@tool(args_schema=CalculatorInput)
def calculator(expression: str) -> str:
    """Evaluate arithmetic, e.g. 2 * (79.99 + 4.5)."""
    try:
        return evaluate_arithmetic(expression)
    except (SyntaxError, ValueError, ArithmeticError, RecursionError) as e:
        raise ToolException(f"Error: {e}") from None


class FinalAnswer(BaseModel):
    """Answer the question; ends the conversation."""

    answer: str = Field(max_length=60)


# These tools only read: the same input always gives the same output. Declare them pure to batch
# runners (Halo merges identical pure calls across inputs; halo_adapters.pure sets
# the same flag), and hand tool errors back to the model as error ToolMessages.
for _tool in (get_schema, run_sql, calculator):
    _tool.metadata = {**(_tool.metadata or {}), "halo_pure": True}
    _tool.handle_tool_error = True

TOOLS = [run_sql, calculator]

# ---- the graph ---------------------------------------------------------------------------------

SYSTEM_PROMPT = f"""\
You are a data analyst for an online shop. Answer with its SQLite database (tables: \
{", ".join(TABLES)}). Each turn, call one tool: run_sql (a read-only SELECT), calculator, or \
FinalAnswer once you know the answer. If a tool returns an error, fix the call."""

REMINDER = "Call a tool: run_sql, calculator or FinalAnswer."

#: Agent turns (LLM calls) per question before the loop gives up.
MAX_STEPS = 3

#: Default cap on output tokens per call for ``main``.
DEFAULT_MAX_TOKENS = 64


class AgentState(TypedDict, total=False):
    question: str
    tables: list[str]
    messages: Annotated[list[AnyMessage], add_messages]
    steps: int
    answer: str


def build_graph(model: BaseChatModel, *, max_steps: int = MAX_STEPS) -> Any:
    """The compiled SQL agent; ``model`` is any LangChain chat model that can call tools."""
    agent_model = model.bind_tools(
        [*TOOLS, FinalAnswer], tool_choice="required", parallel_tool_calls=False, strict=True
    )

    def start(state: AgentState) -> AgentState:
        """The question, then a ``get_schema`` call for each table the question needs."""
        calls = [
            {"name": "get_schema", "args": {"table": t}, "id": f"schema-{t}", "type": "tool_call"}
            for t in state.get("tables") or TABLES
        ]
        return {
            "messages": [
                SystemMessage(SYSTEM_PROMPT),
                HumanMessage(state["question"]),
                AIMessage("", tool_calls=calls),
            ],
            "steps": 0,
        }

    def agent(state: AgentState) -> AgentState:
        reply = agent_model.invoke(state["messages"])
        return {"messages": [reply], "steps": state.get("steps", 0) + 1}

    def after_agent(state: AgentState) -> Literal["tools", "remind", "answer"]:
        calls = getattr(state["messages"][-1], "tool_calls", None) or []
        if any(c["name"] == FinalAnswer.__name__ for c in calls):
            return "answer"
        if state.get("steps", 0) >= max_steps:
            return "answer"
        return "tools" if calls else "remind"

    def remind(state: AgentState) -> AgentState:
        return {"messages": [HumanMessage(REMINDER)]}

    def answer(state: AgentState) -> AgentState:
        for call in getattr(state["messages"][-1], "tool_calls", None) or []:
            if call["name"] == FinalAnswer.__name__:
                return {"answer": str(call["args"].get("answer", ""))}
        return {"answer": f"No answer after {state.get('steps', 0)} steps."}

    g = StateGraph(AgentState)
    g.add_node("start", start)
    g.add_node("get_schema", ToolNode([get_schema]))
    g.add_node("agent", agent)
    g.add_node("tools", ToolNode(TOOLS))
    g.add_node("remind", remind)
    g.add_node("answer", answer)
    g.add_edge(START, "start")
    g.add_edge("start", "get_schema")
    g.add_edge("get_schema", "agent")
    g.add_conditional_edges("agent", after_agent)
    g.add_edge("tools", "agent")
    g.add_edge("remind", "agent")
    g.add_edge("answer", END)
    return g.compile()


#: Questions (and the tables each one needs); inputs cycle through them.
QUESTIONS: list[tuple[str, list[str]]] = [
    ("Which product is the most expensive?", ["products"]),
    ("How many orders were placed in March 2024?", ["orders"]),
    ("What is the total revenue of all orders?", ["orders", "products"]),
    ("Which city has the most customers?", ["customers"]),
    ("How many units of Tablet were sold?", ["orders", "products"]),
    ("What is the average price of kitchen products?", ["products"]),
    ("Which customer placed the most orders?", ["orders", "customers"]),
    ("What is the price of two Tents and one Sleeping Bag together?", ["products"]),
    ("How many products cost less than 50 dollars?", ["products"]),
    ("Which category has the highest total sales?", ["orders", "products"]),
    ("How many orders did customers from Leeds place?", ["orders", "customers"]),
    ("What was the largest quantity in a single order?", ["orders"]),
    ("What is 15 percent of the price of the Headphones?", ["products"]),
    ("How many different products did Ada buy?", ["orders", "customers"]),
    ("In which month of 2024 were the most units sold?", ["orders"]),
    ("What is the revenue from electronics in June 2024?", ["orders", "products"]),
]


def make_inputs(n: int) -> list[dict[str, Any]]:
    """``n`` questions, cycling through the 16 built-in ones (deterministic)."""
    return [
        {"question": q, "tables": list(t)}
        for q, t in (QUESTIONS[i % len(QUESTIONS)] for i in range(n))
    ]


def describe(result: Any) -> str:
    """A few lines about one result (or its error)."""
    if isinstance(result, BaseException):
        return f"  failed: {type(result).__name__}: {result}"
    lines = [f"  Q: {result['question']}"]
    for m in result["messages"][2:]:
        if m.type == "ai" and m.tool_calls:
            calls = "; ".join(f"{c['name']}({short(c['args'], 80)})" for c in m.tool_calls)
            lines.append(f"    call   {calls}")
        elif m.type in ("ai", "tool", "human"):
            lines.append(f"    {m.type:<6} {short(m.text, 100)}")
    lines.append(f"  A: {short(result['answer'])}  ({result['steps']} steps)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> list[Any]:
    return run_example(
        "Answer shop questions with a LangGraph SQL agent (run_sql, calculator, FinalAnswer).",
        build_graph=build_graph,
        make_inputs=make_inputs,
        describe=describe,
        default_n=32,
        default_max_tokens=DEFAULT_MAX_TOKENS,
        argv=argv,
    )


if __name__ == "__main__":
    main()
