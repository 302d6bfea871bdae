"""Pieces the evaluation workloads share: their surface and graph plumbing, their tools, prompt
helpers, input sampling, the TPC-H rule and nodes (W5, W6), and a fake chat model plus an
operator counter for tests.

Workload code is plain LangGraph user code: nothing here imports Halo. The tools are ordinary
LangChain ``@tool`` s over :mod:`benchmarks.suite.tools` (read-only SQL on the benchmark DuckDB
file, lookups on the simulated HTTP service); they only read, so each is declared pure with
``metadata={"halo_pure": True}`` (what ``halo_adapters.pure`` sets), which lets a
batch runner merge identical calls of different instances.

Prompt budget: the models have a 2,048-token context and a small ``max_tokens``, so every LLM
call's prompt stays within about 1,500 tokens: a system prompt of a few hundred tokens, tool
outputs clipped to :data:`TOOL_CHARS`, upstream outputs clipped to :data:`NOTE_CHARS`.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any, TypeVar
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import BaseTool, tool
from langgraph.graph import StateGraph
from pydantic import PrivateAttr

from benchmarks.suite import tools

#: The model sizes every workload's ``build_graph(models)`` expects as keys.
MODEL_SIZES = ("S", "M", "L")

#: Longest tool output (characters) that goes into a prompt.
TOOL_CHARS = 700

#: Longest upstream LLM output (characters) that goes into a downstream prompt.
NOTE_CHARS = 420

#: Longest user question (characters) that goes into a prompt.
QUESTION_CHARS = 300

# ---- the workload surface and its graph --------------------------------------------------------


def node_models(**sizes: Sequence[str]) -> dict[str, str]:
    """A workload's ``NODE_MODELS`` (LLM node -> model size) from the LLM nodes each model size
    serves: ``node_models(S=("a", "b"), M=("c",), L=())``."""
    return {node: size for size, nodes in sizes.items() for node in nodes}


def graph_of(state: type[Any], *nodes: Callable[..., Any]) -> StateGraph:
    """A ``StateGraph`` over ``state`` with each of ``nodes`` added under its function's name."""
    g = StateGraph(state)
    for node in nodes:
        g.add_node(node.__name__, node)
    return g


def final_answer_of(result: Mapping[str, Any]) -> str:
    """The final answer of a finished instance (the workloads' ``answer``, but W7's)."""
    return str(result["final_answer"])


# ---- tools -------------------------------------------------------------------------------------

ToolT = TypeVar("ToolT", bound=BaseTool)
T = TypeVar("T")


def pure(t: ToolT) -> ToolT:
    """Declare ``t`` read-only (same input, same output): ``metadata["halo_pure"] = True``."""
    t.metadata = {**(t.metadata or {}), "halo_pure": True}
    return t


@tool
def run_sql(query: str, params: list[str | int | float] | None = None) -> str:
    """Run one read-only SQL query (DuckDB, ``?`` placeholders) on the benchmark database and
    return its rows as compact text."""
    return tools.sql(query, tuple(params or ()))


@tool
def movie_api(title: str) -> str:
    """Look a movie up by its title in the movie-metadata web API."""
    return tools.http_get("/movie", title=title)


@tool
def person_api(name: str) -> str:
    """Look a person (actor, director, writer, composer) up by name in the movie-metadata API."""
    return tools.http_get("/person", name=name)


@tool
def category_api(name: str) -> str:
    """Look a wiki category up by name: its member articles and size."""
    return tools.http_get("/category", name=name)


@tool
def links_api(title: str) -> str:
    """The outbound links of a wiki article, looked up by the article's title."""
    return tools.http_get("/links", title=title)


for _t in (run_sql, movie_api, person_api, category_api, links_api):
    pure(_t)

# ---- prompts -----------------------------------------------------------------------------------


def clip(text: object, limit: int) -> str:
    """``text`` stripped and cut to at most ``limit`` characters (``...`` marks a cut)."""
    s = str(text).strip()
    return s if len(s) <= limit else s[: max(0, limit - 3)].rstrip() + "..."


def section(title: str, body: object, limit: int = NOTE_CHARS) -> str:
    """One labelled block of a user message: ``### title`` then the clipped body."""
    text = clip(body, limit) or "(empty)"
    return f"### {title}\n{text}"


def question_block(state: Mapping[str, Any], limit: int = QUESTION_CHARS) -> str:
    """The instance's question, the first block of most user messages."""
    return section("Question", state["question"], limit)


def user_message(*blocks: str, task: str) -> str:
    """A user message: the data blocks in order, then the task line."""
    return "\n\n".join([*blocks, task])


def llm_step(model: BaseChatModel, system_prompt: str, user_content: str) -> str:
    """Invoke ``model`` with one system and one user message; return the reply's text."""
    reply = model.invoke([SystemMessage(system_prompt), HumanMessage(user_content)])
    return reply.text.strip()


