"""Prometheus metrics, one registry per app (so tests and several apps never share counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
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
        self.queue_depth = Gauge(
            "prwarden_queue_depth", "Jobs in the queue by state", ["state"], registry=r
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
            "prwarden_review_cache", "Review cache lookups", ["result"], registry=r
        )
        self.model_calls = Counter(
            "prwarden_model_calls",
            "Model calls by model and outcome",
            ["model", "outcome"],
            registry=r,
        )
        self.tokens = Counter(
            "prwarden_model_tokens",
            "Model tokens by model and direction",
            ["model", "direction"],
            registry=r,
        )
        self.cost = Counter(
            "prwarden_model_cost_usd", "Estimated model cost by model", ["model"], registry=r
        )
        self.tool_calls = Counter(
            "prwarden_tool_calls", "Tool calls by tool and outcome", ["tool", "outcome"], registry=r
        )
        self.tool_seconds = Histogram(
            "prwarden_tool_seconds",
            "Tool call duration",
            ["tool"],
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 20),
            registry=r,
        )
        self.findings = Counter(
            "prwarden_findings",
            "Findings by what became of them and why",
            ["status", "reason"],
            registry=r,
        )

    def webhook(self, event: str, status: int) -> None:
        self.webhooks.labels(event=event, status=str(status)).inc()

    def observe_ack(self, seconds: float) -> None:
        self.ack_seconds.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
