"""Capping an agent loop to what is left of a PR's token ceiling changes only its token limit."""

from __future__ import annotations

from pathlib import Path

from cache.db import open_db
from review.pipeline import run_review
from review.request import CallContext, ReviewRequest
from review.settings import Budget
from tests.fakes.openai import FakeOpenAI
from tests.model_scripts import is_triage, model_settings, submit, triage

EXAMPLE = Path(__file__).resolve().parents[1] / "examples"


async def test_the_pr_ceiling_keeps_the_per_turn_output_limit() -> None:
    diff = (EXAMPLE / "shop.diff").read_bytes()
    budget = Budget(max_turns=2, max_tokens=50_000, max_seconds=60.0, turn_output=777)
    async with FakeOpenAI([triage(), submit()]) as model:
        settings = model_settings(
            model.base_url, deep=budget, light=budget, pr_token_ceiling=100_000
        )
        request = ReviewRequest(
            diff=diff,
            workspace=EXAMPLE / "shop",
            settings=settings,
            context=CallContext(installation_id=1, repo="octo/shop", pr_number=7),
        )
        result = await run_review(request, db=open_db(":memory:"))
    assert result.mode == "model", result.notes
    review_turns = [r for r in model.requests if not is_triage(r)]
    assert review_turns, model.requests
    assert {r.get("max_tokens", r.get("max_completion_tokens")) for r in review_turns} == {777}
