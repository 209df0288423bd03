"""A burst of signed deliveries at a real ``prwarden serve`` process: all acknowledged, none lost.

100 PRs get 10 deliveries each, shuffled and sent at once: ``opened`` at a first head, then
``synchronize`` to the final head, with redeliveries of the same delivery id and fresh
deliveries of the same push. Every answer is 2xx, every delivery id is recorded once, and
every PR ends with exactly one review, on its final head, and a completed check run.
``PRWARDEN_LOAD_PRS`` changes the number of PRs (default 100: 1,000 deliveries).
"""

from __future__ import annotations

import os
import random
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.loadgen import Delivery, TinyPull, delivery, percentile, pull_event, send_all, tiny_pulls
from tests.fakes.github import FakeGitHub
from tests.helpers import SECRET, payload
from tests.scenario import queue_idle, wait_for
from tests.serve_process import ServeProcess

PRS = int(os.environ.get("PRWARDEN_LOAD_PRS", "100"))
REPO = "Codertocat/Hello-World"


@pytest.fixture
def server(fake_github: FakeGitHub, app_private_key: str, tmp_path: Path) -> Iterator[ServeProcess]:
    process = ServeProcess(
        tmp_path,
        api_url=fake_github.base_url,
        private_key=app_private_key,
        PRWARDEN_WORKERS="8",
        PRWARDEN_PER_INSTALLATION="8",
    )
    process.env["PRWARDEN_LEASE_SECONDS"] = "30"
    process.start()
    yield process
    process.stop()


def deliveries_for(pull: TinyPull, base_sha: str) -> list[Delivery]:
    """Ten deliveries: opened (+2 redeliveries), synchronize (+2), two more of the same push."""
    template = payload("pull_request.opened.2")
    opened = pull_event(template, pull.number, pull.first_sha, base_sha, "opened")
    pushed = pull_event(template, pull.number, pull.final_sha, base_sha, "synchronize")
    first = delivery(opened, "pull_request", SECRET)
    second = delivery(pushed, "pull_request", SECRET)
    again = [delivery(pushed, "pull_request", SECRET) for _ in range(2)]
    return [first] * 3 + [second] * 3 + [d for d in again for _ in range(2)]


def _reviewed(gh: FakeGitHub, pulls: list[TinyPull]) -> bool:
    for pull in pulls:
        runs = [r for r in gh.check_runs.values() if r["head_sha"] == pull.final_sha]
        if not gh.reviews_on(REPO, pull.number) or not runs:
            return False
        if any(r["status"] != "completed" for r in runs):
            return False
    return True


async def test_a_burst_of_deliveries_is_acknowledged_and_each_pr_reviewed_once(
    fake_github: FakeGitHub, server: ServeProcess, tmp_path: Path
) -> None:
    pulls = tiny_pulls(fake_github, REPO, PRS)
    base_sha = fake_github.repos[REPO].branches["main"]
    batch = [d for pull in pulls for d in deliveries_for(pull, base_sha)]
    random.Random(7).shuffle(batch)
    acks = await send_all(server.url + "/webhook", batch)
    latencies = [a.latency for a in acks]
    print(
        f"\n{len(batch)} deliveries: ack p50 {percentile(latencies, 50) * 1000:.1f} ms,"
        f" p99 {percentile(latencies, 99) * 1000:.1f} ms",
        file=sys.stderr,
    )
    assert all(200 <= a.status < 300 for a in acks), sorted({a.status for a in acks})
    await wait_for(lambda: _reviewed(fake_github, pulls), within=90, interval=0.2)
    await wait_for(lambda: queue_idle(tmp_path / "prwarden.db"), within=60)
    for pull in pulls:
        reviews = fake_github.reviews_on(REPO, pull.number)
        assert len(reviews) == 1, (pull.number, reviews)
        assert reviews[0]["commit_id"] == pull.final_sha
        final_runs = [r for r in fake_github.check_runs.values() if r["head_sha"] == pull.final_sha]
        assert len(final_runs) == 1 and final_runs[0]["conclusion"] == "success", final_runs
        comments = fake_github.comments_on(REPO, pull.number)
        assert len(comments) == 1 and "F821" in comments[0]["body"]
    with sqlite3.connect(tmp_path / "prwarden.db") as db:
        recorded = {row[0] for row in db.execute("SELECT id FROM deliveries")}
        states = dict(db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
    assert recorded == {d.headers["X-GitHub-Delivery"] for d in batch}
    assert states.get("failed", 0) == 0 and states.get("queued", 0) == 0, states
    assert fake_github.invalid_requests == []
