"""``GET /metrics``: the server's and the session's numbers in Prometheus text format."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from halo_core import OnlineRuns, Session

#: seconds: from a lone tool-free call (tens of ms) to a long agent run
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 600)


class ServeMetrics:
    """The registry behind ``/metrics``: HTTP requests by route and status, their latency, and
    (read at each scrape) the runs' queue and the session's calls, engines and epochs."""

    def __init__(self, session: Session, runs: OnlineRuns):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "halo_http_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "halo_http_request_seconds",
            "HTTP request latency by route (a stream: until its last event)",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.run_latency = Histogram(
            "halo_run_seconds",
            "a run's latency from arrival to result, queueing included",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_SessionCollector(session, runs))

    def observe(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _SessionCollector(Collector):
    def __init__(self, session: Session, runs: OnlineRuns):
        self.session, self.runs = session, runs

    def collect(self) -> Iterator[Metric]:
        c = self.runs.counts
        yield _gauge("halo_queue_depth", "runs waiting for a slot", c.waiting)
        yield _gauge("halo_instances_live", "runs executing (live Halo instances)", c.live)
        runs = CounterMetricFamily("halo_runs", "runs by outcome", labels=["outcome"])
        for outcome in ("accepted", "refused", "finished", "failed", "cancelled", "timed_out"):
            runs.add_metric([outcome], getattr(c, outcome))
        yield runs
        totals = self.session.totals()
        for kind, stats in (("llm", totals.llm), ("tool", totals.tool)):
            yield _counter(f"halo_{kind}_calls_requested", f"{kind} calls requested", stats.calls)
            yield _counter(
                f"halo_{kind}_calls_executed",
                f"{kind} calls executed (the rest merged or passed through)",
                stats.executed,
            )
        engines: dict[str, Any] = self.session.counters()
        for name, doc, field in (
            ("halo_engine_requests", "engine requests", "requests"),
            ("halo_prompt_tokens", "prompt tokens sent to the engines", "prompt_tokens"),
            (
                "halo_prefix_cache_hit_tokens",
                "prompt tokens served from the prefix cache",
                "prefix_cache_hits",
            ),
            ("halo_output_tokens", "tokens the engines generated", "generation_tokens"),
            ("halo_engine_steps", "engine steps", "steps"),
            ("halo_engine_aborted", "engine requests aborted (no caller waited)", "aborted"),
        ):
            family = CounterMetricFamily(name, doc, labels=["engine"])
            for key, counters in engines.items():
                family.add_metric([key], getattr(counters, field))
            yield family
        sizes = totals.epoch_sizes
        epochs = HistogramMetricFamily("halo_epoch_calls", "LLM calls per epoch")
        epochs.add_metric([], [(str(b), n) for b, n in sizes.cumulative()], sizes.total_calls)
        yield epochs


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)
