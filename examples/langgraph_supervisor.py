"""A supervisor in LangGraph routing between two specialist agents until the request is done.

The graph (plain LangGraph, no Halo in it)::

    START -> supervisor --Route.next--> math    -> supervisor   (calculator agent)
                 |                 \\--> catalog -> supervisor   (product lookup agent)
                 \\--FINISH or round limit--> END

The ``supervisor`` decides who acts next with structured output:
``model.with_structured_output(Route)``, where ``Route.next`` is one of ``"math"``,
``"catalog"`` or ``"FINISH"``. Each specialist is its own small compiled LangGraph agent
(``agent -> ToolNode``) whose model is bound to its tool with ``tool_choice="required"``; its tool
result goes back to the shared conversation as a message named after the specialist. A round
limit ends the loop if the supervisor never says FINISH.

Requests come from a built-in list of shopping questions (prices, totals, discounts), cycled, so
many inputs make identical calls. ``lookup_product`` and ``calculator`` are declared pure
(``metadata={"halo_pure": True}``), so Halo merges identical tool calls across inputs.

Run it::

    python examples/langgraph_supervisor.py                    # under Halo, SmolLM2, 32 requests
    python examples/langgraph_supervisor.py --model tiny --n 8
    python examples/langgraph_supervisor.py --base-url http://127.0.0.1:8000/v1 \\
        --served-model smollm2                                 # without Halo, against vllm serve
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage
from langchain_core.tools import BaseTool, ToolException, tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode
from pydantic import BaseModel, Field

try:  # imported as examples.langgraph_supervisor
    from examples._common import evaluate_arithmetic, run_example, short
except ImportError:  # run as a script: python examples/langgraph_supervisor.py
    from _common import evaluate_arithmetic, run_example, short  # type: ignore[no-redef]

# ---- tools -------------------------------------------------------------------------------------

#: The catalog the ``catalog`` specialist looks products up in: name -> (price, stock).
CATALOG: dict[str, tuple[float, int]] = {
    "Desk Lamp": (39.90, 14),
    "Coffee Maker": (79.99, 3),
    "Headphones": (149.00, 0),
    "Power Bank": (45.99, 27),
    "Yoga Mat": (34.50, 9),
    "Running Shoes": (119.50, 5),
    "Tent": (159.00, 2),
    "Sleeping Bag": (74.25, 11),
}

ProductName = Literal[
    "Desk Lamp",
    "Coffee Maker",
    "Headphones",
    "Power Bank",
    "Yoga Mat",
    "Running Shoes",
    "Tent",
    "Sleeping Bag",
]


class LookupInput(BaseModel):
    name: ProductName


@tool(args_schema=LookupInput)
def lookup_product(name: str) -> str:
    """Price and stock of a product."""
    if name not in CATALOG:
        raise ToolException(f"Error: no product named {name!r}")
    price, stock = CATALOG[name]
    return f"{name}: {price:.2f} USD, {stock} in stock"


class CalculatorInput(BaseModel):
    expression: str = Field(max_length=40)


@tool(args_schema=CalculatorInput)
def calculator(expression: str) -> str:
    """Evaluate arithmetic, e.g. 2 * (79.99 + 4.5)."""
    try:
        return evaluate_arithmetic(expression)
    except (SyntaxError, ValueError, ArithmeticError, RecursionError) as e:
        raise ToolException(f"Error: {e}") from None


# Both tools are pure (same input, same output, no side effects): declared to batch runners via
# metadata (what halo_adapters.pure sets). Their errors go back as ToolMessages.
for _tool in (lookup_product, calculator):
    _tool.metadata = {**(_tool.metadata or {}), "halo_pure": True}
    _tool.handle_tool_error = True

# ---- the specialists ---------------------------------------------------------------------------

MATH_PROMPT = (
    "You are the math specialist of a shop assistant team. Compute what the request needs "
    "with one calculator call, using the prices your colleagues found."
)
CATALOG_PROMPT = (
    "You are the catalog specialist of a shop assistant team. Look up the one product the "
    "request needs next with one lookup_product call."
)


def build_specialist(model: BaseChatModel, tools: list[BaseTool], prompt: str) -> Any:
    """A one-tool-call agent: the model must call one of ``tools``; a ToolNode runs the call."""
    bound = model.bind_tools(tools, tool_choice="required", parallel_tool_calls=False, strict=True)

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [bound.invoke([SystemMessage(prompt), *state["messages"]])]}

    def has_call(state: MessagesState) -> Literal["tools", "__end__"]:
        return "tools" if getattr(state["messages"][-1], "tool_calls", None) else END

    g = StateGraph(MessagesState)
    g.add_node("agent", agent)
    g.add_node("tools", ToolNode(tools))
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", has_call)
    g.add_edge("tools", END)
    return g.compile()


def _report(name: str, messages: list[AnyMessage]) -> AIMessage:
    """What a specialist tells the team: its tool's result, or that it found nothing."""
    last = messages[-1]
    text = last.text if last.type == "tool" else "no result"
    return AIMessage(f"{name}: {text}", name=name)


