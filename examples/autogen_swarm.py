"""Customer support as an AutoGen ``Swarm``: a triage agent hands tickets to billing or shipping.

The team (plain AutoGen, no Halo in it)::

    task -> triage --transfer_to_billing--> billing  --transfer_to_triage--> triage ...
                   \\-transfer_to_shipping-> shipping --transfer_to_user--> (stop)

A handoff is a tool call (``transfer_to_<agent>``, made by ``AssistantAgent(handoffs=...)``);
the ``Swarm`` lets the agent it names speak next, and without a handoff the same agent goes on.
Billing and shipping each have one read-only lookup tool over the shop's orders. The chat stops
when an agent hands off to ``user``, says TERMINATE, or after ``max_turns`` replies.

Each task is one ticket: 12 kinds of issue, each about its own order number, so no task repeats
(a support queue sees the same issues, never the same ticket twice).

Run it: ``python examples/autogen_swarm.py`` runs 32 tickets under Halo on SmolLM2
(``--model tiny --n 8``: smaller); with ``--base-url http://127.0.0.1:8000/v1
--served-model smollm2`` the same code runs without Halo against ``vllm serve``.
"""

from __future__ import annotations

from collections.abc import Sequence

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.base import TaskResult
from autogen_agentchat.conditions import HandoffTermination, TextMentionTermination
from autogen_agentchat.teams import Swarm
from autogen_core.models import ChatCompletionClient
from autogen_core.tools import FunctionTool

try:  # imported as examples.autogen_swarm
    from examples._autogen_common import pure, run_example
except ImportError:  # run as a script: python examples/autogen_swarm.py
    from _autogen_common import pure, run_example  # type: ignore[no-redef]

# ---- tools -------------------------------------------------------------------------------------

CARRIERS = ["DHL", "UPS", "La Poste", "GLS"]
STATES = ["packed", "in transit", "out for delivery", "delivered", "held at customs"]


def track_order(order_id: int) -> str:
    """Shipping status of an order (orders 1000-1999)."""
    if not 1000 <= order_id <= 1999:
        raise ValueError(f"no order {order_id}; order numbers run from 1000 to 1999")
    carrier, state = CARRIERS[order_id % 4], STATES[order_id % 5]
    return f"order {order_id}: {state} with {carrier}, parcel {order_id * 7919 % 100000:05d}"


def order_invoice(order_id: int) -> str:
    """Invoice of an order (orders 1000-1999): amount, payment state."""
    if not 1000 <= order_id <= 1999:
        raise ValueError(f"no order {order_id}; order numbers run from 1000 to 1999")
    amount = 12 + (order_id * 37) % 230 + (order_id % 100) / 100
    paid = "refunded" if order_id % 9 == 0 else "paid"
    return f"order {order_id}: {amount:.2f} EUR, {paid} by card"


#: Both tools only read: declared pure, identical calls of different tickets may share one run.
TRACK = pure(FunctionTool(track_order, description=track_order.__doc__ or ""))
INVOICE = pure(FunctionTool(order_invoice, description=order_invoice.__doc__ or ""))

# ---- the team ----------------------------------------------------------------------------------

#: Turns (agent replies) per ticket before the chat stops.
MAX_TURNS = 3


def _desk(client: ChatCompletionClient, name: str, tool: FunctionTool, job: str) -> AssistantAgent:
    """A specialist: one lookup tool, hands back to triage or, when done, to the user."""
    return AssistantAgent(
        name,
        model_client=client,
        tools=[tool],
        handoffs=["triage", "user"],
        system_message=f"You handle {job}. Use {tool.name}, answer in two sentences, then hand "
        "off to user.",
    )


def make_team(client: ChatCompletionClient, *, max_turns: int = MAX_TURNS) -> Swarm:
    """A new triage / billing / shipping swarm (one per ticket)."""
    triage = AssistantAgent(
        "triage",
        model_client=client,
        handoffs=["billing", "shipping", "user"],
        system_message="You triage support tickets of an online shop. Hand payment and refund "
        "questions to billing, delivery questions to shipping; hand off to user when done.",
    )
    billing = _desk(client, "billing", INVOICE, "payments and refunds")
    shipping = _desk(client, "shipping", TRACK, "deliveries")
    stop = HandoffTermination(target="user") | TextMentionTermination("TERMINATE")
    return Swarm([triage, billing, shipping], termination_condition=stop, max_turns=max_turns)


ISSUES = [
    "I was charged twice.",
    "Where is my parcel?",
    "The parcel says delivered but I have nothing.",
    "Can I get a refund for a broken kettle?",
    "I need an invoice with my company name.",
    "The tracking number does not work.",
    "My refund has not arrived yet.",
    "Can you deliver to another address?",
    "Why was my card declined?",
    "The box arrived damaged.",
    "Can I pay the rest by bank transfer?",
    "My parcel is stuck at customs.",
]


def make_inputs(n: int) -> list[str]:
    """``n`` tickets: the 12 issues in turn, each about its own order (deterministic)."""
    return [f"Order {1000 + (i * 37) % 1000}: {ISSUES[i % len(ISSUES)]}" for i in range(n)]


def main(argv: Sequence[str] | None = None) -> list[TaskResult | BaseException]:
    return run_example(__doc__, make_team, make_inputs, argv)


if __name__ == "__main__":
    main()
