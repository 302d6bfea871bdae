"""``halo serve``: the real server (uvicorn on 127.0.0.1) driven by an unchanged ``langgraph_sdk``
client and by plain HTTP gives what the graph gives without Halo (greedy, against a real
``vllm serve``), refuses what it should with the right status, and loses nothing on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client

from halo_adapters.serve import ServeConfig, serving
from halo_adapters.testing import messages_from_json, mismatches
from halo_core import Session
from tests import serve_targets

pytestmark = pytest.mark.engine

TOKEN = "s3cret-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TOPICS = [f"topic {i % 5}" for i in range(12)]


@pytest.fixture(scope="module")
def graph(vllm_server: str) -> Any:
    return serve_targets.make_graph(vllm_server)


@pytest.fixture(scope="module")
def reference(graph: Any) -> list[Any]:
    """Each topic's final state without Halo (no binding active: the server starts later)."""
    return [graph.invoke({"topic": t}) for t in TOPICS]


@pytest.fixture
def server(halo: Session, graph: Any, reference: list[Any]) -> Iterator[str]:
    config = ServeConfig(port=0, token=TOKEN, live=8, queued=8, deadline_s=120)
    with serving(graph, halo, config, name="agent") as url:
        yield url


def test_sdk_wait_stream_and_batch_give_what_the_graph_gives_without_halo(
    server: str, halo: Session, graph: Any, reference: list[Any]
) -> None:
    client = get_client(url=server, api_key=TOKEN)

    async def drive() -> tuple[list[Any], list[Any], list[Any], list[Any]]:
        assistants = await client.assistants.search(graph_id="agent")
        assert [a["graph_id"] for a in assistants] == ["agent"]
        waited = await asyncio.gather(
            *(client.runs.wait(None, "agent", input={"topic": t}) for t in TOPICS)
        )

        async def stream(topic: str) -> list[Any]:
            parts = client.runs.stream(
                None, "agent", input={"topic": topic}, stream_mode=["values", "updates"]
            )
            return [(p.event, p.data) async for p in parts]

        streams = await asyncio.gather(*(stream(t) for t in TOPICS[:4]))
        runs = await client.runs.create_batch(
            [{"assistant_id": "agent", "input": {"topic": t}} for t in TOPICS[:4]]
        )
        joined = [await client.runs.join(r["thread_id"], r["run_id"]) for r in runs]
        statuses = [(await client.runs.get(r["thread_id"], r["run_id"]))["status"] for r in runs]
        return waited, streams, joined, statuses

    summary_before = halo.totals()
    waited, streams, joined, statuses = asyncio.run(drive())
    assert mismatches(messages_from_json(waited), reference) == {}
    assert mismatches(messages_from_json(joined), reference[:4]) == {}
    assert statuses == ["success"] * 4
    for parts, expected in zip(streams, TOPICS[:4], strict=True):
        assert parts[0][0] == "metadata" and "run_id" in parts[0][1]
        values = [d for e, d in parts if e == "values"]
        updates = [d for e, d in parts if e == "updates"]
        final = messages_from_json(values[-1:])
        assert mismatches(final, [reference[TOPICS.index(expected)]]) == {}
        assert [list(u) for u in updates] == [["research"], ["draft"], ["review"]]
    # identical runs coalesced: 5 distinct topics, 20 runs, two chat calls each
    totals = halo.totals()
    requested = totals.llm.calls - summary_before.llm.calls
    executed = totals.llm.executed - summary_before.llm.executed
    assert requested == 2 * (len(TOPICS) + 8) and executed <= 2 * 5


