"""Daily spend ceilings through the real app: a repository or installation at its ceiling gets
a neutral check run and no model call, and is reviewed again the next (UTC) day."""

from __future__ import annotations

import calendar
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import Limits
from bot.context import CTX
from tests.conftest import APP_ID
from tests.fakes.github import FakeGitHub
from tests.fakes.openai import FakeOpenAI
from tests.reviewing import (
    another_pull,
    completed,
    idle,
    llm_calls,
    model_settings,
    runs,
    script_reviewer,
    serve,
)
from tests.scenario import PullScenario, example_diff, pull_scenario, wait_for

START = float(calendar.timegm((2031, 3, 4, 22, 30, 0)))  # late evening, UTC


class ShiftedClock:
    """Real time moved to ``START``; ``next_day`` jumps a day ahead. Shared by app and fakes."""

    def __init__(self, start: float) -> None:
        self.offset = start - time.time()

    def __call__(self) -> float:
        return time.time() + self.offset

    def next_day(self) -> None:
        self.offset += 86400


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock(START)


@pytest.fixture
async def gh(app_key_pair: tuple[str, str], clock: ShiftedClock) -> AsyncIterator[FakeGitHub]:
    async with FakeGitHub.running(app_id=APP_ID, public_key=app_key_pair[1], clock=clock) as fake:
        yield fake


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        script_reviewer(server)
        yield server
    assert server.problems == [] and server.rejected == []


def _db_only_diff() -> str:
    """Only ``shop/db.py``, with a last line of its own (so no per-file cache entry fits)."""
    db_part = example_diff().split("diff --git a/shop/orders.py")[0]
    return db_part.replace("+        pass\n", "+        return 0.0\n")


async def _deliver(client: Any, s: PullScenario, action: str = "opened") -> None:
    before = len(runs(client))
    body, headers = s.delivery(action=action)
    assert (await client.post("/webhook", data=body, headers=headers)).status == 202
    await wait_for(lambda: idle(client) and len(runs(client)) == before + 1)


@pytest.mark.parametrize(
    ("limits", "other_repo", "which"),
    [
        (Limits(daily_tokens_per_repo=1), None, "daily token budget of this repository"),
        (
            Limits(daily_cost_per_installation=1e-6),
            "Codertocat/Another-Repo",
            "daily cost budget of this installation",
        ),
    ],
    ids=["repo-tokens", "installation-cost"],
)
async def test_at_the_ceiling_no_model_call_and_a_neutral_check_until_the_next_day(
    aiohttp_client: Any,
    gh: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    fake: FakeOpenAI,
    clock: ShiftedClock,
    limits: Limits,
    other_repo: str | None,
    which: str,
) -> None:
    client = await serve(
        aiohttp_client,
        gh,
        app_private_key,
        tmp_path,
        review=model_settings(fake),
        limits=limits,
        clock=clock,
    )
    first = pull_scenario(gh)
    await _deliver(client, first)
    assert llm_calls(client) == 1 and len(first.reviews) == 1  # small: no triage call

    second = another_pull(first, 3, diff=_db_only_diff(), repo=other_repo)
    await _deliver(client, second)
    calls = llm_calls(client)
    assert calls == 1
    assert second.reviews == []
    check = completed(second)
    assert check is not None and check["conclusion"] == "neutral"
    assert check["output"]["title"].startswith("Budget exhausted")
    assert which in check["output"]["summary"]
    assert "2031-03-05 00:00 UTC" in check["output"]["summary"]
    last = runs(client)[-1]
    assert (last["pr_number"], last["mode"], last["outcome"]) == (3, "budget", "budget_exhausted")
    assert last["summary"] == which

    clock.next_day()
    await _deliver(client, second, action="reopened")
    assert len(second.reviews) == 1
    assert llm_calls(client) > calls
    check = completed(second)
    assert check is not None and check["conclusion"] == "success"
    assert runs(client)[-1]["mode"] == "model"
    assert gh.invalid_requests == []


async def _one_review_under_a_repo_ceiling(
    aiohttp_client: Any,
    gh: FakeGitHub,
    key: str,
    tmp_path: Path,
    fake: FakeOpenAI,
    clock: ShiftedClock,
) -> tuple[Any, PullScenario]:
    """The app with a one-token daily ceiling per repository, after one reviewed PR."""
    client = await serve(
        aiohttp_client,
        gh,
        key,
        tmp_path,
        review=model_settings(fake),
        limits=Limits(daily_tokens_per_repo=1),
        clock=clock,
    )
    first = pull_scenario(gh)
    await _deliver(client, first)
    return client, first


async def test_a_repository_ceiling_does_not_stop_another_repository(
    aiohttp_client: Any,
    gh: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    fake: FakeOpenAI,
    clock: ShiftedClock,
) -> None:
    client, first = await _one_review_under_a_repo_ceiling(
        aiohttp_client, gh, app_private_key, tmp_path, fake, clock
    )
    elsewhere = another_pull(first, 3, diff=_db_only_diff(), repo="Codertocat/Another-Repo")
    await _deliver(client, elsewhere)
    assert llm_calls(client) == 2
    assert len(elsewhere.reviews) == 1
    assert [r["mode"] for r in runs(client)] == ["model", "model"]


async def test_spend_is_stamped_with_the_app_clock(
    aiohttp_client: Any,
    gh: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    fake: FakeOpenAI,
    clock: ShiftedClock,
) -> None:
    client = await serve(
        aiohttp_client, gh, app_private_key, tmp_path, review=model_settings(fake), clock=clock
    )
    first = pull_scenario(gh)
    await _deliver(client, first)
    conn = client.app[CTX].db.conn
    stamps = [row[0] for row in conn.execute("SELECT at FROM llm_calls")]
    assert stamps and all(abs(at - START) < 60 for at in stamps)


async def test_at_the_ceiling_a_cached_review_is_still_served(
    aiohttp_client: Any,
    gh: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    fake: FakeOpenAI,
    clock: ShiftedClock,
) -> None:
    client, first = await _one_review_under_a_repo_ceiling(
        aiohttp_client, gh, app_private_key, tmp_path, fake, clock
    )
    calls = llm_calls(client)
    assert calls == 1

    # the same change on another PR: a cache hit, which costs nothing, so the ceiling allows it
    same = another_pull(first, 3, diff=example_diff())
    await _deliver(client, same)
    assert llm_calls(client) == calls
    check = completed(same)
    assert check is not None and check["conclusion"] == "success"
    assert "cache" in check["output"]["title"].lower()
    assert len(same.reviews) == 1 and same.comments
    assert runs(client)[-1]["mode"] == "cached"
    assert gh.invalid_requests == []
