"""A real ``prwarden serve`` process killed at each crash point: one review, one check run.

The fake GitHub answers slowly, so each point of the job (before posting, between the review
and the check run, after posting) can be caught and the process killed with SIGKILL there. A
restarted server picks the job up once its lease runs out and brings GitHub to exactly one
review and one completed check run for the head SHA.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.github import FakeGitHub
from tests.scenario import PullScenario, pull_scenario, queue_idle, wait_for
from tests.serve_process import ServeProcess


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[ServeProcess]]:
    started: list[ServeProcess] = []
    yield started
    for server in started:
        server.stop()


async def _deliver(server: ServeProcess, s: PullScenario) -> int:
    body, headers = s.delivery()
    async with (
        aiohttp.ClientSession() as session,
        session.post(server.url + "/webhook", data=body, headers=headers) as response,
    ):
        return response.status


def _completed(s: PullScenario) -> bool:
    runs = s.check_runs()
    return bool(runs) and all(r["status"] == "completed" for r in runs)


CRASH_POINTS: dict[str, Callable[[PullScenario], bool]] = {
    "before posting": lambda s: bool(s.check_runs()) and not s.reviews,
    "between review and check run": lambda s: bool(s.reviews) and not _completed(s),
    "after posting": lambda s: bool(s.reviews) and _completed(s),
}


async def _serving(
    gh: FakeGitHub, key: str, tmp_path: Path, servers: list[ServeProcess], *, port: int = 0
) -> ServeProcess:
    """A real ``prwarden serve`` on the fake GitHub, listening before this returns."""
    server = ServeProcess(tmp_path, api_url=gh.base_url, private_key=key)
    if port:
        server.port = port
    servers.append(server)
    await asyncio.to_thread(server.start)
    return server


@pytest.mark.parametrize("point", list(CRASH_POINTS))
async def test_killed_server_finishes_the_job_once_after_restart(
    point: str,
    fake_github: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    servers: list[ServeProcess],
) -> None:
    s = pull_scenario(fake_github)
    fake_github.delay = 0.25
    first = await _serving(fake_github, app_private_key, tmp_path, servers)
    assert await _deliver(first, s) == 202
    await wait_for(lambda: CRASH_POINTS[point](s), within=60, interval=0.01)
    first.kill()
    if point == "after posting":
        assert len(s.reviews) == 1
    fake_github.delay = 0.0
    await _serving(fake_github, app_private_key, tmp_path, servers, port=first.port)
    await wait_for(lambda: bool(s.reviews) and _completed(s), within=60)
    # The killed server's lease runs out and the job is claimed again: once nothing is left
    # to run, there is still one review.
    await wait_for(lambda: queue_idle(tmp_path / "prwarden.db"), within=60)
    assert len(s.reviews) == 1, s.reviews
    runs = s.check_runs()
    assert len(runs) == 1 and runs[0]["status"] == "completed", runs
    assert fake_github.invalid_requests == []


async def test_sigterm_lets_the_running_review_finish(
    fake_github: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    servers: list[ServeProcess],
) -> None:
    s = pull_scenario(fake_github)
    fake_github.delay = 0.1
    server = await _serving(fake_github, app_private_key, tmp_path, servers)
    assert await _deliver(server, s) == 202
    await wait_for(lambda: bool(s.check_runs()), within=30, interval=0.01)
    code = await asyncio.to_thread(server.terminate)
    assert code == 0
    assert len(s.reviews) == 1 and _completed(s)
