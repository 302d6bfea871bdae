"""W7 TPCH-OrderAudit: 5 LLM operators, 6 tool operators (3 HTTP, 3 SQL), plain LangGraph.

Not one of the paper's workloads: the one whose instances share **no identical call**. Every
instance audits a different TPC-H order; a planner reads the order's own row, three branches each
wait on a market report from the web API (filed under the order's key, with the service's Gamma
latency), review it, and then pull the order's own rows from the database, and a final auditor
merges the three reviews with those rows::

    START -> plan (M)
               ├─> shipping_lookup (HTTP) -> shipping_review (S) -> shipping_check (SQL) ─┐
               ├─> pricing_lookup  (HTTP) -> pricing_review  (M) -> pricing_check  (SQL) ─┼─>
               └─> customer_lookup (HTTP) -> customer_review (L) -> customer_check (SQL) ─┘
                                                                    final_audit (L) -> END

The six ``*_lookup`` / ``*_check`` nodes are tool-only nodes. Distinct by construction:
``make_inputs`` draws ``n`` *different* orders (never more than the database holds), every
question names its order's key, every LLM prompt carries the question, and every tool call's
arguments carry the order's key (the reports' ``order`` parameter, the checks' SQL parameters).
Shared system prompts give shared prefixes; no two instances make the same LLM or tool call. (The
web API writes a report from its kind and key alone; ``order`` changes the call and the latency
the service draws for it, not the text, so report texts repeat across orders of one ship mode,
brand or nation.)
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import tool
from langgraph.graph import END, START
from langgraph.graph.state import CompiledStateGraph

from benchmarks.suite import tools
from benchmarks.suite.workloads._shared import (
    db_rows,
    graph_of,
    llm_step,
    node_models,
    pure,
    run_sql,
    section,
    user_message,
)

NAME = "W7"
TITLE = "TPCH-OrderAudit"
LLM_OPS = 5
TOOL_OPS = 6

#: The model size of each LLM node.
NODE_MODELS = node_models(
    S=("shipping_review",),
    M=("plan", "pricing_review"),
    L=("customer_review", "final_audit"),
)

#: Nodes that only call tools (no LLM): one HTTP lookup and one SQL check per branch.
TOOL_NODES: tuple[str, ...] = (
    "shipping_lookup",
    "pricing_lookup",
    "customer_lookup",
    "shipping_check",
    "pricing_check",
    "customer_check",
)

BRANCHES = ("shipping", "pricing", "customer")

#: Prompt budget (characters): the question, the plan, one report in a review; the final auditor
#: reads three reviews and three row sets, so its pieces are shorter.
QUESTION_CHARS = 400
PLAN_CHARS = 360
REPORT_CHARS = 420
REVIEW_CHARS = 260
ROWS_CHARS = 420

# ---- the report tool: a market report filed under one order --------------------------------


@tool
def order_report_api(kind: str, key: str, order: int) -> str:
    """Fetch a market report from the reports web API for the audit of one order: ``kind`` is
    region, nation, segment, shipmode, priority, brand or promo; ``key`` the value (e.g. "MAIL");
    ``order`` the key of the order the report is filed under."""
    return tools.http_get("/tpch/report", kind=kind, key=key, order=order)


pure(order_report_api)

# ---- SQL (read-only, parameters from the instance's own order) -------------------------------

SHIPPING_CHECK = """
SELECT l_linenumber AS line, l_shipmode AS mode, l_shipdate AS shipped,
       l_commitdate AS committed, l_receiptdate AS received,
       l_receiptdate - l_commitdate AS days_late
FROM lineitem
WHERE l_orderkey = ?
ORDER BY l_linenumber"""

PRICING_CHECK = """
SELECT l_linenumber AS line, p_brand AS brand, CAST(l_quantity AS INTEGER) AS qty,
       p_retailprice AS list_price, l_discount AS discount,
       CAST(l_extendedprice * (1 - l_discount) AS DECIMAL(15, 2)) AS net
FROM lineitem
JOIN part ON p_partkey = l_partkey
WHERE l_orderkey = ?
ORDER BY l_linenumber"""

CUSTOMER_CHECK = """
SELECT o_orderkey AS order_key, o_orderdate AS date, o_orderpriority AS priority,
       o_totalprice AS total, o_orderstatus AS status
