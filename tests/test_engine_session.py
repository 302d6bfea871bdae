"""Halo core on the real in-process vLLM engine (tiny model, greedy decoding)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from halo_core import ChatResult, LLMCallError, OptimizerConfig, Session, ToolCallError
from halo_core.calls import ChatRequest
from tests.conftest import MAX_MODEL_LEN

pytestmark = pytest.mark.engine

SYSTEM = (
    "You are a meticulous product analyst. You read one customer review at a time and report "
    "what the customer liked, what went wrong, and whether the product should be recommended. "
    "Always answer in plain English, keep every answer short, never invent facts that are not in "
    "the review, and when the review is unclear say so instead of guessing. "
) * 4
REVIEWS = [
    f"Review {i}: the {['kettle', 'lamp', 'chair', 'phone'][i % 4]} is {i % 5} stars."
    for i in range(64)
]


def _msgs(user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def _prompt_len(engine: Any, messages: list[dict[str, Any]]) -> int:
    (prepared,) = engine.prepare([ChatRequest(messages, {"max_tokens": 4})])
    return len(prepared.prompt_token_ids)


def three_calls(s: Session, review: str) -> tuple[str, str, str]:
    """A three-step workflow: each step sees what the previous ones returned."""
    a = s.chat(_msgs(review), node="sentiment", max_tokens=12).text
    b = s.chat(_msgs(f"{review}\nSentiment: {a}\nMain issue?"), node="issue", max_tokens=12).text
    c = s.chat(_msgs(f"Summarize: {a} / {b}"), node="summary", max_tokens=12).text
    return a, b, c


def test_shared_system_prompt_spans_whole_blocks(halo: Session) -> None:
    engine = halo.engines["tiny"]
    assert _prompt_len(engine, _msgs("x")) >= 2 * engine.block_size >= 256


def test_batch_returns_what_each_instance_returns_alone(halo: Session) -> None:
    batched = halo.map(lambda r: three_calls(halo, r), REVIEWS, progress=False)
    summary = halo.graph.summary()
    halo.reset()
    with halo.optimizing(OptimizerConfig.direct()):
        alone = [three_calls(halo, r) for r in REVIEWS]  # one instance, one call at a time
    assert batched == alone
    assert summary.llm_calls == 3 * len(REVIEWS)
    assert summary.llm_executed < summary.llm_calls  # the batch had identical calls to merge


def test_identical_first_call_reaches_the_engine_once(halo: Session) -> None:
    shared = _msgs("Describe a good kettle.")
    before = halo.counters()["tiny"]

    def wf(i: int) -> tuple[ChatResult, str]:
        first = halo.chat(shared, max_tokens=16)
        second = halo.chat(_msgs(f"Instance {i} says: {first.text}"), max_tokens=4)
        return first, second.text

    results = halo.map(wf, range(64), progress=False)
    after = halo.counters()["tiny"]
    firsts = [r[0] for r in results]
    prompt_first = firsts[0].prompt_tokens
    prompt_seconds = sum(
        _prompt_len(halo.engines["tiny"], _msgs(f"Instance {i} says: {firsts[i].text}"))
        for i in range(64)
    )
    assert after.requests - before.requests == 1 + 64
    assert after.prompt_tokens - before.prompt_tokens == prompt_first + prompt_seconds
    steps = after - before  # the 64 second calls share steps: far fewer than one per call
    assert 0 < steps.steps < 64 and steps.step_s > 0
    with halo.optimizing(OptimizerConfig.direct()):
        expected = halo.chat(shared, max_tokens=16)
    assert all(f.text == expected.text and f.token_ids == expected.token_ids for f in firsts)
    assert len({id(f) for f in firsts}) == 64 and len({id(f.token_ids) for f in firsts}) == 64
    firsts[0].token_ids.append(-1)
    firsts[0].text = "mutated"
    assert all(f.text == expected.text and f.token_ids == expected.token_ids for f in firsts[1:])


def _cold_together(s: Session, n: int) -> tuple[int, list[ChatResult]]:
    async def go() -> list[ChatResult]:
        return list(
            await asyncio.gather(
                *(s.achat(_msgs(f"Question {i}?"), max_tokens=4) for i in range(n))
            )
        )

    s.reset()
    before = s.counters()["tiny"]
    results = asyncio.run(go())
    return s.counters()["tiny"].prefix_cache_hits - before.prefix_cache_hits, results


def test_prefix_groups_serve_followers_from_the_leaders_cache(halo: Session) -> None:
    n = 32
    with halo.optimizing(OptimizerConfig.direct()):
        hits_direct, direct = _cold_together(halo, n)
    hits_grouped, grouped = _cold_together(halo, n)
    assert [r.text for r in grouped] == [r.text for r in direct]
    assert hits_grouped >= hits_direct
    block = halo.engines["tiny"].block_size
    records = [r for r in halo.graph if r.kind == "llm"]
    leaders = [r for r in records if r.leader]
    followers = [r for r in records if not r.leader]
    assert len(leaders) == 1 and len(followers) == n - 1
    assert all(
        f.dispatched_s is not None and f.dispatched_s >= leaders[0].dispatched_s for f in followers
    )  # type: ignore[operator]
    assert all(f.cached_tokens >= 2 * block for f in followers)
    assert hits_grouped >= (n - 1) * 2 * block


def test_sampled_calls_are_not_merged_unless_seeded(halo: Session) -> None:
    def count(**sampling: Any) -> int:
        before = halo.counters()["tiny"].requests
        halo.map(
            lambda _: halo.chat(_msgs("Pick a colour."), max_tokens=4, **sampling),
            range(8),
            progress=False,
        )
        return halo.counters()["tiny"].requests - before

    assert count(temperature=1.0) == 8
    assert count(temperature=1.0, seed=7) == 1


def test_a_failing_tool_fails_its_instance_alone(halo: Session) -> None:
    def fetch(i: int) -> str:
        if i == 5:
            raise ConnectionError("inventory service unreachable")
        return f"stock {i}"

    def wf(i: int) -> str:
        first = halo.chat(_msgs(REVIEWS[i]), max_tokens=4).text
        stock = halo.tool(fetch, i, node="inventory")
        return halo.chat(_msgs(f"{first} {stock}"), max_tokens=4).text

    results = halo.map(wf, range(64), progress=False)
    assert isinstance(results[5], ToolCallError)
    assert "instance 5" in str(results[5]) and "inventory service unreachable" in str(results[5])
    assert all(isinstance(r, str) for i, r in enumerate(results) if i != 5)


def test_bad_llm_calls_fail_their_instance_alone(halo: Session) -> None:
    bad: dict[int, Any] = {
        2: _msgs("word " * (MAX_MODEL_LEN * 2)),  # longer than the model's context
        4: [{"role": "wizard", "content": "hi"}],  # malformed message
        6: "not a list",
    }

    def wf(i: int) -> str:
        if i == 8:
            return halo.chat(_msgs("hi"), model="no-such-model").text
        return halo.chat(bad.get(i, _msgs(REVIEWS[i])), max_tokens=4).text

    results = halo.map(wf, range(16), progress=False)
    for i, needle in [
        (2, "maximum context length"),
        (4, "wizard"),
        (6, "list"),
        (8, "no-such-model"),
    ]:
        assert isinstance(results[i], LLMCallError), (i, results[i])
        assert f"instance {i}" in str(results[i]) and needle in str(results[i])
    assert all(isinstance(r, str) for i, r in enumerate(results) if i not in (2, 4, 6, 8))


def test_threads_and_asyncio_callers_share_one_session(halo: Session) -> None:
    prompts = [_msgs(f"Caller {i}") for i in range(16)]
    with halo.optimizing(OptimizerConfig.direct()):
        expected = [halo.chat(p, max_tokens=6).text for p in prompts]
    halo.reset()
    got: dict[int, str] = {}

    def sync_caller(i: int) -> None:
        got[i] = halo.chat(prompts[i], max_tokens=6).text

    async def async_callers() -> None:
        outs = await asyncio.gather(*(halo.achat(prompts[i], max_tokens=6) for i in range(8, 16)))
        got.update({8 + k: o.text for k, o in enumerate(outs)})

    threads = [threading.Thread(target=sync_caller, args=(i,)) for i in range(8)]
    threads.append(threading.Thread(target=asyncio.run, args=(async_callers(),)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert [got[i] for i in range(16)] == expected


def test_async_workflows_run_as_instances(halo: Session) -> None:
    async def wf(review: str) -> str:
        first = await halo.achat(_msgs(review), max_tokens=6)
        return (await halo.achat(_msgs(first.text), max_tokens=6)).text

    results = halo.map(wf, REVIEWS[:16], progress=False)
    with halo.optimizing(OptimizerConfig.direct()):
        alone = [
            halo.chat(_msgs(halo.chat(_msgs(r), max_tokens=6).text), max_tokens=6).text
            for r in REVIEWS[:16]
        ]
    assert results == alone
