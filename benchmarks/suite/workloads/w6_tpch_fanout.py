"""W6 TPCH-Fanout: 9 LLM operators, 13 tool operators (10 SQL, 2 HTTP, 1 rule), plain LangGraph.

A regex rule extracts an analyst question's TPC-H parameters (no LLM); stage 1 fans out to five
agents; every stage-1 brief feeds all three stage-2 agents; a final merger closes the workflow
(the paper's Fig. 5)::

    START -> extract_params (rule)
               ├─> s1_q5_pack (L; 4 SQL) ────────────┐
               ├─> s1_q3_pack (S; 2 HTTP reports) ───┤     ┌─> s2_q5_pack (L; the same 4 SQL) ─┐
               ├─> s1_q1_pack (M; 1 SQL) ────────────┼─────┼─> s2_q1_pack (M; the same 1 SQL) ─┼─>
               ├─> s1_hypotheses (L; no tools) ──────┤     └─> s2_narrative (L; no tools) ─────┘
               └─> s1_alt_angles (L; no tools) ──────┘
                                                                      final_merge (L) -> END

Stage 2's two query packs re-issue exactly the SQL of their stage-1 counterparts (as the
paper's workload does), so each instance repeats five identical calls. Every tool call depends
only on the parameters in the question, so questions that share parameters make identical tool
calls.
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
    draw_questions,
    extract_params,
    final_answer_of,
    graph_of,
    llm_step,
    node_models,
    params_section,
    question_block,
    run_sql,
    section,
    seeded_draws,
    tpch_report_api,
    user_message,
)

NAME = "W6"
TITLE = "TPCH-Fanout"
LLM_OPS = 9
TOOL_OPS = 13

#: The model size of each LLM node (the paper's S/M/L).
NODE_MODELS = node_models(
    S=("s1_q3_pack",),
    M=("s1_q1_pack", "s2_q1_pack"),
    L=("s1_q5_pack", "s1_hypotheses", "s1_alt_angles", "s2_q5_pack", "s2_narrative", "final_merge"),
)

#: Nodes that only call tools (no LLM).
TOOL_NODES: tuple[str, ...] = ("extract_params",)

STAGE1 = ("s1_q5_pack", "s1_q3_pack", "s1_q1_pack", "s1_hypotheses", "s1_alt_angles")
STAGE2 = ("s2_q5_pack", "s2_q1_pack", "s2_narrative")

#: Prompt budget (characters): the question, one tool result in stage 1 and (re-issued) in
#: stage 2, one stage-1 brief in stage 2, one stage-2 brief in the final merger. Stage 2 sees five
#: briefs plus up to four results, so its pieces are shorter.
QUESTION_CHARS = 400
RESULT_CHARS = 420
STAGE2_RESULT_CHARS = 220
STAGE1_BRIEF_CHARS = 220
STAGE2_BRIEF_CHARS = 520

# ---- SQL (read-only, ``?`` parameters from the extracted parameters) -------------------------

NATION_REVENUE = """
SELECT n_name AS nation, CAST(sum(l_extendedprice * (1 - l_discount)) AS BIGINT) AS revenue
FROM orders
JOIN customer ON c_custkey = o_custkey
JOIN nation ON n_nationkey = c_nationkey
JOIN lineitem ON l_orderkey = o_orderkey
WHERE c_mktsegment = ? AND year(o_orderdate) = ?
GROUP BY n_name
ORDER BY revenue DESC, nation
LIMIT 6"""

BRAND_VOLUME_SHARE = """
SELECT CAST(sum(l_extendedprice * (1 - l_discount)) AS BIGINT) AS total_volume,
       CAST(sum(CASE WHEN p_brand = ? THEN l_extendedprice * (1 - l_discount) ELSE 0 END)
            AS BIGINT) AS brand_volume,
       round(100.0 * brand_volume / total_volume, 2) AS brand_share_pct
FROM orders
JOIN lineitem ON l_orderkey = o_orderkey
JOIN part ON p_partkey = l_partkey
WHERE year(o_orderdate) = ?"""

RETURN_REVENUE_BY_NATION = """
SELECT n_name AS nation,
       CAST(sum(l_extendedprice * (1 - l_discount)) AS BIGINT) AS returned_revenue,
       count(*) AS line_cnt
FROM customer
JOIN nation ON n_nationkey = c_nationkey
JOIN orders ON o_custkey = c_custkey
JOIN lineitem ON l_orderkey = o_orderkey
WHERE c_mktsegment = ? AND year(o_orderdate) = ? AND l_returnflag = 'R'
GROUP BY n_name
ORDER BY returned_revenue DESC, nation
LIMIT 6"""

BRAND_INVENTORY_BY_NATION = """
SELECT n_name AS supplier_nation,
       CAST(sum(ps_supplycost * ps_availqty) AS BIGINT) AS inventory_cost,
       count(DISTINCT s_suppkey) AS suppliers
