"""W5 TPCH-Trident: 7 LLM operators, 10 tool operators (7 SQL, 2 HTTP, 1 rule), plain LangGraph.

An analyst question about TPC-H data goes through a regex rule that extracts its parameters (no
LLM), three entry agents that each run two canonical TPC-H queries, two hubs that add market
reports from a web API, a tail agent, and the final answer with one more query (the paper's
Fig. 5)::

    START -> extract_params (rule)
               ├─> entry_lineitem (S; Q1 + Q6) ──┐
               ├─> entry_revenue  (M; Q3 + Q5) ──┼─> hub_ops (M) ─┐
               ├─> shipmode_report (HTTP) ───────┘                │
               ├─> entry_supply   (L; Q2 + Q9) ───────────────────┼─> hub_full_context (S)
               └─> promo_report (HTTP) ───────────────────────────┘     ├─> tail_focus (L) ─┐
                                                                        └───────────────────┴─>
                                                                 final_answer (M; Q15) -> END

``extract_params``, ``shipmode_report`` and ``promo_report`` are tool-only nodes: the reports
depend only on the extracted parameters, so they run alongside the entry agents instead of in
front of the hubs. Every tool call depends only on the parameters in the question, so questions
that share parameters make identical tool calls.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, TypedDict

from langchain_core.language_models import BaseChatModel
from langgraph.graph import END, START
from langgraph.graph.state import CompiledStateGraph

from benchmarks.suite.workloads._shared import (
    N_CANDIDATES,
    SEGMENTS,
    SHIPMODES,
    TOOL_CHARS,
    draw_questions,
    extract_params,
    final_answer_of,
    graph_of,
    llm_step,
    node_models,
    params_section,
    question_block,
    section,
    seeded_draws,
    tpch_query,
    tpch_report_api,
    user_message,
)

NAME = "W5"
TITLE = "TPCH-Trident"
LLM_OPS = 7
TOOL_OPS = 10

#: The model size of each LLM node (the paper's S/M/L).
NODE_MODELS = node_models(
    S=("entry_lineitem", "hub_full_context"),
    M=("entry_revenue", "hub_ops", "final_answer"),
    L=("entry_supply", "tail_focus"),
)

#: Nodes that only call tools (no LLM).
TOOL_NODES: tuple[str, ...] = ("extract_params", "shipmode_report", "promo_report")

#: Longest question (characters) that goes into a prompt; the questions carry many parameters.
QUESTION_CHARS = 520

#: Longest TPC-H result (characters) in a prompt with two results.
PAIR_TOOL_CHARS = 560

# ---- system prompts ----------------------------------------------------------------------------

_DB = """\
The data is the TPC-H decision-support database: customers in five market segments, orders \
with priorities, line items with prices, discounts, ship modes and ship, commit and receipt \
dates, parts with brands, types and sizes, suppliers, nations and five regions. Amounts are in \
dollars."""

ENTRY_LINEITEM = f"""\
You are entry agent A (line items) of a TPC-H analytics assistant. {_DB}

You receive an analyst's question, the parameters a rule extracted from it, and two query \
results:
- TPC-H Q1 pricing summary: per return flag and line status, quantities, base and discounted \
prices, charges, averages and line counts for items shipped up to the pricing cutoff;
- TPC-H Q6 forecast revenue change: the revenue a discount band would have added for items \
shipped in the year under the quantity limit.

Write line-item notes for the hub agent:
1. The two or three numbers of Q1 that matter most (largest flag/status group, average \
discount, line counts).
2. The Q6 revenue and what it means for the discount the question asks about.
3. One sentence linking both to the question.

Rules: quote numbers exactly as in the rows (you may round to millions); never invent values; \
if a result is empty, say so. At most 80 words, plain sentences, no markdown."""

ENTRY_REVENUE = f"""\
You are entry agent B (revenue) of a TPC-H analytics assistant. {_DB}

You receive an analyst's question, the extracted parameters, and two query results:
- TPC-H Q3 shipping priority: the ten unshipped orders with the highest revenue for the market \
segment, placed before the date and shipped after it (order key | revenue | order date | ship \
priority);
- TPC-H Q5 local supplier volume: revenue from customers and suppliers of the same nation, per \
nation of the region, for orders placed in the year.

Write revenue notes for the hub agent:
1. The top order or two of Q3 with revenue and date, and the spread of the list.
2. The leading and trailing nations of Q5 with revenue, and how concentrated revenue is.
3. One sentence connecting the segment's backlog to the region's supplier revenue.

Rules: use only the rows; keep keys, nations and numbers exact (round to thousands at most); \
if a result is empty, say so. At most 80 words, plain sentences, no markdown."""

ENTRY_SUPPLY = f"""\
You are entry agent C (supply) of a TPC-H analytics assistant. {_DB}

