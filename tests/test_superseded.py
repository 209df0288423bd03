"""A review superseded by a newer push after it started: its check run is completed as
"Superseded by a newer push" even when its worker is dead, and on both backends' stores.

A real ``prwarden serve`` starts reviewing the first head and is killed with SIGKILL while the
check run says "in progress". A second server receives the push of a newer head: it reviews
the new head, and once the dead worker's lease has run out it completes the old check run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from bot.jobs import SUPERSEDED_SUMMARY
from testkit.fakes.github import FakeGitHub
from testkit.serve_process import ServeProcess
from tests.scenario import example_files, pull_scenario, queue_idle, wait_for


@pytest.fixture
def servers() -> Iterator[list[ServeProcess]]:
    started: list[ServeProcess] = []
    yield started
    for server in started:
        server.stop()


async def _post(server: ServeProcess, body: bytes, headers: dict[str, str]) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(server.url + "/webhook", data=body, headers=headers) as response,
    ):
        return response.status


async def test_a_dead_workers_superseded_check_run_is_completed(
    fake_github: FakeGitHub, app_private_key: str, tmp_path: Path, servers: list[ServeProcess]
) -> None:
    s = pull_scenario(fake_github)
    old_head = s.head_sha
    # A lease long enough that the new server cannot take the old job over before the push.
    first = ServeProcess(tmp_path, api_url=fake_github.base_url, private_key=app_private_key)
    first.env["PRWARDEN_LEASE_SECONDS"] = "10"
    servers.append(first)
    await asyncio.to_thread(first.start)
    fake_github.delay = 0.3  # the review is slow: it is caught with its check run in progress
    assert await _post(first, *s.delivery()) == 202
    await wait_for(
        lambda: any(r["status"] == "in_progress" for r in s.check_runs(old_head)), within=30
    )
    first.kill()
    fake_github.delay = 0.0

    files = {**example_files(), "shop/extra.py": b"import os\n"}
    newer = s.push(files, s.gh.pulls[(s.repo, s.number)].diff_text)
    second = ServeProcess(tmp_path, api_url=fake_github.base_url, private_key=app_private_key)
    servers.append(second)
    await asyncio.to_thread(second.start)
    assert await _post(second, *s.delivery(action="synchronize", head_sha=newer)) == 202

    def settled() -> bool:
        runs = s.check_runs(old_head) + s.check_runs(newer)
        return bool(runs) and all(r["status"] == "completed" for r in runs)

    await wait_for(settled, within=60, interval=0.05)
    await wait_for(lambda: queue_idle(tmp_path / "prwarden.db"), within=30)
    [old_run] = s.check_runs(old_head)
    assert old_run["conclusion"] == "neutral"
    assert old_run["output"]["summary"] == SUPERSEDED_SUMMARY
    assert [r["commit_id"] for r in s.reviews] == [newer]
    assert fake_github.invalid_requests == []