FROM part
JOIN partsupp ON ps_partkey = p_partkey
JOIN supplier ON s_suppkey = ps_suppkey
JOIN nation ON n_nationkey = s_nationkey
WHERE p_brand = ?
GROUP BY n_name
ORDER BY inventory_cost DESC, supplier_nation
LIMIT 6"""

DISCOUNT_BAND_REVENUE = """
SELECT CAST(sum(l_extendedprice * l_discount) AS BIGINT) AS discount_value,
       count(*) AS line_cnt, round(avg(l_discount), 4) AS avg_discount
FROM lineitem
WHERE year(l_shipdate) = ? AND l_discount BETWEEN ? AND ? AND l_quantity < ?
  AND l_returnflag IN ('R', 'A')"""


def q5_pack_queries(p: Mapping[str, Any]) -> list[tuple[str, str, list[Any]]]:
    """The Q5 pack's four queries for parameters ``p``: (label, SQL, parameters)."""
    seg, year, brand = p["segment"], p["year"], p["brand"]
    return [
        (f"Revenue by customer nation ({seg}, {year})", NATION_REVENUE, [seg, year]),
        (f"Volume share of {brand} ({year})", BRAND_VOLUME_SHARE, [brand, year]),
        (f"Returned revenue by nation ({seg}, {year})", RETURN_REVENUE_BY_NATION, [seg, year]),
        (f"Inventory of {brand} by supplier nation", BRAND_INVENTORY_BY_NATION, [brand]),
    ]


def q1_pack_query(p: Mapping[str, Any]) -> tuple[str, str, list[Any]]:
    """The Q1 pack's query for parameters ``p``: (label, SQL, parameters)."""
    lo, hi, qty, year = p["discount_lo"], p["discount_hi"], p["quantity"], p["year"]
    label = f"Discount-band revenue ({year}, discount {lo}-{hi}, quantity < {qty})"
    return label, DISCOUNT_BAND_REVENUE, [year, lo, hi, qty]


# ---- system prompts ----------------------------------------------------------------------------

_DB = """\
The data is the TPC-H decision-support database: customers in five market segments, orders \
with priorities, line items with prices, discounts, return flags and ship modes, parts with \
brands, suppliers with stock, and nations. Amounts are in dollars."""

S1_Q5_PACK = f"""\
You are a TPC-H analyst agent (stage 1, Q5 pack) in a two-stage analytics team. {_DB}

You receive an analyst's question, the parameters a rule extracted from it, and exactly four \
query results: revenue by customer nation for the segment and year; the brand's share of the \
year's volume; returned revenue by nation for the segment and year; and the brand's inventory \
cost by supplier nation.

Write a stage-1 brief for the stage-2 team:
1. For each result, the two key numbers (leaders, totals, shares).
2. One connection across results (for example a nation that leads both revenue and returns).
3. One warning about interpretation (skew, sparse rows, a one-year window).

Rules: quote numbers exactly (round to thousands at most); use only the rows; if a result is \
empty, say so. One dense paragraph of at most 90 words, no markdown."""

S1_Q3_PACK = f"""\
You are a TPC-H reasoning agent (stage 1, Q3 pack) in a two-stage analytics team. {_DB}

You receive an analyst's question, the extracted parameters, and exactly two market reports \
from the reports web API:
- a segment report: the segment's number of customers and their average account balance, \
and the number and value of their orders;
- a ship-mode report: line items shipped by the first ship mode of the question, the share \
that arrived after the committed date, and the average discount.
Each report ends with an analyst outlook, which is opinion, not data.

Write a stage-1 brief: cite the totals and at least one rate from each report, give two \
insights that relate the segment to the ship mode, and two sanity checks a later agent should \
run against the database.

Rules: quote numbers exactly; label the outlook as opinion; if a report says no data, say so. \
One dense paragraph of at most 90 words, no markdown."""

S1_Q1_PACK = f"""\
You are a numeric summarizer (stage 1, Q1 pack) in a two-stage analytics team. {_DB}

You receive an analyst's question, the extracted parameters, and one query result: for line \
items shipped in the year with a discount inside the band and a quantity under the limit, \
among returned or accepted items (return flag R or A), the total discount value granted, the \
number of lines, and the average discount.

Write a stage-1 brief:
1. Explain in one sentence what the query measures.
2. Give the three metrics exactly as in the result.
3. Give one interpretation tied to the parameters: is the band wide or narrow, is the \
quantity limit restrictive, what would change with another year.

Rules: use only the result; never invent numbers; if the result is empty, say so. One \
paragraph of at most 80 words, no markdown."""