# ---- the supervisor ----------------------------------------------------------------------------

SUPERVISOR_PROMPT = """\
You are the supervisor of a shop assistant team. Two specialists work for you:
- catalog: looks up the price and stock of one product;
- math: does one calculation with numbers already in the conversation.
Read the request and what the specialists reported so far, then choose who acts next. Choose \
FINISH when the reports answer the request. Never choose a specialist to repeat work already \
done."""


class Route(BaseModel):
    """Who acts next."""

    next: Literal["math", "catalog", "FINISH"]


#: Specialist turns per request before the supervisor is stopped.
MAX_ROUNDS = 3

#: Default cap on output tokens per call for ``main``.
DEFAULT_MAX_TOKENS = 64


class TeamState(TypedDict, total=False):
    request: str
    messages: Annotated[list[AnyMessage], add_messages]
    next: str
    rounds: int


def build_graph(model: BaseChatModel, *, max_rounds: int = MAX_ROUNDS) -> Any:
    """The compiled supervisor graph; ``model`` is any LangChain chat model with tool calling
    and structured output."""
    router = model.with_structured_output(Route)
    math_agent = build_specialist(model, [calculator], MATH_PROMPT)
    catalog_agent = build_specialist(model, [lookup_product], CATALOG_PROMPT)

    def supervisor(state: TeamState) -> TeamState:
        new = [] if state.get("messages") else [HumanMessage(state["request"])]
        if state.get("rounds", 0) >= max_rounds:
            return {"messages": new, "next": "FINISH"}
        route = router.invoke([SystemMessage(SUPERVISOR_PROMPT), *state.get("messages", []), *new])
        return {"messages": new, "next": route.next}  # type: ignore[union-attr]

    def math(state: TeamState) -> TeamState:
        out = math_agent.invoke({"messages": state["messages"]})
        return {"messages": [_report("math", out["messages"])], "rounds": state["rounds"] + 1}

    def catalog(state: TeamState) -> TeamState:
        out = catalog_agent.invoke({"messages": state["messages"]})
        return {"messages": [_report("catalog", out["messages"])], "rounds": state["rounds"] + 1}

    def route(state: TeamState) -> Literal["math", "catalog", "__end__"]:
        return END if state["next"] == "FINISH" else state["next"]  # type: ignore[return-value]

    g = StateGraph(TeamState)
    g.add_node("supervisor", supervisor)
    g.add_node("math", math)
    g.add_node("catalog", catalog)
    g.add_edge(START, "supervisor")
    g.add_conditional_edges("supervisor", route)
    g.add_edge("math", "supervisor")
    g.add_edge("catalog", "supervisor")
    return g.compile()


#: Shopping requests; inputs cycle through them.
REQUESTS = [
    "How much do two Tents cost?",
    "What is the price of the Coffee Maker plus a Desk Lamp?",
    "Are Headphones in stock?",
    "What do three Yoga Mats cost with a 10 percent discount?",
    "How much more expensive are Running Shoes than a Power Bank?",
    "What is the total for one Tent and one Sleeping Bag?",
    "How many Power Banks are in stock?",
    "What is 15 percent of the price of the Headphones?",
    "Which is cheaper, the Desk Lamp or the Yoga Mat?",
    "What do four Power Banks cost?",
    "Is the Tent in stock, and what does it cost?",
    "What is the average price of the Tent and the Sleeping Bag?",
    "How much do five Desk Lamps cost?",
    "What does a Coffee Maker cost after a 20 dollar coupon?",
    "How much do Running Shoes and a Yoga Mat cost together?",
    "What is the price of the Sleeping Bag in cents?",
]


def make_inputs(n: int) -> list[dict[str, Any]]:
    """``n`` requests, cycling through the 16 built-in ones (deterministic)."""
    return [{"request": REQUESTS[i % len(REQUESTS)], "rounds": 0} for i in range(n)]


def describe(result: Any) -> str:
    """A few lines about one result (or its error)."""
    if isinstance(result, BaseException):
        return f"  failed: {type(result).__name__}: {result}"
    lines = [f"  request: {result['request']}"]
    lines += [f"    {short(m.text, 120)}" for m in result["messages"][1:]]
    lines.append(f"  ({result['rounds']} specialist rounds, last route {result['next']})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> list[Any]:
    return run_example(
        "Answer shopping requests with a LangGraph supervisor and two specialist agents.",
        build_graph=build_graph,
        make_inputs=make_inputs,
        describe=describe,
        default_n=32,
        default_max_tokens=DEFAULT_MAX_TOKENS,
        argv=argv,
    )


if __name__ == "__main__":
    main()