You receive an analyst's question, the extracted parameters, and two query results:
- TPC-H Q2 minimum-cost supplier: for parts of the size and type, the suppliers of the region \
that offer them at the lowest supply cost, richest account first (account balance | supplier \
| nation | part key | manufacturer | address | phone | comment);
- TPC-H Q9 product type profit: profit on parts whose name contains the color, per supplier \
nation and order year (nation | year | profit), first rows only.

Write supply notes for the hub agent:
1. The best two or three suppliers of Q2 with nation and account balance.
2. What Q9 shows about profit on the color's parts: the strongest nation-years and the trend.
3. One supply risk worth checking (few suppliers, one dominant nation, falling profit).

Rules: ignore addresses, phones and comments; quote names and numbers exactly; never invent \
rows; if a result is empty, say so. At most 80 words, plain sentences, no markdown."""

HUB_OPS = f"""\
You are hub 1 (operations) of a TPC-H analytics assistant. {_DB}

Two entry agents wrote notes in parallel: line items (pricing summary, discount revenue) and \
revenue (top unshipped orders, revenue by nation). You also receive a market report on the \
first ship mode of the question from the reports web API: line items shipped by that mode, the \
share that arrived after the committed date, the average discount, and an analyst outlook.

Fuse them into one operations view of the question:
1. The single most important finding, with its number.
2. How the ship mode's lateness and discount level bear on the orders and revenue in the notes.
3. One tension or open question between the two notes.

Rules: where notes disagree, prefer the one with the exact number; keep all numbers exact; \
treat the outlook as opinion, not data; never add facts that are in no input. At most 90 \
words, plain sentences, no markdown."""

HUB_FULL_CONTEXT = f"""\
You are hub 2 (full context) of a TPC-H analytics assistant. {_DB}

