"""Two receivers and three workers, separate processes of the installed ``prwarden`` command,
on one PostgreSQL: nothing lost, nothing done twice, even when a worker and a receiver are
killed mid-run.

Each PR gets five signed deliveries: ``opened`` at a first head (sent to both receivers, as a
GitHub redelivery would be), ``synchronize`` to the final head (to both), and a fresh delivery
of the same push. They are shuffled and spread over both receivers; halfway through, one worker
and one receiver get SIGKILL, and what the dead receiver did not acknowledge is delivered again
to the other (GitHub redelivers what was not acknowledged). ``PRWARDEN_SCALE_PRS`` sets the
number of PRs (default 20; 200 gives the 1,000 deliveries of ``bench/run.py``).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest

from testkit.fakes.github import FakeGitHub
from testkit.fakes.openai import FakeOpenAI, slow
from testkit.fleet import Fleet
from testkit.loadgen import (
    Delivery,
    TinyPull,
    delivery,
    opened_deliveries,
    pull_event,
    send_all,
    tiny_pulls,
)
from testkit.pgcluster import Cluster
from testkit.reviewer import model_settings, reviewer
from testkit.signing import SECRET, payload
from tests.reviewing import another_pull
from tests.scenario import PullScenario, pull_scenario, wait_for

PRS = int(os.environ.get("PRWARDEN_SCALE_PRS", "20"))
REPO = "Codertocat/Hello-World"


@pytest.fixture
def fleet(
    postgres: Cluster, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> Iterator[Fleet]:
    started = Fleet(
        tmp_path,
        postgres.database(),
        fake_github.base_url,
        app_private_key,
        env={"PRWARDEN_LEASE_SECONDS": "2", "PRWARDEN_PER_INSTALLATION": "6"},
    )
    yield started
    started.stop()


def five_deliveries(pull: TinyPull, base_sha: str) -> list[tuple[Delivery, str]]:
    """(delivery, receiver) pairs: 'a', 'b', or 'both' (the same delivery id to each)."""
    template = payload("pull_request.opened.2")
    opened = delivery(pull_event(template, pull.number, pull.first_sha, base_sha, "opened"),
                      "pull_request", SECRET)  # fmt: skip
    pushed = pull_event(template, pull.number, pull.final_sha, base_sha, "synchronize")
    again = delivery(pushed, "pull_request", SECRET)
    pushed_delivery = delivery(pushed, "pull_request", SECRET)
    spare = random.Random(pull.number).choice("ab")
    return [(opened, "both"), (pushed_delivery, "both"), (again, spare)]


def _done(gh: FakeGitHub, pulls: list[TinyPull]) -> bool:
    for pull in pulls:
        finals = [r for r in gh.check_runs.values() if r["head_sha"] == pull.final_sha]
        if not gh.reviews_on(REPO, pull.number) or not finals:
            return False
    return all(r["status"] == "completed" for r in gh.check_runs.values())


async def test_receivers_and_workers_on_postgres_lose_nothing_and_do_nothing_twice(
    fake_github: FakeGitHub, fleet: Fleet
) -> None:
    gh = fake_github
    gh.delay = 0.01  # every GitHub call takes a while, so reviews overlap the kills
    pulls = tiny_pulls(gh, REPO, PRS)
    base_sha = gh.repos[REPO].branches["main"]
    await asyncio.gather(*(asyncio.to_thread(fleet.add_receiver) for _ in range(2)))
    await asyncio.gather(*(asyncio.to_thread(fleet.add_worker) for _ in range(3)))
    a, b = fleet.receivers
    plan: list[tuple[Delivery, str]] = []
    for pull in pulls:
        for item, where in five_deliveries(pull, base_sha):
            plan += [(item, "a"), (item, "b")] if where == "both" else [(item, where)]
    random.Random(16).shuffle(plan)
    assert len(plan) == 5 * PRS
    half = len(plan) // 2
    acked: set[str] = set()
    unanswered: list[Delivery] = []

    async def send(batch: list[tuple[Delivery, str]]) -> None:
        for name, server in (("a", a), ("b", b)):
            items = [d for d, where in batch if where == name]
            for item, ack in zip(
                items, await send_all(server.url + "/webhook", items), strict=True
            ):
                if 200 <= ack.status < 300:
                    acked.add(item.headers["X-GitHub-Delivery"])
                else:
                    unanswered.append(item)

    await send(plan[:half])
    await wait_for(lambda: any(r["status"] == "in_progress" for r in gh.check_runs.values()))
    fleet.workers[0].kill()
    b.kill()
    await send(plan[half:])
    # GitHub redelivers what was not acknowledged; the live receiver takes it.
    redelivered = await send_all(a.url + "/webhook", unanswered)
    assert all(200 <= ack.status < 300 for ack in redelivered), {x.status for x in redelivered}
    acked |= {d.headers["X-GitHub-Delivery"] for d in unanswered}

    await wait_for(lambda: _done(gh, pulls), within=180, interval=0.2)
    await wait_for(lambda: fleet.live_jobs() == 0, within=60, interval=0.2)
    for pull in pulls:
        reviews = gh.reviews_on(REPO, pull.number)
        heads = [r["commit_id"] for r in reviews]
        assert len(heads) == len(set(heads)), ("a head reviewed twice", pull.number, heads)
        assert heads == [pull.final_sha], (pull.number, heads)
        comments = gh.comments_on(REPO, pull.number)
        assert len(comments) == 1 and "F821" in comments[0]["body"], comments
    unfinished = [r for r in gh.check_runs.values() if r["status"] != "completed"]
    assert unfinished == []
    recorded = {str(row[0]) for row in fleet.query("SELECT id FROM deliveries")}
    assert acked <= recorded, "every acknowledged delivery is in the store"
    assert len(recorded) == 3 * PRS
    states = dict(fleet.query("SELECT state, COUNT(*) FROM jobs GROUP BY state"))
    assert states.get("failed", 0) == 0, states
    assert gh.invalid_requests == []


def _model_env(fake: FakeOpenAI) -> dict[str, str]:
    settings = model_settings(fake)
    return {
        "OPENAI_BASE_URL": str(settings.base_url),
        "OPENAI_API_KEY": str(settings.api_key),
        "PRWARDEN_TRIAGE_MODEL": str(settings.triage_model),
        "PRWARDEN_REVIEW_MODEL": str(settings.review_model),
    }


def _completed_check(s: PullScenario) -> dict[str, Any] | None:
    done = [r for r in s.check_runs() if r["status"] == "completed"]
    return max(done, key=lambda r: r["id"]) if done else None


async def test_two_workers_racing_for_the_last_of_a_daily_budget(
    fake_github: FakeGitHub, fleet: Fleet, fake: FakeOpenAI
) -> None:
    """990 of the installation's 1,000 daily tokens are spent when two PRs of two repositories
    (no shared cache) reach two worker processes at once: one is reviewed, the other gets the
    budget check run."""
    fake.script(*[slow(0.5, reviewer())] * 50)  # both reviews are in flight together
    first = pull_scenario(fake_github)
    second = another_pull(first, 3, repo="Codertocat/Another-Repo")
    fleet.env.update(_model_env(fake), PRWARDEN_DAILY_TOKENS_INSTALLATION="1000")
    with psycopg.connect(fleet.database_url) as conn:
        conn.execute(
            "INSERT INTO llm_calls (at, purpose, model, prompt_version, tokens_in, tokens_out,"
            " latency_ms, cost, installation_id, repo, pr_number, outcome)"
            " VALUES (%s, 'review', 'gpt-4o', 'v', 990, 0, 1, 0, %s, %s, 1, 'ok')",
            (time.time(), first.event["installation"]["id"], first.repo),
        )
    receiver = await asyncio.to_thread(fleet.add_receiver)
    await asyncio.gather(*(asyncio.to_thread(fleet.add_worker, 1) for _ in range(2)))
    for s in (first, second):
        body, headers = s.delivery()
        async with aiohttp.ClientSession() as session:
            response = await session.post(receiver.url + "/webhook", data=body, headers=headers)
            assert response.status == 202
    await wait_for(
        lambda: (
            all(_completed_check(s) is not None for s in (first, second)) and fleet.live_jobs() == 0
        ),
        within=90,
        interval=0.1,
    )
    checks = {s.number: _completed_check(s) for s in (first, second)}
    reviewed = [s for s in (first, second) if s.reviews]
    assert len(reviewed) == 1, {n: c and c["output"]["title"] for n, c in checks.items()}
    [other] = [s for s in (first, second) if not s.reviews]
    budget = checks[other.number]
    assert budget is not None and budget["conclusion"] == "neutral"
    assert budget["output"]["title"].startswith("Budget exhausted")
    assert "daily token budget of this installation" in budget["output"]["summary"]
    modes = sorted(str(row[0]) for row in fleet.query("SELECT mode FROM review_runs"))
    assert modes == ["budget", "model"]


async def test_the_per_installation_limit_holds_across_worker_processes(
    fake_github: FakeGitHub, fleet: Fleet
) -> None:
    """PRWARDEN_PER_INSTALLATION=2 and three worker processes of one task each: never more
    than two jobs of the one installation run at once, counted over every process."""
    fake_github.delay = 0.02
    pulls = tiny_pulls(fake_github, REPO, 6)
    base_sha = fake_github.repos[REPO].branches["main"]
    fleet.env["PRWARDEN_PER_INSTALLATION"] = "2"
    receiver = await asyncio.to_thread(fleet.add_receiver)
    await asyncio.gather(*(asyncio.to_thread(fleet.add_worker, 1) for _ in range(3)))
    template = payload("pull_request.opened.2")
    batch = opened_deliveries(template, pulls, base_sha, SECRET)
    assert all(a.status == 202 for a in await send_all(receiver.url + "/webhook", batch))
    await wait_for(lambda: _done(fake_github, pulls), within=120, interval=0.2)
    await wait_for(lambda: fleet.live_jobs() == 0, within=60, interval=0.2)
    rows = fleet.query("SELECT started_at, finished_at, lease_owner FROM jobs WHERE state = 'done'")
    assert len(rows) >= len(pulls)
    events = sorted(
        [(float(start), 1) for start, _, _ in rows] + [(float(end), -1) for _, end, _ in rows]
    )
    running = most = 0
    for _, change in events:  # a finish at the same instant as a start comes first
        running += change
        most = max(most, running)
    assert most <= 2, rows
    processes = {str(owner).split("-")[0] for _, _, owner in rows}
    assert len(processes) >= 2, "the jobs were spread over several worker processes"