# ---- inputs ------------------------------------------------------------------------------------


def db_rows(query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """All rows of a read-only query on the configured database (no text cap): for choosing a
    workload's inputs, not a tool of the workflow."""
    _, rows, _ = tools.query_rows(query, params)
    return rows


def anchor_rows(candidates_sql: str, n: int) -> list[tuple[str, ...]]:
    """The anchors a batch of ``n`` queries draws from: the rows of ``candidates_sql`` (its
    ``LIMIT ?`` set to ``n``, at least 64), as text."""
    return [tuple(str(v) for v in row) for row in db_rows(candidates_sql, (max(64, n),))]


def pool_size(n: int) -> int:
    """How many distinct entities a batch of ``n`` queries draws from (about ``n / 4``)."""
    return max(2, math.ceil(n / 4))


def draw(
    candidates: Sequence[Any],
    n: int,
    seed: int,
    templates: Sequence[str],
    build: Callable[[Any, str], dict[str, Any]],
) -> list[dict[str, Any]]:
    """``n`` deterministic queries: pick a pool of :func:`pool_size` entities out of
    ``candidates``, then for each query an entity of the pool and a question template, and
    ``build(entity, template)`` the input. Entities repeat across the batch (so tool calls and
    some LLM calls coincide, as in real query batches), and some whole queries repeat."""
    if not candidates:
        raise ValueError("no candidate entities in the database")
    rng = random.Random(seed)
    pool = rng.sample(list(candidates), min(pool_size(n), len(candidates)))
    return [build(rng.choice(pool), rng.choice(list(templates))) for _ in range(n)]


def draw_article_questions(
    candidates_sql: str, n: int, seed: int, templates: Sequence[str]
) -> list[dict[str, Any]]:
    """The FineWiki workloads' queries: :func:`draw` over the (title, category) rows of
    ``candidates_sql`` (:func:`anchor_rows`), a template filled in with ``{topic}`` (the title)
    and ``{field}`` (the category, lower-case)."""

    def build(article: tuple[str, ...], template: str) -> dict[str, Any]:
        topic, category = article
        question = template.format(topic=topic, field=category.lower())
        return {"question": question, "topic": topic, "category": category}

    return draw(anchor_rows(candidates_sql, n), n, seed, templates, build)


def draw_questions(
    candidates: Sequence[Mapping[str, Any]], n: int, seed: int, templates: Sequence[str]
) -> list[dict[str, Any]]:
    """:func:`draw` of queries that are just a question: a template filled in with one of
    ``candidates`` (parameter sets)."""

    def build(params: Mapping[str, Any], template: str) -> dict[str, Any]:
        return {"question": template.format(**params)}

    return draw(candidates, n, seed, templates, build)


def seeded_draws(key: str, count: int, one: Callable[[random.Random], T]) -> list[T]:
    """``count`` draws ``one(rng)`` from one generator seeded with ``key``: deterministic."""
    rng = random.Random(key)
    return [one(rng) for _ in range(count)]


# ---- tests: a fake chat model and an operator counter ------------------------------------------


class EchoChatModel(BaseChatModel):
    """A deterministic fake chat model: the reply is ``model_name``, a digest of the whole prompt
    and the first words of the last message, padded to ``reply_chars`` characters when set.
    Identical prompts give identical replies (like greedy decoding). Thread-safe call counter."""

    model_name: str = "echo"
    reply_chars: int = 0

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _calls: int = PrivateAttr(default=0)
    _prompts: list[list[BaseMessage]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "echo"

    @property
    def calls(self) -> int:
        """Calls so far."""
        return self._calls

    @property
    def prompts(self) -> list[list[BaseMessage]]:
        """The messages of every call so far, in call order."""
        with self._lock:
            return list(self._prompts)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self._lock:
            self._calls += 1
            self._prompts.append(list(messages))
        whole = "\n".join(f"{m.type}: {m.text}" for m in messages)
        digest = hashlib.sha256(whole.encode()).hexdigest()[:8]
        words = " ".join(messages[-1].text.split()[:6]) if messages else ""
        text = f"{self.model_name}-{digest}: {words}"
        if self.reply_chars > len(text):
            text = (text + " " + "lorem ipsum " * self.reply_chars)[: self.reply_chars]
        return ChatResult(generations=[ChatGeneration(message=AIMessage(text))])


def fake_models(reply_chars: int = 0) -> dict[str, EchoChatModel]:
    """One :class:`EchoChatModel` per model size, named ``fake-S`` / ``fake-M`` / ``fake-L``."""
    return {
        size: EchoChatModel(model_name=f"fake-{size}", reply_chars=reply_chars)
        for size in MODEL_SIZES
    }


class OperatorCounter(BaseCallbackHandler):
    """Counts chat-model and tool calls of a run (thread-safe): ``llm_calls``, ``tool_calls``,
    per graph node and per tool name, which model served each node's calls, how often each
    distinct tool call (name and input) was made (``tool_inputs``), and every tool call as
    (graph node, tool name, input text) in call order (``tool_log``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.llm_calls = 0
        self.tool_calls = 0
        self.llm_by_node: Counter[str] = Counter()
        self.tools_by_name: Counter[str] = Counter()
        self.tools_by_node: Counter[str] = Counter()
        self.models_by_node: dict[str, set[str]] = {}
        self.tool_inputs: Counter[str] = Counter()
        self.tool_log: list[tuple[str, str, str]] = []

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        meta = metadata or {}
        node = str(meta.get("langgraph_node", "?"))
        model = str(meta.get("ls_model_name", "?"))
        with self._lock:
            self.llm_calls += 1
            self.llm_by_node[node] += 1
            self.models_by_node.setdefault(node, set()).add(model)

    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        name = str((serialized or {}).get("name", "?"))
        node = str((metadata or {}).get("langgraph_node", "?"))
        with self._lock:
            self.tool_calls += 1
            self.tools_by_name[name] += 1
            self.tools_by_node[node] += 1
            self.tool_inputs[f"{name}:{input_str}"] += 1
            self.tool_log.append((node, name, input_str))


def run_counted(
    graph: Any, inputs: Sequence[Mapping[str, Any]], *, max_concurrency: int = 8
) -> tuple[list[Any], OperatorCounter]:
    """Run ``graph.batch(inputs)`` with an :class:`OperatorCounter`; the results and the counter."""
    counter = OperatorCounter()
    results = graph.batch(
        list(inputs), config={"callbacks": [counter], "max_concurrency": max_concurrency}
    )
    return results, counter


def count_operators(
    graph: Any,
    inputs: Sequence[Mapping[str, Any]],
    models: Mapping[str, BaseChatModel] | None = None,
) -> tuple[int, int]:
    """Total (LLM calls, tool calls) of running ``inputs`` through ``graph``.

    ``graph`` is a compiled graph, or a workload module, whose ``build_graph(models)`` is then
    built with ``models`` (default: :func:`fake_models`)."""
    if isinstance(graph, ModuleType):
        graph = graph.build_graph(models or fake_models())
    _, counter = run_counted(graph, inputs)
    return counter.llm_calls, counter.tool_calls


# ---- TPC-H tools and the parameter rule (W5, W6) -----------------------------------------------


@tool
def tpch_query(query: int, parameters: dict[str, str | int | float] | None = None) -> str:
    """Run canonical TPC-H query number ``query`` (1, 2, 3, 5, 6, 9, 12, 14 or 15) with its
    substitution parameters (spec names: DATE, REGION, SEGMENT, ...); rows as compact text."""
    return tools.tpch(query, **(parameters or {}))


@tool
def tpch_report_api(kind: str, key: str) -> str:
    """Fetch a market report from the reports web API: ``kind`` is region, nation, segment,
    shipmode, priority, brand or promo; ``key`` the value (e.g. "MAIL", "1995-09")."""
    return tools.http_get("/tpch/report", kind=kind, key=key)


#: Values the TPC-H questions draw from: market segments and ship modes.
SEGMENTS = ("AUTOMOBILE", "BUILDING", "FURNITURE", "HOUSEHOLD", "MACHINERY")
SHIPMODES = ("MAIL", "SHIP", "AIR", "RAIL", "TRUCK", "FOB", "REG AIR")

#: Candidate parameter sets a TPC-H batch draws its pool from.
N_CANDIDATES = 512


_SHIPMODE = r"(?-i:\b(REG AIR|AIR|RAIL|SHIP|TRUCK|MAIL|FOB)\b)"

#: The rule's patterns (case-insensitive unless marked), per field; the first match wins.
TPCH_RULE_PATTERNS: dict[str, tuple[str, ...]] = {
    "year": (
        r"\byear\s*[=:]\s*(199[2-8])\b",
        r"\b(?:in|for|during|of|across|over)\s+(199[2-8])(?![-\d])",
        r"(?<![-\d])(199[2-8])(?![-\d])",
    ),
    "date": (
        r"\bdate\s*[=:]\s*(\d{4}-\d{2}-\d{2})\b",
        r"\b(?:before|prior to|until|as of|up to)\s+(\d{4}-\d{2}-\d{2})\b",
    ),
    "region": (
        r"\bregion\s*[=:]\s*(AFRICA|AMERICA|ASIA|EUROPE|MIDDLE[ _]EAST)\b",
        r"(?-i:\b(AFRICA|AMERICA|ASIA|EUROPE|MIDDLE EAST)\b)",
    ),
    "segment": (
        r"\bsegment\s*[=:]\s*(AUTOMOBILE|BUILDING|FURNITURE|HOUSEHOLD|MACHINERY)\b",
        r"(?-i:\b(AUTOMOBILE|BUILDING|FURNITURE|HOUSEHOLD|MACHINERY)\b)",
    ),
    "size": (r"\bsize\s*[=:-]?\s*(\d{1,2})\b",),
    "type": (
        r"\btype\s*[=:]\s*(TIN|NICKEL|BRASS|STEEL|COPPER)\b",
        r"(?-i:\b(TIN|NICKEL|BRASS|STEEL|COPPER)\b)",
    ),
    "color": (r"\bcolou?r\s*[=:]\s*([a-z]+)\b", r"'([a-z]+)'\s+parts\b", r"\bnamed\s+'([a-z]+)'"),
    "shipmodes": (rf"{_SHIPMODE}\s+(?:vs\.?|versus|against|and|or)\s+{_SHIPMODE}",),
    "discount": (
        r"\bdiscount\s*[=:]\s*(0?\.\d+)\b",
        r"\b(\d{1,2}(?:\.\d+)?)\s?%\s+discount\b",
    ),
    "discount_band": (
        r"\bdiscounts?\s+(?:between|from)\s+(\d{1,2})\s?%\s+(?:and|to)\s+(\d{1,2})\s?%",
    ),
    "quantity": (
        r"\b(?:qty|quantity)\s*[=:<]\s*(\d{1,3})\b",
        r"\b(?:under|below|fewer than|less than)\s+(\d{1,3})\s+units\b",
    ),
    "delta": (r"\b(\d{2,3})-day\b",),
    "quarter": (r"(?-i:\bQ([1-4])\b)", r"\bquarter\s+([1-4])\b"),
    "brand": (r"\b(Brand#\d{2})\b",),
}

#: Values of the fields a question does not mention (the TPC-H validation values).
TPCH_RULE_DEFAULTS: dict[str, str | int | float] = {
    "year": 1994,
    "date": "1995-03-15",
    "region": "ASIA",
    "segment": "BUILDING",
    "size": 15,
    "type": "BRASS",
    "color": "green",
    "shipmode1": "MAIL",
    "shipmode2": "SHIP",
    "discount": 0.06,
    "discount_lo": 0.05,
    "discount_hi": 0.07,
    "quantity": 24,
    "delta": 90,
    "quarter": 1,
    "brand": "Brand#13",
}


def _rule_match(field: str, text: str) -> tuple[str, ...] | None:
    for pattern in TPCH_RULE_PATTERNS[field]:
        m = re.search(pattern, text, flags=re.IGNORECASE)
        if m:
            return tuple(g for g in m.groups())
    return None


def _fraction(value: str) -> float:
    """A discount written as ``0.06`` or ``6`` (percent) as a fraction, two decimals."""
    number = float(value)
    return round(number / 100 if number >= 1 else number, 2)


@tool
def extract_tpch_params(question: str) -> dict[str, str | int | float]:
    """The rule: extract TPC-H parameters (year, date, region, segment, part size and type,
    color, two ship modes, discount and discount band, quantity, pricing delta, quarter, brand)
    from an analyst question with regular expressions; unmentioned fields get their defaults."""
    out = dict(TPCH_RULE_DEFAULTS)
    for field in ("year", "size", "quantity", "delta", "quarter"):
        if m := _rule_match(field, question):
            out[field] = int(m[0])
    for field in ("region", "segment", "type"):
        if m := _rule_match(field, question):
            out[field] = " ".join(m[0].upper().replace("_", " ").split())
    if m := _rule_match("date", question):
        out["date"] = m[0]
    if m := _rule_match("color", question):
        out["color"] = m[0].lower()
    if m := _rule_match("shipmodes", question):
        out["shipmode1"], out["shipmode2"] = m[0].upper(), m[1].upper()
    if m := _rule_match("discount", question):
        out["discount"] = _fraction(m[0])
    if m := _rule_match("discount_band", question):
        out["discount_lo"], out["discount_hi"] = sorted((_fraction(m[0]), _fraction(m[1])))
    if m := _rule_match("brand", question):
        out["brand"] = "Brand#" + m[0][-2:]
    return out


for _t in (tpch_query, tpch_report_api, extract_tpch_params):
    pure(_t)


def extract_params(state: Mapping[str, Any]) -> dict[str, Any]:
    """The TPC-H workloads' first node (tool-only): the rule's parameters of the question."""
    return {"params": extract_tpch_params.invoke({"question": state["question"]})}


def params_section(state: Mapping[str, Any], *names: str) -> str:
    """The extracted parameters ``names`` (``name=value``) as a user-message block."""
    p = state["params"]
    return section("Extracted parameters", ", ".join(f"{n}={p[n]}" for n in names))
