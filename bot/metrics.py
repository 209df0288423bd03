"""Prometheus metrics, one registry per app (so tests and several apps never share counters).

What the web process itself sees (webhooks, reviews published, cache lookups, findings, queue
waits) is counted in process. What happens inside ``review/`` (model calls, tool calls) is read
at scrape time from the ``llm_calls`` and ``tool_calls`` tables by ``StoreCollector``, together
with the queue depth from ``jobs``: exact, shared by every process on the store, and kept across
restarts.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from cache.store import Store
from review.findings import Reason
from tools.registry import default_registry

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TOOL_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 20.0)
OTHER_TOOL = "(other)"
QUEUE_STATES = ("queued", "running", "done", "failed", "superseded")
# The webhook events GitHub sends this App (``app.yml``, plus the installation events every App
# gets, plus the check events of its check runs): the only values of the ``event`` label.
# Anything else, from GitHub or from a request nobody signed, is counted as ``other``.
WEBHOOK_EVENTS = frozenset(
    {
        "check_run",
        "check_suite",
        "installation",
        "installation_repositories",
        "issue_comment",
        "ping",
        "pull_request",
    }
)
OTHER_EVENT = "other"


class StoreCollector(Collector):
    """Model-call, tool-call and queue metrics summed from the store when scraped."""

    def __init__(self, db: Store) -> None:
        self._db = db
        self._tools = frozenset(default_registry().names)

    def collect(self) -> Iterator[Metric]:
        yield from self._model_metrics()
        yield self._tool_calls()
        yield self._tool_durations()
        yield self._queue_depth()

    def _model_metrics(self) -> Iterator[Metric]:
        calls = CounterMetricFamily(
            "prwarden_model_calls",
            "Model calls by model, purpose and outcome",
            labels=["model", "purpose", "outcome"],
        )
        tokens = CounterMetricFamily(
            "prwarden_model_tokens",
            "Model tokens by model and direction (cached: prompt tokens served from the"
            " provider's prefix cache, a part of in)",
            labels=["model", "direction"],
        )
        cost = CounterMetricFamily(
            "prwarden_model_cost_usd", "Estimated model cost by model", labels=["model"]
        )
        seconds = CounterMetricFamily(
            "prwarden_model_seconds", "Time spent waiting for the model, by model", labels=["model"]
        )
        per_model: dict[str, list[float]] = {}
        for model, purpose, outcome, n, t_in, t_out, usd, ms, cached in self._db.read(
            "SELECT model, purpose, outcome, COUNT(*), SUM(tokens_in), SUM(tokens_out),"
            " SUM(cost), SUM(latency_ms), SUM(cached_tokens) FROM llm_calls"
            " GROUP BY model, purpose, outcome"
        ):
            calls.add_metric([model, purpose, outcome], n)
            sums = per_model.setdefault(model, [0, 0, 0.0, 0.0, 0])
            for i, value in enumerate((t_in, t_out, usd, ms / 1000, cached)):
                sums[i] += value
        for model, (t_in, t_out, usd, secs, cached) in sorted(per_model.items()):
            tokens.add_metric([model, "in"], t_in)
            tokens.add_metric([model, "cached"], cached)
            tokens.add_metric([model, "out"], t_out)
            cost.add_metric([model], usd)
            seconds.add_metric([model], secs)
        yield from (calls, tokens, cost, seconds)

    def _tool(self, name: str) -> str:
        return name if name in self._tools else OTHER_TOOL

    def _tool_calls(self) -> Metric:
        family = CounterMetricFamily(
            "prwarden_tool_calls", "Tool calls by tool and outcome", labels=["tool", "outcome"]
        )
        counts: dict[tuple[str, str], int] = {}
        for tool, failed, n in self._db.read(
            "SELECT tool, CASE WHEN error IS NULL THEN 0 ELSE 1 END AS failed, COUNT(*)"
            " FROM tool_calls GROUP BY tool, failed"
        ):
            key = (self._tool(tool), "error" if failed else "ok")
            counts[key] = counts.get(key, 0) + n
        for labels, n in sorted(counts.items()):
            family.add_metric(list(labels), n)
        return family

    def _tool_durations(self) -> Metric:
        family = HistogramMetricFamily(
            "prwarden_tool_duration_seconds", "Tool call durations by tool", labels=["tool"]
        )
        bucket_sql = ", ".join(
            f"SUM(CASE WHEN duration_ms <= {b * 1000} THEN 1 ELSE 0 END)" for b in TOOL_BUCKETS
        )
        merged: dict[str, list[float]] = {}
        for tool, n, total_ms, *under in self._db.read(
            f"SELECT tool, COUNT(*), SUM(duration_ms), {bucket_sql} FROM tool_calls GROUP BY tool"
        ):
            sums = merged.setdefault(self._tool(tool), [0.0] * (len(TOOL_BUCKETS) + 2))
            for i, value in enumerate((n, total_ms / 1000, *under)):
                sums[i] += value
        for tool, (n, total, *under) in sorted(merged.items()):
            buckets = [(str(b), c) for b, c in zip(TOOL_BUCKETS, under, strict=True)]
            family.add_metric([tool], [*buckets, ("+Inf", n)], sum_value=total)
        return family

    def _queue_depth(self) -> Metric:
        family = GaugeMetricFamily("prwarden_queue_depth", "Jobs by state", labels=["state"])
        counts = dict.fromkeys(QUEUE_STATES, 0)
        for state, n in self._db.read("SELECT state, COUNT(*) FROM jobs GROUP BY state"):
            counts[state] = n
        for state, n in counts.items():
            family.add_metric([state], n)
        return family


class JobCrash(StrEnum):
    """Why a job ended without the runner deciding how: the ``cause`` label's values."""

    EXCEPTION = "exception"
    WORKER_LOST = "worker_lost"


