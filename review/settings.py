"""Operator-level review settings: models, budgets, prices. A frozen value, passed down.

These come from the operator's environment (``bot.config``) and can never be changed by a
repository's config file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from review.findings import Category, Severity


@dataclass(frozen=True, slots=True)
class Budget:
    """Limits on one agent loop."""

    max_turns: int = 8
    max_tokens: int = 60_000
    max_seconds: float = 180.0
    # The most one model turn may write: a submit_review with many findings fits, and a
    # runaway generation (small local models do this) is cut instead of running until the
    # context fills. Keep prompt + this within the model's context window.
    turn_output: int = 4000
    # The most diff one review conversation shows, and the most of one tool's output the model
    # reads, in tokens (``prwarden.tokens``). A larger change is reviewed in groups of files.
    diff_tokens: int = 6000
    tool_output_tokens: int = 1500


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens; ``cached_input`` for prompt tokens the provider served from its
    prefix cache (``usage.prompt_tokens_details.cached_tokens``)."""

    input: float
    output: float
    cached_input: float | None = None


DEFAULT_PRICES: Mapping[str, Price] = MappingProxyType(
    {
        "gpt-4o-mini": Price(0.15, 0.60, 0.075),
        "gpt-4o": Price(2.50, 10.00, 1.25),
        "gpt-4.1": Price(2.00, 8.00, 0.50),
        "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
        "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    }
)


@dataclass(frozen=True, slots=True)
class ReviewSettings:
    """What the review pipeline needs from the operator."""

    triage_model: str | None = None
    review_model: str | None = None
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    llm_timeout: float = 60.0
    llm_retries: int = 3
    temperature: float = 0.1
    deep: Budget = Budget()
    light: Budget = Budget(max_turns=3, max_tokens=20_000, max_seconds=60.0)
    pr_token_ceiling: int = 200_000
    # A change with at most this many tokens of reviewable diff gets a deep review with no
    # triage call (``review.triage.rule_triage``); 0 always asks the triage model.
    small_change_tokens: int = 1_500
    tool_timeout: float = 20.0
    tool_output_cap: int = 16_000
    prices: Mapping[str, Price] = field(default_factory=lambda: DEFAULT_PRICES)
    hold_categories: frozenset[Category] = frozenset({Category.SECURITY})
    hold_severity: Severity | None = Severity.CRITICAL
    allowed_link_hosts: frozenset[str] = frozenset()

    @property
    def model_configured(self) -> bool:
        return bool(self.review_model)

    def cost(self, model: str, tokens_in: int, tokens_out: int, cached: int = 0) -> float:
        """USD for one call; ``cached`` of the ``tokens_in`` are billed at the cached rate."""
        price = self.prices.get(model)
        if price is None:
            return 0.0
        cached = min(max(cached, 0), tokens_in)
        cached_rate = price.input if price.cached_input is None else price.cached_input
        return (
            (tokens_in - cached) * price.input + cached * cached_rate + tokens_out * price.output
        ) / 1_000_000
