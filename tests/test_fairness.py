"""Fair scheduling through the real app: one installation's flood does not starve another's PR."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.config import Limits
from bot.context import CTX
from testkit.fakes.github import FakeGitHub
from tests.reviewing import another_pull, serve
from tests.scenario import pull_scenario, wait_for

FLOOD = 50


async def test_a_lone_pr_starts_while_another_installation_has_fifty_queued(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    fake_github.installations.add(2)
    fake_github.delay = 0.01  # every GitHub call takes a while, so each review does too
    client = await serve(
        aiohttp_client,
        fake_github,
        app_private_key,
        tmp_path,
        limits=Limits(workers=4, per_installation=2),
        shutdown_grace=0.5,
    )
    seed = pull_scenario(fake_github)
    flood = [another_pull(seed, 100 + n) for n in range(FLOOD)]
    lone = another_pull(seed, 7, repo="Lone/Repo", installation=2)
    for s in [*flood, lone]:
        body, headers = s.delivery()
        assert (await client.post("/webhook", data=body, headers=headers)).status == 202

    conn = client.app[CTX].db.conn

    def count(installation: int, state: str) -> int:
        return int(
            conn.execute(
                "SELECT COUNT(*) FROM jobs WHERE installation_id = ? AND state = ?"
                " AND kind = 'review'",
                (installation, state),
            ).fetchone()[0]
        )

    def finished(installation: int) -> int:
        return count(installation, "done")

    flood_done_when_lone_started: list[int] = []
    flood_running: list[int] = []

    def lone_started() -> bool:
        flood_running.append(count(1, "running"))
        if lone.check_runs():
            flood_done_when_lone_started.append(finished(1))
            return True
        return False

    await wait_for(lone_started, within=20, interval=0.01)
    assert flood_done_when_lone_started[0] < FLOOD // 5
    await wait_for(lambda: bool(flood_running.append(count(1, "running"))) or finished(2) == 1)
    assert finished(1) < FLOOD
    assert len(lone.reviews) == 1
    assert max(flood_running) == 2  # the per-installation limit held the flood to two workers
