"""A planner, a researcher and a writer in an AutoGen ``SelectorGroupChat``; an LLM picks turns.

The team (plain AutoGen, no Halo in it)::

    task -> [selector LLM call: who is next?] -> planner | researcher | writer -> [selector] ...

Before every turn the team's manager asks the model (AutoGen's own selector prompt: the roles
and the conversation so far) which participant speaks next, retrying up to three times when the
answer names no participant (then it keeps the previous speaker, or the first participant). The
chat stops after ``max_turns`` replies or when a reply says TERMINATE. Agents and selector share
one ``OpenAIChatCompletionClient``.

Each task is a short brief on one topic for one reader: 32 topics x 4 readers = 128 distinct
tasks, so no task repeats up to N=128 and each repeats twice at N=256 (a newsroom batch that
briefs two desks on the same story).

Run it: ``python examples/autogen_selector.py`` runs 32 tasks under Halo on SmolLM2
(``--model tiny --n 8``: smaller); with ``--base-url http://127.0.0.1:8000/v1
--served-model smollm2`` the same code runs without Halo against ``vllm serve``.
"""

from __future__ import annotations

from collections.abc import Sequence

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.base import TaskResult
from autogen_agentchat.conditions import TextMentionTermination
from autogen_agentchat.teams import SelectorGroupChat
from autogen_core.models import ChatCompletionClient

try:  # imported as examples.autogen_selector
    from examples._autogen_common import run_example
except ImportError:  # run as a script: python examples/autogen_selector.py
    from _autogen_common import run_example  # type: ignore[no-redef]

#: Turns (agent replies) per task before the chat stops.
MAX_TURNS = 3


def make_team(client: ChatCompletionClient, *, max_turns: int = MAX_TURNS) -> SelectorGroupChat:
    """A new planner / researcher / writer team whose next speaker the model picks."""
    planner = AssistantAgent(
        "planner",
        model_client=client,
        description="Breaks the brief into the questions it must answer.",
        system_message="You plan research briefs. List at most three questions the brief "
        "must answer, one line each.",
    )
    researcher = AssistantAgent(
        "researcher",
        model_client=client,
        description="Answers the planner's questions with facts.",
        system_message="You answer the open questions of a brief with short factual notes.",
    )
    writer = AssistantAgent(
        "writer",
        model_client=client,
        description="Writes the final brief from the notes, then says TERMINATE.",
        system_message="You write the final brief (under 60 words) from the notes so far, "
        "then write TERMINATE.",
    )
    return SelectorGroupChat(
        [planner, researcher, writer],
        model_client=client,
        termination_condition=TextMentionTermination("TERMINATE"),
        max_turns=max_turns,
    )


TOPICS = [
    "heat pumps",
    "electric buses",
    "urban beekeeping",
    "vertical farming",
    "night trains",
    "rooftop solar",
    "bike lanes",
    "tidal power",
    "food banks",
    "library e-books",
    "four-day weeks",
    "school gardens",
    "river cleanups",
    "recycling glass",
    "public pianos",
    "shared e-scooters",
    "rainwater tanks",
    "community radio",
    "repair cafes",
    "street trees",
    "tiny houses",
    "car-free Sundays",
    "coral nurseries",
    "city composting",
    "night markets",
    "free museum days",
    "green roofs",
    "coworking spaces",
    "seed libraries",
    "ferry commuting",
    "noise maps",
    "wind farms at sea",
]
READERS = ["a city council", "a school board", "a local newspaper", "a small business owner"]


def make_inputs(n: int) -> list[str]:
    """``n`` brief tasks: 128 distinct ones, cycled (deterministic)."""
    combos = [(t, r) for r in READERS for t in TOPICS]
    return [
        f"Prepare a short brief on {t} for {r}."
        for t, r in (combos[i % len(combos)] for i in range(n))
    ]


def main(argv: Sequence[str] | None = None) -> list[TaskResult | BaseException]:
    return run_example(__doc__, make_team, make_inputs, argv)


if __name__ == "__main__":
    main()