You receive the operations view written by hub 1, the supply notes of entry agent C \
(cheapest suppliers, profit on the color's parts), and a promotion report from the reports \
web API: the share of one month's revenue that came from promotional parts, the revenue \
shipped that month, and an analyst outlook.

Combine them into the full-context view every later agent relies on:
1. Demand side: the key revenue and order facts from the operations view.
2. Supply side: the key supplier and profit facts.
3. Pricing: what the promotion share adds about discounts and promotions.
4. The two most promising directions for answering the question.

Rules: keep every number exact; drop repetition; label opinions from the outlook as such; \
never add facts that are in no input. At most 100 words, plain sentences, no markdown."""

TAIL_FOCUS = f"""\
You are the tail agent of a TPC-H analytics assistant. {_DB}

You receive the analyst's question, the extracted parameters, and the full-context view the \
hub agents built from query results and market reports. Decide where the analysis should go \
next.

Write focus notes:
1. Which part of the question the view already answers well, in one sentence.
2. Four to six follow-up checks, most valuable first, each naming the TPC-H table or query \
and the parameter to change (for example another region, a later date, a narrower discount \
band), one short line each.
3. Which parameter of the question is most likely to change the conclusion, and why.

Rules: propose only checks the TPC-H schema supports; do not repeat the view; keep numbers \
exact if you cite any. At most 90 words, no markdown headings."""

FINAL_ANSWER = f"""\
You are the final answer assistant of a TPC-H analytics assistant. {_DB}

Earlier agents ran TPC-H queries and read market reports for the analyst's question. You \
receive the question, the extracted parameters, the full-context view, the tail agent's focus \
notes, and one more result: TPC-H Q15 top supplier, the supplier(s) with the highest revenue \
from items shipped in the quarter (supplier key | name | address | phone | total revenue).

Write the final answer to the analyst:
1. Answer the question directly in the first two sentences, with the key numbers.
2. Name the quarter's top supplier and its revenue, and how it fits the picture.
3. Close with the one follow-up check from the focus notes that matters most.

Rules: stay grounded in the inputs; never invent numbers, names or dates; ignore addresses and \
phones; if something cannot be answered from the inputs, say so briefly. At most 110 words of \
plain prose, no markdown, no preamble."""

# ---- the graph ---------------------------------------------------------------------------------


class TridentState(TypedDict, total=False):
    # the query (input)
    question: str
    # tool node outputs
    params: dict[str, Any]
    shipmode_report: str
    promo_report: str
    # LLM node outputs
    lineitem_notes: str
    revenue_notes: str
    supply_notes: str
    ops_view: str
    full_context: str
    focus_notes: str
    final_answer: str


def year_start(params: Mapping[str, Any]) -> str:
    """The first day of the parameters' year (``YYYY-01-01``)."""
    return f"{params['year']}-01-01"


def quarter_start(params: Mapping[str, Any]) -> str:
    """The first day of the parameters' quarter of their year."""
    return f"{params['year']}-{3 * (int(params['quarter']) - 1) + 1:02d}-01"


def promo_month(params: Mapping[str, Any]) -> str:
    """The month of the promotion report (September of the parameters' year, as TPC-H Q14)."""
    return f"{params['year']}-09"


def _question(state: TridentState) -> str:
    return question_block(state, QUESTION_CHARS)


def build_graph(models: Mapping[str, BaseChatModel]) -> CompiledStateGraph:
    """The compiled W5 graph; ``models`` maps "S" / "M" / "L" to chat models."""
    small, medium, large = models["S"], models["M"], models["L"]

    def shipmode_report(state: TridentState) -> TridentState:
        mode = state["params"]["shipmode1"]
        return {"shipmode_report": tpch_report_api.invoke({"kind": "shipmode", "key": mode})}

    def promo_report(state: TridentState) -> TridentState:
        month = promo_month(state["params"])
        return {"promo_report": tpch_report_api.invoke({"kind": "promo", "key": month})}

    def entry_lineitem(state: TridentState) -> TridentState:
        p = state["params"]
        q1 = tpch_query.invoke({"query": 1, "parameters": {"DELTA": p["delta"]}})
        q6 = tpch_query.invoke(
            {
                "query": 6,
                "parameters": {
                    "DATE": year_start(p),
                    "DISCOUNT": p["discount"],
                    "QUANTITY": p["quantity"],
                },
            }
        )
        user = user_message(
            _question(state),
            params_section(state, "delta", "year", "discount", "quantity"),
            section(f"Q1 pricing summary ({p['delta']}-day cutoff)", q1, PAIR_TOOL_CHARS),
            section(f"Q6 forecast revenue change ({p['year']})", q6, PAIR_TOOL_CHARS),
            task="Write the line-item notes.",
        )
        return {"lineitem_notes": llm_step(small, ENTRY_LINEITEM, user)}

    def entry_revenue(state: TridentState) -> TridentState:
        p = state["params"]
        q3 = tpch_query.invoke(
            {"query": 3, "parameters": {"SEGMENT": p["segment"], "DATE": p["date"]}}
        )
        q5 = tpch_query.invoke(
            {"query": 5, "parameters": {"REGION": p["region"], "DATE": year_start(p)}}
        )
        user = user_message(
            _question(state),
            params_section(state, "segment", "date", "region", "year"),
            section(f"Q3 shipping priority ({p['segment']}, {p['date']})", q3, PAIR_TOOL_CHARS),
            section(f"Q5 local supplier volume ({p['region']}, {p['year']})", q5, PAIR_TOOL_CHARS),
            task="Write the revenue notes.",
        )
        return {"revenue_notes": llm_step(medium, ENTRY_REVENUE, user)}

    def entry_supply(state: TridentState) -> TridentState:
        p = state["params"]
        q2 = tpch_query.invoke(
            {
                "query": 2,
                "parameters": {"SIZE": p["size"], "TYPE": p["type"], "REGION": p["region"]},
            }
        )
        q9 = tpch_query.invoke({"query": 9, "parameters": {"COLOR": p["color"]}})
        user = user_message(
            _question(state),
            params_section(state, "region", "size", "type", "color"),
            section(
                f"Q2 minimum-cost suppliers (size {p['size']} {p['type']}, {p['region']})",
                q2,
                PAIR_TOOL_CHARS,
            ),
            section(f"Q9 profit on '{p['color']}' parts", q9, PAIR_TOOL_CHARS),
            task="Write the supply notes.",
        )
        return {"supply_notes": llm_step(large, ENTRY_SUPPLY, user)}

    def hub_ops(state: TridentState) -> TridentState:
        p = state["params"]
        user = user_message(
            _question(state),
            section("Line-item notes", state["lineitem_notes"]),
            section("Revenue notes", state["revenue_notes"]),
            section(f"Ship-mode report ({p['shipmode1']})", state["shipmode_report"], TOOL_CHARS),
            task="Write the operations view.",
        )
        return {"ops_view": llm_step(medium, HUB_OPS, user)}

    def hub_full_context(state: TridentState) -> TridentState:
        month = promo_month(state["params"])
        user = user_message(
            _question(state),
            section("Operations view", state["ops_view"]),
            section("Supply notes", state["supply_notes"]),
            section(f"Promotion report ({month})", state["promo_report"], TOOL_CHARS),
            task="Write the full-context view.",
        )
        return {"full_context": llm_step(small, HUB_FULL_CONTEXT, user)}

    def tail_focus(state: TridentState) -> TridentState:
        user = user_message(
            _question(state),
            params_section(state, "year", "date", "region", "segment", "shipmode1", "discount"),
            section("Full-context view", state["full_context"]),
            task="Write the focus notes.",
        )
        return {"focus_notes": llm_step(large, TAIL_FOCUS, user)}

    def final_answer(state: TridentState) -> TridentState:
        p = state["params"]
        q15 = tpch_query.invoke({"query": 15, "parameters": {"DATE": quarter_start(p)}})
        user = user_message(
            _question(state),
            params_section(state, "year", "quarter"),
            section("Full-context view", state["full_context"]),
            section("Focus notes", state["focus_notes"]),
            section(f"Q15 top supplier (Q{p['quarter']} {p['year']})", q15, TOOL_CHARS),
            task="Write the final answer.",
        )
        return {"final_answer": llm_step(medium, FINAL_ANSWER, user)}

    g = graph_of(
        TridentState,
        extract_params,
        shipmode_report,
        promo_report,
        entry_lineitem,
        entry_revenue,
        entry_supply,
        hub_ops,
        hub_full_context,
        tail_focus,
        final_answer,
    )
    g.add_edge(START, "extract_params")
    for first in (
        "shipmode_report",
        "promo_report",
        "entry_lineitem",
        "entry_revenue",
        "entry_supply",
    ):  # fan-out after the rule
        g.add_edge("extract_params", first)
    # joins: a list of sources waits for all of them
    g.add_edge(["entry_lineitem", "entry_revenue", "shipmode_report"], "hub_ops")
    g.add_edge(["hub_ops", "entry_supply", "promo_report"], "hub_full_context")
    g.add_edge("hub_full_context", "tail_focus")
    g.add_edge(["hub_full_context", "tail_focus"], "final_answer")
    g.add_edge("final_answer", END)
    return g.compile()


# ---- inputs and answers ------------------------------------------------------------------------

QUESTIONS = (
    "For {year}, compare revenue from {segment}-segment orders placed before {date} with "
    "local-supplier revenue in {region}. Also: which {region} suppliers offer size-{size} {type} "
    "parts cheapest, how profitable are '{color}' parts, how do {shipmode1} vs {shipmode2} "
    "shipments perform, what did a {pct}% discount on orders under {quantity} units earn, what "
    "does a {delta}-day pricing summary show, and who was the top supplier in Q{quarter}?",
    "I manage the {region} region. Taking {year} as the reference year, which {segment} orders "
    "had the most unshipped revenue as of {date}, and which nations led supplier revenue? Check "
    "the cheapest suppliers of {type} parts of size {size}, profit on '{color}' parts, "
    "{shipmode1} versus {shipmode2} shipping, the value of a {pct}% discount on orders under "
    "{quantity} units, a {delta}-day pricing summary and the top supplier of Q{quarter}.",
    "Quarterly review for Q{quarter} of {year}: summarize pricing with a {delta}-day cutoff, "
    "the gain from a {pct}% discount below {quantity} units, top {segment} backlog orders before "
    "{date}, nation revenue in {region}, cheapest size-{size} {type} suppliers there, profit on "
    "parts named '{color}', and whether {shipmode1} or {shipmode2} ships more reliably.",
)

REGIONS = ("AFRICA", "AMERICA", "ASIA", "EUROPE", "MIDDLE EAST")
TYPES = ("TIN", "NICKEL", "BRASS", "STEEL", "COPPER")
COLORS = ("green", "blue", "red", "ivory", "khaki", "lime", "navy", "olive", "peach", "plum")


def parameter_sets(seed: int = 0, count: int = N_CANDIDATES) -> list[dict[str, Any]]:
    """``count`` deterministic TPC-H parameter sets in the spec's substitution ranges."""
    return seeded_draws(f"{seed}:w5", count, _parameter_set)


def _parameter_set(rng: random.Random) -> dict[str, Any]:
    modes = rng.sample(SHIPMODES, 2)
    return {
        "year": rng.randint(1993, 1997),
        "date": f"1995-03-{rng.randint(1, 31):02d}",
        "segment": rng.choice(SEGMENTS),
        "region": rng.choice(REGIONS),
        "size": rng.randint(1, 50),
        "type": rng.choice(TYPES),
        "color": rng.choice(COLORS),
        "shipmode1": modes[0],
        "shipmode2": modes[1],
        "pct": rng.randint(2, 9),
        "quantity": rng.choice((24, 25)),
        "delta": rng.randint(60, 120),
        "quarter": rng.randint(1, 4),
    }


def make_inputs(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` deterministic analyst questions over about ``n / 4`` TPC-H parameter sets."""
    return draw_questions(parameter_sets(seed), n, seed, QUESTIONS)


#: The final answer of a finished instance.
answer = final_answer_of
