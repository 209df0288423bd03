"""Daily spend ceilings: whether an installation or repository may call the model today."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.context import AppContext
from cache.accounting import usage_since


@dataclass(frozen=True, slots=True)
class BudgetState:
    exhausted: bool
    which: str = ""
    resets_at: str = ""


def budget_state(ctx: AppContext, installation_id: int, repo: str) -> BudgetState:
    """Whether today's (UTC) token or cost ceiling is reached for the installation or repo."""
    limits = ctx.settings.limits
    now = ctx.clock()
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    since = float(calendar.timegm(day.timetuple()))
    resets = (day + timedelta(days=1)).strftime("%Y-%m-%d %H:%M UTC")
    checks = (
        (
            "installation",
            dict(installation_id=installation_id),
            limits.daily_tokens_per_installation,
            limits.daily_cost_per_installation,
        ),
        ("repository", dict(repo=repo), limits.daily_tokens_per_repo, limits.daily_cost_per_repo),
    )
    for scope, where, max_tokens, max_cost in checks:
        if not (max_tokens or max_cost):
            continue
        spend = usage_since(ctx.db, since, **where)
        if max_tokens and spend.tokens >= max_tokens:
            return BudgetState(True, f"daily token budget of this {scope}", resets)
        if max_cost and spend.cost >= max_cost:
            return BudgetState(True, f"daily cost budget of this {scope}", resets)
    return BudgetState(False)
