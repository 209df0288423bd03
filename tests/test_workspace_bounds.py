"""The unpacked-workspace cache stays bounded on a running server: by age and by size, never
removing a workspace a job is using."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.github import GitHubApp, GitHubClient
from bot.workspace import Workspaces
from tests.conftest import APP_ID
from tests.fakes.github import FakeGitHub
from tests.reviewing import another_pull, completed, deliver, idle, serve
from tests.scenario import ManualClock, PullScenario, pull_scenario, wait_for

REPO = "octo/hello"
DAY = 86400.0


@pytest.fixture
async def client(fake_github: FakeGitHub, app_private_key: str) -> AsyncIterator[GitHubClient]:
    async with aiohttp.ClientSession() as session:
        app = GitHubApp(
            session, app_id=APP_ID, private_key=app_private_key, base_url=fake_github.base_url
        )
        yield await app.installation(1)


def _workspaces(root: Path) -> set[str]:
    return {p.name for p in root.glob("*/*") if p.is_dir() and not p.name.startswith(".")}


async def test_trim_removes_the_old_then_the_least_recently_used_past_the_size(
    client: GitHubClient, fake_github: FakeGitHub, tmp_path: Path
) -> None:
    clock = ManualClock()
    big = "x" * 10_000
    shas = [fake_github.add_commit(REPO, {"a.txt": f"{i}{big}"}) for i in range(4)]
    ws = Workspaces(tmp_path, cache_bytes=25_000, max_age=2 * DAY, clock=clock)
    for age, sha in zip((3 * DAY, 1.5 * DAY, DAY, 0.0), shas, strict=True):
        await ws.fetch(client, REPO, sha)
        marker = tmp_path / "octo__hello" / f"{sha}.complete"
        os.utime(marker, (clock.now - age, clock.now - age))
    removed = ws.trim()
    # the 3-day-old one is past max_age; of the rest, two fit in 25 kB: the newest two stay
    assert {p.name for p in removed} == {shas[0], shas[1]}
    assert _workspaces(tmp_path) == {shas[2], shas[3]}
    assert ws.trim() == []


async def test_a_workspace_a_job_holds_is_never_removed(
    client: GitHubClient, fake_github: FakeGitHub, tmp_path: Path
) -> None:
    sha = fake_github.add_commit(REPO, {"a.txt": "aa"})
    other = fake_github.add_commit(REPO, {"b.txt": "bb"})
    ws = Workspaces(tmp_path, cache_bytes=1)
    held = await ws.fetch(client, REPO, sha, holder="job-1")
    await ws.fetch(client, REPO, other)
    assert ws.trim() == [tmp_path / "octo__hello" / other]
    assert (held / "a.txt").read_text() == "aa"
    assert await ws.release("job-1") == [held]
    assert _workspaces(tmp_path) == set()


async def _review(client: Any, s: PullScenario) -> None:
    await deliver(client, s)
    await wait_for(lambda: idle(client) and completed(s) is not None)


async def test_a_running_server_forgets_workspaces_unused_for_too_long(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    clock = ManualClock()
    first = pull_scenario(fake_github)
    app = await serve(
        aiohttp_client, fake_github, app_private_key, tmp_path, clock=clock, workspace_max_age=DAY
    )
    await _review(app, first)
    assert _workspaces(tmp_path / "ws") == {first.head_sha}
    clock.advance(2 * DAY)
    second = another_pull(first, 8)
    await _review(app, second)
    assert _workspaces(tmp_path / "ws") == {second.head_sha}


async def test_a_running_server_keeps_workspaces_within_the_size_bound(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    first = pull_scenario(fake_github)
    app = await serve(
        aiohttp_client, fake_github, app_private_key, tmp_path, workspace_cache_bytes=1
    )
    for s in (first, another_pull(first, 8), another_pull(first, 9)):
        await _review(app, s)
        assert _workspaces(tmp_path / "ws") == set()
    assert len(fake_github.requests_for("repos/download-tarball-archive")) == 3