class Metrics:
    """The app's registry; with a store, ``StoreCollector`` is registered on it too."""

    def __init__(self, db: Store | None = None) -> None:
        r = self.registry = CollectorRegistry()
        self.webhooks = Counter(
            "prwarden_webhooks",
            "Webhook deliveries by event and HTTP status",
            ["event", "status"],
            registry=r,
        )
        self.ack_seconds = Histogram(
            "prwarden_webhook_ack_seconds",
            "Time to acknowledge an accepted delivery",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
            registry=r,
        )
        self.queue_wait = Histogram(
            "prwarden_queue_wait_seconds",
            "Time a job waited before a worker claimed it",
            buckets=(0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 1800),
            registry=r,
        )
        self.reviews = Counter(
            "prwarden_reviews",
            "Finished review jobs by mode and outcome",
            ["mode", "outcome"],
            registry=r,
        )
        self.cache = Counter(
            "prwarden_review_cache", "Whole-diff review cache lookups", ["result"], registry=r
        )
        self.findings = Counter(
            "prwarden_findings",
            "Findings by what became of them and why",
            ["status", "reason"],
            registry=r,
        )
        self.job_crashes = Counter(
            "prwarden_job_crashes",
            "Jobs that ended on an unexpected error or kept losing their worker, by cause",
            ["cause"],
            registry=r,
        )
        for cause in JobCrash:
            self.job_crashes.labels(cause=cause)
        if db is not None:
            r.register(StoreCollector(db))

    def finding(self, status: str, code: Reason | None) -> None:
        """Count one finding by status and disposition code (both closed sets)."""
        self.findings.labels(status=status, reason=code.value if code else "none").inc()

    def webhook(self, event: str, status: int) -> None:
        """Count one answered delivery; ``event`` is whatever the request said it was."""
        label = event if event in WEBHOOK_EVENTS else OTHER_EVENT
        self.webhooks.labels(event=label, status=str(status)).inc()

    def observe_ack(self, seconds: float) -> None:
        self.ack_seconds.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