def test_bad_bodies_get_422_naming_the_field_and_other_runs_go_on(server: str) -> None:
    with httpx.Client(base_url=server, headers=AUTH, timeout=60) as http:
        good = threading.Thread(target=lambda: results.append(wait(http, {"topic": "fine"})))
        results: list[httpx.Response] = []
        good.start()
        cases = {
            '{"assistant_id": "agent", "input": {"topic": 5}}': ["body", "input", "topic"],
            '{"assistant_id": "agent", "input": {"topik": "x"}}': ["body", "input", "topik"],
            '{"assistant_id": "agent", "input": [1]}': ["body", "input"],
            '{"assistant_id": "agent", "inputs": {}}': ["body", "inputs"],
            '{"assistant_id": "agent", "input": {"topic": "x"}, "config": 3}': ["body", "config"],
            "{not json": ["body"],
        }
        for body, loc in cases.items():
            r = http.post("/runs/wait", content=body, headers={"Content-Type": "application/json"})
            assert r.status_code == 422, (body, r.text)
            assert r.json()["detail"][0]["loc"] == loc, r.text
        r = http.post("/runs/wait", json={"assistant_id": "other", "input": {"topic": "x"}})
        assert r.status_code == 404 and "agent" in r.json()["detail"]
        good.join()
    assert results[0].status_code == 200 and results[0].json()["answer"]


def wait(http: httpx.Client, value: Any, **extra: Any) -> httpx.Response:
    return http.post("/runs/wait", json={"assistant_id": "agent", "input": value, **extra})


def test_a_missing_or_wrong_token_gets_401(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as http:
        assert http.get("/ok").status_code == 200  # liveness is open
        assert http.post("/assistants/search", json={}).status_code == 401
        bad = {"Authorization": "Bearer nope"}
        r = http.post("/runs/wait", json={"assistant_id": "agent"}, headers=bad)
        assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
        assert http.get("/metrics", headers={"x-api-key": TOKEN}).status_code == 200


def test_a_full_queue_gets_429_with_retry_after_and_accepted_runs_finish(server: str) -> None:
    responses = asyncio.run(burst(server, 40))
    codes = [r.status_code for r in responses]
    assert set(codes) == {200, 429} and codes.count(200) >= 16, codes
    assert codes.count(429) >= 40 - 16 - 8  # live 8 + queued 8 at once, a few more as runs end
    assert all(r.json()["answer"] for r in responses if r.status_code == 200)
    refused = next(r for r in responses if r.status_code == 429)
    assert int(refused.headers["Retry-After"]) >= 1


async def burst(server: str, n: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=server, headers=AUTH, timeout=120) as http:
        return await asyncio.gather(
            *(
                http.post("/runs/wait", json={"assistant_id": "agent", "input": {"topic": f"q{i}"}})
                for i in range(n)
            )
        )


def test_a_client_that_goes_away_has_its_engine_requests_aborted(
    server: str, halo: Session
) -> None:
    before = halo.counters()["tiny"]
    with (
        httpx.Client(base_url=server, headers=AUTH, timeout=1.5) as http,
        pytest.raises(httpx.ReadTimeout),
    ):
        wait(http, {"topic": "long", "max_tokens": 900})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        after = halo.counters()["tiny"]
        if after.aborted > before.aborted:
            break
        time.sleep(0.1)
    assert after.aborted - before.aborted == 1
    assert after.generation_tokens - before.generation_tokens < 900
    with httpx.Client(base_url=server, headers=AUTH, timeout=30) as http:
        metrics = http.get("/metrics").text
    assert re.search(r'halo_runs_total\{outcome="cancelled"\} [1-9]', metrics), metrics


def test_unserved_parts_of_the_protocol_answer_at_once(server: str) -> None:
    with httpx.Client(base_url=server, headers=AUTH, timeout=10) as http:
        assert http.post("/threads", json={}).status_code == 404
        assert http.get("/threads/t/state").status_code == 404
        assert http.post("/runs/crons", json={}).status_code == 404
        assert http.put("/store/items", json={}).status_code == 404
        r = wait(http, {"topic": "x"}, interrupt_before=["draft"])
        assert r.status_code == 501 and "interrupt_before" in r.json()["detail"]
        r = http.post(
            "/runs/stream",
            json={"assistant_id": "agent", "input": {"topic": "x"}, "stream_mode": "messages"},
        )
        assert r.status_code == 501 and "messages" in r.json()["detail"]


def test_metrics_are_prometheus_text(server: str) -> None:
    with httpx.Client(base_url=server, headers=AUTH, timeout=60) as http:
        assert wait(http, {"topic": "metrics"}).status_code == 200
        text = http.get("/metrics").text
        health = http.get("/health").json()
    for name in (
        'halo_http_requests_total{route="/runs/wait",status="200"}',
        "halo_queue_depth",
        "halo_instances_live",
        "halo_llm_calls_requested_total",
        "halo_llm_calls_executed_total",
        "halo_tool_calls_requested_total",
        "halo_tool_calls_executed_total",
        'halo_prefix_cache_hit_tokens_total{engine="tiny"}',
        "halo_epoch_calls_bucket",
        "halo_run_seconds_bucket",
        'halo_http_request_seconds_bucket{le="0.5",route="/runs/wait"}',
    ):
        assert name in text, name
    assert health == {"status": "ok", "live": 0, "waiting": 0, "engines": ["tiny"]}


def test_a_served_team_gives_the_messages_it_gives_without_halo(
    halo: Session, vllm_server: str
) -> None:
    tasks = [f"Write a line about {w}." for w in ("rivers", "hills", "rivers")]

    async def alone() -> list[Any]:
        return [await serve_targets.make_team(vllm_server).run(task=t) for t in tasks]

    def shown(messages: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(m["type"], m["source"], m["content"]) for m in messages]

    expected = [shown([m.dump() for m in r.messages]) for r in asyncio.run(alone())]
    with (
        serving(lambda: serve_targets.make_team(vllm_server), halo, ServeConfig(port=0)) as url,
        httpx.Client(base_url=url, timeout=120) as http,
    ):
        got = [http.post("/runs/wait", json={"task": t}).json() for t in tasks]
        bad = http.post("/runs/wait", json={"task": 3})
    assert [shown(g["messages"]) for g in got] == expected
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "input", "task"]