FROM orders
WHERE o_custkey = ? AND o_orderkey <> ?
ORDER BY abs(date_diff('day', o_orderdate, CAST(? AS DATE))), o_orderkey
LIMIT 6"""

# ---- system prompts ----------------------------------------------------------------------------

_DB = """\
The data is the TPC-H decision-support database: customers in five market segments and 25 \
nations, orders with priorities and clerks, line items with ship modes, ship, commit and \
receipt dates, discounts and return flags, and parts with brands and list prices. Amounts are \
in dollars."""

PLAN = f"""\
You are the lead auditor of an order-audit team. {_DB}

You receive one audit request about a single order: its key, the customer (name, segment, \
nation), the order date, priority, total value, the number of line items, the main line's ship \
mode and brand, and the clerk's free-text note on the order.

Write the audit plan the three reviewers will follow:
1. SHIPPING: what to check about delivery, given the priority and the ship mode.
2. PRICING: what to check about the brand's prices and the discounts.
3. CUSTOMER: what to check about this customer's ordering pattern around the order date.
4. One risk the clerk's note suggests, quoted in a few words.

Rules: one short line per item; keep the order key, names and values exactly as given; no \
numbers that are not in the request; no conclusions yet. At most 80 words, no markdown."""

SHIPPING_REVIEW = f"""\
You are the shipping reviewer of an order-audit team. {_DB}

You receive the audit request about one order, the lead auditor's plan, and the market report \
for the order's main ship mode from the reports web API: how many line items that mode \
carried, what share arrived after the committed date, its average discount, and an analyst \
outlook.

Write the shipping review:
1. The late-arrival rate to expect for this ship mode, quoted from the report.
2. Whether the order's priority makes a late delivery more or less serious.
3. What the line-item dates (which the auditor will check next) must show for the order to \
pass: name the condition, e.g. every receipt on or before its commit date.

Rules: numbers only from the report; keep the order key exactly; do not claim the order was \
late or on time, you have not seen its dates. At most 70 words, no markdown."""

PRICING_REVIEW = f"""\
You are the pricing reviewer of an order-audit team. {_DB}

You receive the audit request about one order, the lead auditor's plan, and the market report \
for the brand of the order's main line item from the reports web API: how many parts the brand \
has, their average list price, the brand's revenue, and an analyst outlook.

Write the pricing review:
1. The brand's average list price and revenue, quoted from the report.
2. Whether the order's total looks large or small for its number of line items, given that \
average price.
3. The discount level above which a line should be flagged, with one reason from the outlook.

Rules: numbers only from the request and the report, quoted exactly; keep the order key and \
brand exactly; no invented prices. At most 70 words, no markdown."""

CUSTOMER_REVIEW = f"""\
You are the customer reviewer of an order-audit team. {_DB}

You receive the audit request about one order, the lead auditor's plan, and the market report \
for the customer's nation from the reports web API: how many orders the nation's customers \
placed, their revenue, the leading market of the region, and an analyst outlook.

Write the customer review:
1. How the nation's market is doing, quoted from the report.
2. What the customer's neighbouring orders (which the auditor will check next) would need to \
show for this order to be routine: similar totals, similar priorities, a steady cadence.
3. One sign in the request or the clerk's note that would make the order unusual.

Rules: numbers only from the request and the report; keep the order key, customer name and \
nation exactly; do not guess the customer's other orders. At most 70 words, no markdown."""

FINAL_AUDIT = f"""\
You are the final auditor of an order-audit team. {_DB}

You receive the audit request about one order, the three reviews (shipping, pricing, customer) \
written from market reports, and the order's own rows from the database: its line items' ship, \
commit and receipt dates with days late (negative is early), its line items' brands, \
quantities, list prices, discounts and net amounts, and the same customer's orders nearest in \
date.

Write the audit verdict:
1. PASS, WATCH or FLAG, on the first line.
2. Shipping: how many lines arrived late, by how many days at most, against the review's rate.
3. Pricing: the highest discount and whether the review's threshold is crossed.
4. Customer: whether the neighbouring orders make this one routine.

Rules: the rows win over the reviews; numbers exactly as in the rows; keep the order key; if a \
row set is empty, say so. At most 110 words of plain prose after the verdict line, no markdown."""