S1_HYPOTHESES = f"""\
You are the quick planner (stage 1, no database access) of a two-stage analytics team. {_DB}

Other stage-1 agents are running queries on the segment, brand, ship modes and discount band \
of the question right now. You only see the analyst's question and the extracted parameters.

Write a stage-1 brief with:
1. Two testable hypotheses about what the data will show for these parameters (for example, \
which nations should lead the segment's revenue, or whether the brand's share should be near \
the average share of a brand among the 25 brands).
2. Two checks that stage 2 can run on the query results to confirm or reject them.

Rules: state hypotheses as expectations, never as facts; do not invent numbers; keep the \
parameters exactly as given. At most 80 words, no markdown."""

S1_ALT_ANGLES = f"""\
You are the alternative-angle planner (stage 1, no database access) of a two-stage analytics \
team. {_DB}

Other stage-1 agents are querying the data for the analyst's question; you only see the \
question and the extracted parameters. Your job is to protect the team from misleading \
aggregates.

Write a stage-1 brief with:
1. Two alternative explanations that could make the aggregates mislead (for example, a few \
large orders dominating revenue, returns concentrated in one year, a discount band that \
contains almost all lines).
2. Two precise questions that stage 2 should answer with the query results.

Rules: no numbers of your own; keep the parameters exactly as given; be specific to the \
segment, brand, ship modes and discount band of the question. At most 80 words, no markdown."""

S2_Q5_PACK = f"""\
You are a TPC-H analyst agent (stage 2, Q5 pack) in a two-stage analytics team. {_DB}

You receive the analyst's question, the extracted parameters, the five stage-1 briefs (Q5 \
pack, Q3 pack, Q1 pack, hypotheses, alternative angles), and the four Q5-pack query results \
again: revenue by customer nation, the brand's volume share, returned revenue by nation, and \
the brand's inventory by supplier nation.

Write a stage-2 brief:
1. Validate or reject at least one stage-1 hypothesis or check, citing concrete numbers.
2. Two delta-aware statements: one finding the briefs and the rows agree on, one that remains \
uncertain, and why.

Rules: numbers must come from the rows or the briefs, quoted exactly; where a brief \
contradicts the rows, the rows win. One dense paragraph of at most 90 words, no markdown."""

S2_Q1_PACK = f"""\
You are the numeric summarizer (stage 2, Q1 pack) of a two-stage analytics team. {_DB}

You receive the analyst's question, the extracted parameters, the five stage-1 briefs (Q5 \
pack, Q3 pack, Q1 pack, hypotheses, alternative angles), and the discount-band result again: \
total discount value, line count and average discount for the year, band and quantity limit.

Write a stage-2 brief:
1. Does the discount-band result align with the patterns of the other briefs (segment \
revenue, brand share, shipping)? Say how, with numbers.
2. Note one caveat about the band or the quantity limit.

Rules: quote numbers exactly; where a brief contradicts the result, the result wins; never \
invent values. One paragraph of at most 80 words, no markdown."""

S2_NARRATIVE = f"""\
You are the narrative synthesizer (stage 2, no database access) of a two-stage analytics \
team. {_DB}

You receive the analyst's question, the extracted parameters and the five stage-1 briefs: \
three written from query results and market reports (Q5 pack, Q3 pack, Q1 pack) and two \
written without data (hypotheses, alternative angles).

Write a stage-2 brief with:
1. Two candidate narratives that answer the question, each one or two sentences, each \
supported by numbers from the data-backed briefs.
2. Two caveats: where the planners' alternative explanations could still hold.

Rules: numbers only from the briefs, quoted exactly; prefer the data-backed briefs over the \
planners; no new facts. At most 100 words, no markdown."""

FINAL_MERGE = f"""\
You are the final merger of a two-stage TPC-H analytics team. {_DB}

You receive the analyst's question and the three stage-2 briefs: the Q5 pack (segment revenue \
by nation, brand share, returns, brand inventory, validated against the planners' hypotheses), \
the Q1 pack (discount-band revenue in context), and the narrative synthesizer (candidate \
narratives and caveats).

Write the final answer to the analyst:
1. Answer the question directly, with at least three concrete numbers or ranked statements \
from the briefs.
2. Give one caveat.
3. End with two follow-up questions worth running next.

Rules: stay grounded in the briefs; never invent numbers, nations or brands; where briefs \
disagree, say which you trust and why in a few words. At most 120 words of plain prose, no \
markdown, no preamble."""

