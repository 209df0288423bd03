"""Two receivers and three workers, separate processes of the installed ``prwarden`` command,
on one PostgreSQL: nothing lost, nothing done twice, even when a worker and a receiver are
killed mid-run.

Each PR gets five signed deliveries: ``opened`` at a first head (sent to both receivers, as a
GitHub redelivery would be), ``synchronize`` to the final head (to both), and a fresh delivery
of the same push. They are shuffled and spread over both receivers; halfway through, one worker
and one receiver get SIGKILL, and what the dead receiver did not acknowledge is delivered again
to the other (GitHub redelivers what was not acknowledged). ``PRWARDEN_SCALE_PRS`` sets the
number of PRs (default 30; 200 gives the 1,000 deliveries of ``bench/run.py``).
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.loadgen import Delivery, TinyPull, delivery, pull_event, send_all, tiny_pulls
from tests.fakes.github import FakeGitHub
from tests.fleet import Fleet
from tests.helpers import SECRET, payload
from tests.pgcluster import Cluster
from tests.scenario import wait_for

PRS = int(os.environ.get("PRWARDEN_SCALE_PRS", "30"))
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