# ---- the graph ---------------------------------------------------------------------------------


class AuditState(TypedDict, total=False):
    # the query (inputs): one order
    question: str
    order: int
    customer_key: int
    order_date: str
    shipmode: str
    brand: str
    nation: str
    # the plan
    plan: str
    # per branch: the report, the review, the order's own rows
    shipping_report: str
    pricing_report: str
    customer_report: str
    shipping_review: str
    pricing_review: str
    customer_review: str
    shipping_rows: str
    pricing_rows: str
    customer_rows: str
    # final
    verdict: str


def _question(state: AuditState) -> str:
    return section("Audit request", state["question"], QUESTION_CHARS)


def _review(
    model: BaseChatModel, system: str, state: AuditState, title: str, report: str, task: str
) -> str:
    user = user_message(
        _question(state),
        section("Audit plan", state["plan"], PLAN_CHARS),
        section(title, report, REPORT_CHARS),
        task=task,
    )
    return llm_step(model, system, user)


def build_graph(models: Mapping[str, BaseChatModel]) -> CompiledStateGraph:
    """The compiled W7 graph; ``models`` maps "S" / "M" / "L" to chat models."""
    small, medium, large = models["S"], models["M"], models["L"]

    def plan(state: AuditState) -> AuditState:
        user = user_message(_question(state), task="Write the audit plan.")
        return {"plan": llm_step(medium, PLAN, user)}

    # ---- HTTP lookups (tool-only): each report is filed under the order's key

    def _report(state: AuditState, kind: str, key: str) -> str:
        return str(order_report_api.invoke({"kind": kind, "key": key, "order": state["order"]}))

    def shipping_lookup(state: AuditState) -> AuditState:
        return {"shipping_report": _report(state, "shipmode", state["shipmode"])}

    def pricing_lookup(state: AuditState) -> AuditState:
        return {"pricing_report": _report(state, "brand", state["brand"])}

    def customer_lookup(state: AuditState) -> AuditState:
        return {"customer_report": _report(state, "nation", state["nation"])}

    # ---- reviews (one model size per branch): branch → model, prompt, report title and key
    reviewers = {
        "shipping": (small, SHIPPING_REVIEW, "Ship-mode report", "shipmode"),
        "pricing": (medium, PRICING_REVIEW, "Brand report", "brand"),
        "customer": (large, CUSTOMER_REVIEW, "Nation report", "nation"),
    }

    def review(branch: str) -> Callable[[AuditState], Any]:
        model, system, title, key = reviewers[branch]

        def node(state: AuditState) -> Any:
            report = state[f"{branch}_report"]  # type: ignore[literal-required]
            title_of = f"{title} ({state[key]})"  # type: ignore[literal-required]
            task = f"Write the {branch} review."
            return {f"{branch}_review": _review(model, system, state, title_of, report, task)}

        return node

    # ---- SQL checks (tool-only): the order's own rows

    def shipping_check(state: AuditState) -> AuditState:
        rows = run_sql.invoke({"query": SHIPPING_CHECK, "params": [state["order"]]})
        return {"shipping_rows": str(rows)}

    def pricing_check(state: AuditState) -> AuditState:
        rows = run_sql.invoke({"query": PRICING_CHECK, "params": [state["order"]]})
        return {"pricing_rows": str(rows)}

    def customer_check(state: AuditState) -> AuditState:
        params = [state["customer_key"], state["order"], state["order_date"]]
        rows = run_sql.invoke({"query": CUSTOMER_CHECK, "params": params})
        return {"customer_rows": str(rows)}

    def final_audit(state: AuditState) -> AuditState:
        user = user_message(
            _question(state),
            section("Shipping review", state["shipping_review"], REVIEW_CHARS),
            section("Pricing review", state["pricing_review"], REVIEW_CHARS),
            section("Customer review", state["customer_review"], REVIEW_CHARS),
            section("Line-item dates", state["shipping_rows"], ROWS_CHARS),
            section("Line-item prices", state["pricing_rows"], ROWS_CHARS),
            section("Customer's orders nearest in date", state["customer_rows"], ROWS_CHARS),
            task="Write the audit verdict.",
        )
        return {"verdict": llm_step(large, FINAL_AUDIT, user)}

    g = graph_of(
        AuditState,
        plan,
        shipping_lookup,
        pricing_lookup,
        customer_lookup,
        shipping_check,
        pricing_check,
        customer_check,
        final_audit,
    )
    for branch in BRANCHES:
        g.add_node(f"{branch}_review", review(branch))
    g.add_edge(START, "plan")
    for branch in BRANCHES:  # three-way fan-out, each branch a lookup -> review -> check chain
        g.add_edge("plan", f"{branch}_lookup")
        g.add_edge(f"{branch}_lookup", f"{branch}_review")
        g.add_edge(f"{branch}_review", f"{branch}_check")
    g.add_edge([f"{branch}_check" for branch in BRANCHES], "final_audit")
    g.add_edge("final_audit", END)
    return g.compile()