# ---- the graph ---------------------------------------------------------------------------------


class FanoutState(TypedDict, total=False):
    # the query (input)
    question: str
    # the rule's output
    params: dict[str, Any]
    # stage 1
    s1_q5_brief: str
    s1_q3_brief: str
    s1_q1_brief: str
    s1_hypotheses_brief: str
    s1_alt_angles_brief: str
    # stage 2
    s2_q5_brief: str
    s2_q1_brief: str
    s2_narrative_brief: str
    # final
    final_answer: str


def _question(state: FanoutState) -> str:
    return question_block(state, QUESTION_CHARS)


ALL_PARAMS = (
    "year",
    "segment",
    "brand",
    "shipmode1",
    "shipmode2",
    "discount_lo",
    "discount_hi",
    "quantity",
)


def _stage1_briefs(state: FanoutState) -> list[str]:
    return [
        section("Stage-1 Q5-pack brief", state["s1_q5_brief"], STAGE1_BRIEF_CHARS),
        section("Stage-1 Q3-pack brief", state["s1_q3_brief"], STAGE1_BRIEF_CHARS),
        section("Stage-1 Q1-pack brief", state["s1_q1_brief"], STAGE1_BRIEF_CHARS),
        section("Stage-1 hypotheses", state["s1_hypotheses_brief"], STAGE1_BRIEF_CHARS),
        section("Stage-1 alternative angles", state["s1_alt_angles_brief"], STAGE1_BRIEF_CHARS),
    ]


def _run_q5_pack(p: Mapping[str, Any], limit: int) -> list[str]:
    """Run the Q5 pack's four queries; one prompt section per result, clipped to ``limit``."""
    return [
        section(label, run_sql.invoke({"query": sql, "params": args}), limit)
        for label, sql, args in q5_pack_queries(p)
    ]


def _run_q1_pack(p: Mapping[str, Any], limit: int) -> str:
    """Run the Q1 pack's query; its prompt section, clipped to ``limit``."""
    label, sql, args = q1_pack_query(p)
    return section(label, run_sql.invoke({"query": sql, "params": args}), limit)


