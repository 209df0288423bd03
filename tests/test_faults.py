"""Faults at the network edges, through the real app: GitHub 5xx and rate limits, a model down.

A passing GitHub fault reschedules the job (the check run says it is waiting, and a worker
picks the job up again once ``not_before`` is reached); a fault that persists ends, after
``max_attempts``, in a visible failure. A model that stays down gives a labelled static review.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from bot.app import make_app
from bot.context import CTX
from bot.github import RetryPolicy
from cache.db import open_db
from review.settings import ReviewSettings
from tests.fakes.github import SECONDARY_RATE_LIMIT_MESSAGE, FakeGitHub
from tests.fakes.openai import FakeOpenAI, fault, rate_limited
from tests.helpers import make_settings
from tests.scenario import PullScenario, pull_scenario, wait_for

PULL_PATH = r"^/repos/[^/]+/[^/]+/pulls/\d+$"
REVIEWS_PATH = r"^/repos/[^/]+/[^/]+/pulls/\d+/reviews$"
FAST_RETRY = RetryPolicy(attempts=2, initial_wait=0.05, max_wait=0.1, jitter=0.0)


async def _serve(
    aiohttp_client: Any, gh: FakeGitHub, key: str, tmp_path: Path, **settings: Any
) -> TestClient[Any, Any]:
    settings.setdefault("github_retry", FAST_RETRY)
    settings.setdefault("retry_delay", 0.2)
    app = make_app(
        make_settings(key, api_url=gh.base_url, workspaces=tmp_path / "ws", **settings),
        db=open_db(tmp_path / "prwarden.db"),
    )
    client: TestClient[Any, Any] = await aiohttp_client(app)
    return client


async def _deliver(client: TestClient[Any, Any], s: PullScenario) -> None:
    body, headers = s.delivery()
    response = await client.post("/webhook", data=body, headers=headers)
    assert response.status == 202


def _check_titles(gh: FakeGitHub) -> list[str]:
    return [
        str((r.json or {}).get("output", {}).get("title", ""))
        for r in gh.requests_for("checks/update")
    ]


def _completed(s: PullScenario) -> bool:
    runs = s.check_runs()
    return bool(runs) and runs[0]["status"] == "completed"


async def test_5xx_then_a_secondary_rate_limit_delay_the_review_which_lands_once(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    s = pull_scenario(fake_github)
    # Attempt 1: two 502s exhaust the client's retries. Attempt 2: a 502, then a
    # secondary rate limit. Attempt 3: posting the review is rate limited. Attempt 4 posts.
    fake_github.fail_next("GET", PULL_PATH, 502, times=3)
    fake_github.fail_next("GET", PULL_PATH, 403, headers={"Retry-After": "1"})
    fake_github.fail_next("POST", REVIEWS_PATH, 403, headers={"Retry-After": "1"})
    client = await _serve(aiohttp_client, fake_github, app_private_key, tmp_path)
    await _deliver(client, s)
    await wait_for(lambda: len(fake_github.requests_for("pulls/create-review")) == 1, within=20)
    limited_at = time.monotonic()
    await wait_for(lambda: bool(s.reviews) and _completed(s), within=20, interval=0.01)
    assert time.monotonic() - limited_at >= 0.9
    assert len(s.reviews) == 1
    assert len(fake_github.requests_for("pulls/create-review")) == 2
    waiting = [t for t in _check_titles(fake_github) if t.startswith("Waiting")]
    assert len(waiting) == 3, _check_titles(fake_github)
    notes = [
        r.json["output"]["summary"]
        for r in fake_github.requests_for("checks/update")
        if r.json["output"]["title"].startswith("Waiting")
    ]
    assert "502" in notes[0] and "rate limit" in notes[1] and "Retrying at" in notes[1]
    assert SECONDARY_RATE_LIMIT_MESSAGE[:40] in notes[2]
    run = s.check_runs()[0]
    assert run["conclusion"] == "success"
    job = next(j for j in client.app[CTX].queue.jobs() if j.kind == "review")
    assert job.state == "done" and job.attempts == 3
    assert fake_github.invalid_requests == []


async def test_persistent_5xx_fails_the_job_visibly_after_max_attempts(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    s = pull_scenario(fake_github)
    fake_github.fail_next("GET", PULL_PATH, 503, times=1000)
    client = await _serve(aiohttp_client, fake_github, app_private_key, tmp_path, max_attempts=3)
    await _deliver(client, s)
    await wait_for(lambda: _completed(s), within=20)
    run = s.check_runs()[0]
    assert run["conclusion"] == "failure"
    assert run["output"]["title"] == "Review failed"
    assert "gave up after 3 attempts" in run["output"]["summary"]
    assert "503" in run["output"]["summary"]
    titles = _check_titles(fake_github)
    assert [t for t in titles if t.startswith("Waiting")] == ["Waiting to retry"] * 2, titles
    assert s.reviews == []
    job = next(j for j in client.app[CTX].queue.jobs() if j.kind == "review")
    assert job.state == "failed" and "503" in (job.error or "")
    # two client attempts per job attempt, three job attempts
    assert len(fake_github.requests_for("pulls/get")) == 6


async def test_a_rescheduled_job_waits_for_not_before(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    s = pull_scenario(fake_github)
    fake_github.fail_next("GET", PULL_PATH, 403, headers={"Retry-After": "2"})
    client = await _serve(aiohttp_client, fake_github, app_private_key, tmp_path)
    await _deliver(client, s)
    await wait_for(lambda: len(fake_github.requests_for("pulls/get")) == 1, within=10)
    limited_at = time.monotonic()
    await wait_for(
        lambda: len(fake_github.requests_for("pulls/get")) >= 2, within=10, interval=0.01
    )
    assert 1.8 <= time.monotonic() - limited_at < 4.0
    job = next(j for j in client.app[CTX].queue.jobs() if j.kind == "review")
    assert job.attempts == 1
    await wait_for(lambda: _completed(s), within=10)
    assert len(s.reviews) == 1


async def test_a_model_that_stays_down_gives_a_labelled_static_review(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    s = pull_scenario(fake_github)
    async with FakeOpenAI([rate_limited(1), *[fault(503) for _ in range(30)]]) as model:
        review = ReviewSettings(
            triage_model="gpt-4o-mini",
            review_model="gpt-4o",
            base_url=model.base_url,
            api_key="sk-test-key",
            llm_retries=2,
        )
        client = await _serve(aiohttp_client, fake_github, app_private_key, tmp_path, review=review)
        await _deliver(client, s)
        await wait_for(lambda: bool(s.reviews) and _completed(s), within=30)
    assert len(model.requests) >= 3  # the 429 and the 503s were retried
    assert len(s.reviews) == 1
    body = s.reviews[0]["body"].lower()
    assert "unavailable" in body
    assert "F821" in " ".join(c["body"] for c in s.comments)
    assert fake_github.invalid_requests == []