# ---- inputs and answers ------------------------------------------------------------------------

QUESTIONS = (
    "Audit order {order} placed by {customer} ({segment}, {nation}) on {date} at priority "
    "{priority}, total ${total}, {lines} line item(s), main line by {shipmode} of {brand}. Clerk's "
    'note: "{comment}". Did it ship on time, was it priced fairly, and is it routine for this '
    "customer?",
    "Order {order} ({date}, {priority}, ${total}) for {customer} of {nation}, {segment}: "
    '"{comment}" says the clerk. Check its {lines} line item(s) (main line {brand}, shipped '
    "{shipmode}) for late delivery, unusual discounts and an unusual ordering pattern.",
    "Is order {order} a problem? {customer} ({nation}, {segment}) ordered it on {date} at "
    "{priority} for ${total}: {lines} line item(s), mostly {brand} by {shipmode}. The clerk "
    'wrote "{comment}". Review delivery, pricing and the customer\'s history.',
)

#: Every order with its customer and its main line item (the most expensive, then the first).
CANDIDATES_SQL = """
WITH lines AS (
    SELECT l_orderkey, l_shipmode, p_brand,
           count(*) OVER (PARTITION BY l_orderkey) AS n_lines,
           row_number() OVER (
               PARTITION BY l_orderkey ORDER BY l_extendedprice DESC, l_linenumber) AS rank
    FROM lineitem
    JOIN part ON p_partkey = l_partkey)
SELECT o_orderkey, o_custkey, c_name, c_mktsegment, n_name, o_orderdate, o_orderpriority,
       o_totalprice, o_comment, n_lines, l_shipmode, p_brand
FROM orders
JOIN customer ON c_custkey = o_custkey
JOIN nation ON n_nationkey = c_nationkey
JOIN lines ON l_orderkey = o_orderkey AND rank = 1
ORDER BY o_orderkey"""


def make_inputs(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` deterministic audit requests about ``n`` *different* orders (a seeded sample of
    every order; more than the database holds raises ValueError: 15,000 at TPC-H scale 0.01)."""
    rows = db_rows(CANDIDATES_SQL)
    if n > len(rows):
        raise ValueError(f"W7 needs {n} distinct orders; the database has {len(rows)}")
    rng = random.Random(f"{seed}:w7")
    out = []
    for row in rng.sample(rows, n):
        order, cust, customer, segment, nation, date, priority, total, comment, lines = row[:10]
        shipmode, brand = row[10:]
        question = rng.choice(QUESTIONS).format(
            order=order,
            customer=customer,
            segment=segment,
            nation=nation,
            date=date.isoformat(),
            priority=priority,
            total=f"{total:,.2f}",
            lines=lines,
            shipmode=shipmode,
            brand=brand,
            comment=" ".join(str(comment).split()),
        )
        out.append(
            {
                "question": question,
                "order": int(order),
                "customer_key": int(cust),
                "order_date": date.isoformat(),
                "shipmode": str(shipmode),
                "brand": str(brand),
                "nation": str(nation),
            }
        )
    return out


def answer(result: Mapping[str, Any]) -> str:
    """The final audit verdict of a finished instance."""
    return str(result["verdict"])
