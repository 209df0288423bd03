"""Faults at the network edges, through the real app: GitHub 5xx and rate limits, a model down.

A passing GitHub fault reschedules the job (the check run says it is waiting, and a worker
picks the job up again once ``not_before`` is reached); a fault that persists ends, after
``max_attempts``, in a visible failure. A model that stays down gives a labelled static review.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from bot.context import CTX
from bot.github import RetryPolicy
from review.settings import ReviewSettings
from testkit.fakes.github import SECONDARY_RATE_LIMIT_MESSAGE, FakeGitHub
from testkit.fakes.openai import FakeOpenAI, fault, rate_limited
from tests.reviewing import completed, deliver, serve
from tests.scenario import ManualClock, pull_scenario, wait_for

PULL_PATH = r"^/repos/[^/]+/[^/]+/pulls/\d+$"
REVIEWS_PATH = r"^/repos/[^/]+/[^/]+/pulls/\d+/reviews$"
FAST_RETRY = RetryPolicy(attempts=2, initial_wait=0.05, max_wait=0.1, jitter=0.0)


async def _serve(
    aiohttp_client: Any,
    gh: FakeGitHub,
    key: str,
    tmp_path: Path,
    clock: ManualClock | None = None,
    **settings: Any,
) -> TestClient[Any, Any]:
    """The app with quick retries, on ``clock`` (a clock that stands still by default)."""
    settings.setdefault("github_retry", FAST_RETRY)
    settings.setdefault("retry_delay", 0.2)
    return await serve(aiohttp_client, gh, key, tmp_path, clock=clock or ManualClock(), **settings)


def _check_titles(gh: FakeGitHub) -> list[str]:
    return [
        str((r.json or {}).get("output", {}).get("title", ""))
        for r in gh.requests_for("checks/update")
    ]


async def _run_retries(
    client: TestClient[Any, Any], clock: ManualClock, done: Callable[[], bool]
) -> list[float]:
    """Run the PR's job until ``done``, moving the clock to each retry's ``not_before``.

    Returns the delay of every retry, as the queue scheduled it. The clock stands still between
    retries, so a job that ran before its time would not be waiting here at all.
    """
    ctx = client.app[CTX]

    def review() -> Any:
        return next(j for j in ctx.queue.jobs() if j.kind == "review")

    def waiting() -> bool:
        job = review()
        return job.state == "queued" and job.not_before > clock()

    delays: list[float] = []
    while True:
        await wait_for(lambda: done() or waiting(), within=20)
        if done():
            return delays
        job = review()
        delays.append(round(job.not_before - clock(), 3))
        clock.advance(job.not_before - clock())
        ctx.wake_workers()


async def test_5xx_then_a_secondary_rate_limit_delay_the_review_which_lands_once(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    s = pull_scenario(fake_github)
    # Attempt 1: two 502s exhaust the client's retries. Attempt 2: a 502, then a
    # secondary rate limit. Attempt 3: posting the review is rate limited. Attempt 4 posts.
    fake_github.fail_next("GET", PULL_PATH, 502, times=3)
    fake_github.fail_next("GET", PULL_PATH, 403, headers={"Retry-After": "1"})
    fake_github.fail_next("POST", REVIEWS_PATH, 403, headers={"Retry-After": "1"})
    clock = ManualClock()
    client = await _serve(aiohttp_client, fake_github, app_private_key, tmp_path, clock)
    await deliver(client, s)
    delays = await _run_retries(client, clock, lambda: bool(s.reviews) and completed(s) is not None)
    assert delays == [0.2, 1.0, 1.0]  # a 5xx backs off; a rate limit waits its Retry-After
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
    clock = ManualClock()
    client = await _serve(
        aiohttp_client, fake_github, app_private_key, tmp_path, clock, max_attempts=3
    )
    await deliver(client, s)
    delays = await _run_retries(client, clock, lambda: completed(s) is not None)
    assert delays == [0.2, 0.4]  # 2**attempts x retry_delay
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
    clock = ManualClock()
    client = await _serve(aiohttp_client, fake_github, app_private_key, tmp_path, clock)
    await deliver(client, s)
    delays = await _run_retries(client, clock, lambda: completed(s) is not None)
    assert delays == [2.0]
    job = next(j for j in client.app[CTX].queue.jobs() if j.kind == "review")
    assert job.attempts == 1
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
        await deliver(client, s)
        await wait_for(lambda: bool(s.reviews) and completed(s) is not None, within=30)
    assert len(model.requests) >= 3  # the 429 and the 503s were retried
    assert len(s.reviews) == 1
    body = s.reviews[0]["body"].lower()
    assert "unavailable" in body
    assert "F821" in " ".join(c["body"] for c in s.comments)
    assert fake_github.invalid_requests == []