def test_sigterm_drains_every_accepted_run(tiny_model: Path, vllm_server: str) -> None:
    """The ``halo serve`` command on its own engine: runs accepted before SIGTERM all answer,
    then the process exits 0."""
    env = {**os.environ, "HALO_TEST_VLLM_URL": vllm_server, "HALO_SERVE_TOKEN": TOKEN}
    cmd = [sys.executable, "-m", "halo_adapters.app", "serve", "tests.serve_targets:graph"]
    proc = subprocess.Popen(
        [*cmd, "--name", "agent", "--model", str(tiny_model), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        url = _listening(proc)
        with httpx.Client(base_url=url, headers=AUTH, timeout=120) as http:
            results: list[httpx.Response] = []
            threads = [
                threading.Thread(
                    target=lambda i=i: results.append(
                        wait(http, {"topic": f"t{i}", "max_tokens": 300})
                    )
                )
                for i in range(6)
            ]
            for t in threads:
                t.start()
            accepted = 'halo_runs_total{outcome="accepted"} 6.0'
            _until(lambda: accepted in http.get("/metrics").text)
            proc.send_signal(signal.SIGTERM)
            for t in threads:
                t.join()
        assert [r.status_code for r in results] == [200] * 6
        assert all(r.json()["answer"] for r in results)
        assert proc.wait(timeout=120) == 0
    finally:
        proc.kill()
        proc.wait()


def _listening(proc: subprocess.Popen[str]) -> str:
    """The URL ``halo serve`` prints once it listens; its later output is read on a thread (a
    full pipe would block the server)."""
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        found = re.search(r" on (http://\S+)", line)
        if found:
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return found.group(1)
    raise AssertionError("halo serve exited:\n" + "".join(lines))


def _until(cond: Any, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_serve_example_gives_what_the_graph_gives_without_halo(
    halo: Session, vllm_server: str
) -> None:
    from examples import langgraph_map_reduce as map_reduce
    from examples._common import chat_model
    from examples.serve_map_reduce import serve_and_ask

    inputs = map_reduce.make_inputs(6)
    graph = map_reduce.build_graph(chat_model("tiny-chat", vllm_server, 48))
    expected = graph.batch(inputs)  # no binding active: the graph talks to vllm serve
    got = serve_and_ask(graph, halo, inputs)
    assert mismatches(messages_from_json(got), expected) == {}
