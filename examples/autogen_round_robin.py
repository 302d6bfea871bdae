"""Two writers in an AutoGen ``RoundRobinGroupChat``: a drafter writes a blurb, an editor edits.

The team (plain AutoGen, no Halo in it)::

    task -> drafter -> editor -> drafter -> editor   (max_turns, or the editor says APPROVE)

Both agents share one ``OpenAIChatCompletionClient``; every agent sees the whole conversation.
Each task is one product blurb for one channel and audience: a catalogue batch writes each
combination once, so no task repeats up to N=256 (16 products x 4 channels x 4 audiences; beyond
that the list cycles). Under Halo the agents' system prompts and each conversation's earlier
turns are shared prefixes; there are no identical calls to merge.

Run it: ``python examples/autogen_round_robin.py`` runs 32 tasks under Halo on SmolLM2
(``--model tiny --n 8``: smaller); with ``--base-url http://127.0.0.1:8000/v1
--served-model smollm2`` the same code runs without Halo against ``vllm serve``.
"""

from __future__ import annotations

from collections.abc import Sequence

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.base import TaskResult
from autogen_agentchat.conditions import TextMentionTermination
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core.models import ChatCompletionClient

try:  # imported as examples.autogen_round_robin
    from examples._autogen_common import run_example
except ImportError:  # run as a script: python examples/autogen_round_robin.py
    from _autogen_common import run_example  # type: ignore[no-redef]

#: Turns (agent replies) per task before the chat stops.
MAX_TURNS = 4


def make_team(client: ChatCompletionClient, *, max_turns: int = MAX_TURNS) -> RoundRobinGroupChat:
    """A new drafter / editor team (a team runs one task at a time: one per task)."""
    drafter = AssistantAgent(
        "drafter",
        model_client=client,
        description="Writes and revises the blurb.",
        system_message="You write short, concrete product blurbs for an online shop. "
        "Keep every draft under 40 words. When the editor gives feedback, revise the draft.",
    )
    editor = AssistantAgent(
        "editor",
        model_client=client,
        description="Checks the blurb and asks for changes.",
        system_message="You edit product blurbs. Point out one concrete improvement to the "
        "latest draft, or reply APPROVE if it is ready to publish.",
    )
    return RoundRobinGroupChat(
        [drafter, editor],
        termination_condition=TextMentionTermination("APPROVE"),
        max_turns=max_turns,
    )


PRODUCTS = [
    "Desk Lamp",
    "Floor Lamp",
    "Coffee Maker",
    "Chef Knife",
    "Water Pitcher",
    "Headphones",
    "Power Bank",
    "Tablet",
    "Yoga Mat",
    "Running Shoes",
    "Tent",
    "Sleeping Bag",
    "Rain Jacket",
    "Kettle",
    "Backpack",
    "Desk Chair",
]
CHANNELS = ["the product page", "the weekly newsletter", "the print catalogue", "a social post"]
AUDIENCES = ["students", "parents", "first-time buyers", "professionals"]


def make_inputs(n: int) -> list[str]:
    """``n`` blurb tasks, all distinct up to 256 (then cycled; deterministic)."""
    combos = [(p, c, a) for a in AUDIENCES for c in CHANNELS for p in PRODUCTS]
    return [
        f"Write a blurb for the {p} for {c}, aimed at {a}."
        for p, c, a in (combos[i % len(combos)] for i in range(n))
    ]


def main(argv: Sequence[str] | None = None) -> list[TaskResult | BaseException]:
    return run_example(__doc__, make_team, make_inputs, argv)


if __name__ == "__main__":
    main()
