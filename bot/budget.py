"""Daily spend ceilings: whether an installation or repository may call the model today.

The check and the hold of a review's worst case are one transaction in the store
(``cache.accounting.admit_spend``), so workers in several processes never both spend the last
of a budget: while only reviews in flight stand between the spend and the ceiling, the next
review waits for them instead of being turned away.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.context import AppContext
from cache.accounting import Ceiling, admit_spend, release_spend


@dataclass(frozen=True, slots=True)
class BudgetState:
    exhausted: bool
    which: str = ""
    resets_at: str = ""
    contended: bool = False


def budget_state(ctx: AppContext, installation_id: int, repo: str, *, job_id: int) -> BudgetState:
    """Whether today's (UTC) token or cost ceiling is reached for the installation or repo.

    When it is not, job ``job_id`` holds its worst-case spend until ``release_budget``.
    """
    limits = ctx.settings.limits
    review = ctx.settings.review
    now = ctx.clock()
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    resets = (day + timedelta(days=1)).strftime("%Y-%m-%d %H:%M UTC")
    ceilings = (
        Ceiling(
            "installation",
            limits.daily_tokens_per_installation,
            limits.daily_cost_per_installation,
        ),
        Ceiling("repository", limits.daily_tokens_per_repo, limits.daily_cost_per_repo),
    )
    if not any(c.tokens or c.cost for c in ceilings):
        return BudgetState(False)
    worst = review.deep.max_tokens
    admission = admit_spend(
        ctx.db,
        job_id=job_id,
        installation_id=installation_id,
        repo=repo,
        since=float(calendar.timegm(day.timetuple())),
        now=now,
        ceilings=ceilings,
        hold_tokens=worst,
        hold_cost=review.cost(review.review_model or "", 0, worst),
    )
    which = f"daily {admission.which} budget of this {admission.scope}"
    if admission.state == "exhausted":
        return BudgetState(True, which, resets)
    if admission.state == "contended":
        return BudgetState(False, which, resets, contended=True)
    return BudgetState(False)


def release_budget(ctx: AppContext, job_id: int) -> None:
    """Drop the hold ``budget_state`` took for job ``job_id`` (a no-op without one)."""
    release_spend(ctx.db, job_id)