def build_graph(models: Mapping[str, BaseChatModel]) -> CompiledStateGraph:
    """The compiled W6 graph; ``models`` maps "S" / "M" / "L" to chat models."""
    small, medium, large = models["S"], models["M"], models["L"]

    # ---- stage 1

    def s1_q5_pack(state: FanoutState) -> FanoutState:
        user = user_message(
            _question(state),
            params_section(state, "year", "segment", "brand"),
            *_run_q5_pack(state["params"], RESULT_CHARS),
            task="Write the stage-1 Q5-pack brief.",
        )
        return {"s1_q5_brief": llm_step(large, S1_Q5_PACK, user)}

    def s1_q3_pack(state: FanoutState) -> FanoutState:
        p = state["params"]
        segment = tpch_report_api.invoke({"kind": "segment", "key": p["segment"]})
        shipmode = tpch_report_api.invoke({"kind": "shipmode", "key": p["shipmode1"]})
        user = user_message(
            _question(state),
            params_section(state, "year", "segment", "shipmode1", "shipmode2"),
            section(f"Segment report ({p['segment']})", segment, RESULT_CHARS),
            section(f"Ship-mode report ({p['shipmode1']})", shipmode, RESULT_CHARS),
            task="Write the stage-1 Q3-pack brief.",
        )
        return {"s1_q3_brief": llm_step(small, S1_Q3_PACK, user)}

    def s1_q1_pack(state: FanoutState) -> FanoutState:
        user = user_message(
            _question(state),
            params_section(state, "year", "discount_lo", "discount_hi", "quantity"),
            _run_q1_pack(state["params"], RESULT_CHARS),
            task="Write the stage-1 Q1-pack brief.",
        )
        return {"s1_q1_brief": llm_step(medium, S1_Q1_PACK, user)}

    def s1_hypotheses(state: FanoutState) -> FanoutState:
        user = user_message(
            _question(state),
            params_section(state, *ALL_PARAMS),
            task="Write the stage-1 hypotheses brief.",
        )
        return {"s1_hypotheses_brief": llm_step(large, S1_HYPOTHESES, user)}

    def s1_alt_angles(state: FanoutState) -> FanoutState:
        user = user_message(
            _question(state),
            params_section(state, *ALL_PARAMS),
            task="Write the stage-1 alternative-angles brief.",
        )
        return {"s1_alt_angles_brief": llm_step(large, S1_ALT_ANGLES, user)}

    # ---- stage 2 (each sees every stage-1 brief)

    def s2_q5_pack(state: FanoutState) -> FanoutState:
        user = user_message(
            _question(state),
            params_section(state, "year", "segment", "brand"),
            *_stage1_briefs(state),
            *_run_q5_pack(state["params"], STAGE2_RESULT_CHARS),  # stage 1's four queries again
            task="Write the stage-2 Q5-pack brief.",
        )
        return {"s2_q5_brief": llm_step(large, S2_Q5_PACK, user)}

    def s2_q1_pack(state: FanoutState) -> FanoutState:
        user = user_message(
            _question(state),
            params_section(state, "year", "discount_lo", "discount_hi", "quantity"),
            *_stage1_briefs(state),
            _run_q1_pack(state["params"], STAGE2_RESULT_CHARS),  # stage 1's query again
            task="Write the stage-2 Q1-pack brief.",
        )
        return {"s2_q1_brief": llm_step(medium, S2_Q1_PACK, user)}

    def s2_narrative(state: FanoutState) -> FanoutState:
        user = user_message(
            _question(state),
            params_section(state, *ALL_PARAMS),
            *_stage1_briefs(state),
            task="Write the stage-2 narrative brief.",
        )
        return {"s2_narrative_brief": llm_step(large, S2_NARRATIVE, user)}

    def final_merge(state: FanoutState) -> FanoutState:
        user = user_message(
            _question(state),
            section("Stage-2 Q5-pack brief", state["s2_q5_brief"], STAGE2_BRIEF_CHARS),
            section("Stage-2 Q1-pack brief", state["s2_q1_brief"], STAGE2_BRIEF_CHARS),
            section("Stage-2 narrative brief", state["s2_narrative_brief"], STAGE2_BRIEF_CHARS),
            task="Write the final answer.",
        )
        return {"final_answer": llm_step(large, FINAL_MERGE, user)}

    g = graph_of(
        FanoutState,
        extract_params,
        s1_q5_pack,
        s1_q3_pack,
        s1_q1_pack,
        s1_hypotheses,
        s1_alt_angles,
        s2_q5_pack,
        s2_q1_pack,
        s2_narrative,
        final_merge,
    )
    g.add_edge(START, "extract_params")
    for first in STAGE1:  # five-way fan-out after the rule
        g.add_edge("extract_params", first)
    for second in STAGE2:  # joins: a list of sources waits for all of them
        g.add_edge(list(STAGE1), second)
    g.add_edge(list(STAGE2), "final_merge")
    g.add_edge("final_merge", END)
    return g.compile()


# ---- inputs and answers ------------------------------------------------------------------------

QUESTIONS = (
    "For {year}, how did revenue from {segment} customers spread across nations, what share of "
    "volume did {brand} take, how did {shipmode1} vs {shipmode2} shipments meet their commit "
    "dates, and what did discounts between {lo}% and {hi}% bring on orders under {quantity} "
    "units?",
    "Brief me on the {segment} segment in {year}: nation revenue and returns, {brand} volume and "
    "inventory, {shipmode1} versus {shipmode2} shipping, and discounts from {lo}% to {hi}% on "
    "orders under {quantity} units.",
    "Is {brand} gaining ground with {segment} buyers in {year}? Check revenue and returns by "
    "nation, {brand} stock by supplier nation, whether {shipmode1} or {shipmode2} ships more "
    "reliably, and the value of discounts between {lo}% and {hi}% below {quantity} units.",
)


def parameter_sets(seed: int = 0, count: int = N_CANDIDATES) -> list[dict[str, Any]]:
    """``count`` deterministic parameter sets (years 1993-1995, the 25 TPC-H brands, discount
    bands of two or three points between 2% and 9%, quantity limits 24 or 25)."""
    return seeded_draws(f"{seed}:w6", count, _parameter_set)


def _parameter_set(rng: random.Random) -> dict[str, Any]:
    modes = rng.sample(SHIPMODES, 2)
    lo = rng.randint(2, 7)
    return {
        "year": rng.randint(1993, 1995),
        "segment": rng.choice(SEGMENTS),
        "brand": f"Brand#{rng.randint(1, 5)}{rng.randint(1, 5)}",
        "shipmode1": modes[0],
        "shipmode2": modes[1],
        "lo": lo,
        "hi": lo + rng.randint(1, 2),
        "quantity": rng.choice((24, 25)),
    }


def make_inputs(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` deterministic analyst questions over about ``n / 4`` TPC-H parameter sets."""
    return draw_questions(parameter_sets(seed), n, seed, QUESTIONS)


#: The final answer of a finished instance.
answer = final_answer_of
