"""``prwarden serve --workers 0`` and ``prwarden worker`` as separate processes on one SQLite
file: the receiver only queues, the worker reviews, and SIGTERM lets the worker finish."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from testkit.fakes.github import FakeGitHub
from testkit.fleet import console_script
from testkit.serve_process import ServeProcess
from tests.scenario import pull_scenario, queue_idle, wait_for


@pytest.fixture
def processes() -> Iterator[list[ServeProcess]]:
    started: list[ServeProcess] = []
    yield started
    for process in started:
        process.stop()


async def _start(
    tmp: Path, gh: FakeGitHub, key: str, started: list[ServeProcess], *args: str
) -> ServeProcess:
    process = ServeProcess(
        tmp, api_url=gh.base_url, private_key=key, command=[console_script(), *args]
    )
    started.append(process)
    await asyncio.to_thread(process.start)
    return process


async def test_a_receiver_queues_and_a_worker_reviews_then_stops_on_sigterm(
    fake_github: FakeGitHub, app_private_key: str, tmp_path: Path, processes: list[ServeProcess]
) -> None:
    s = pull_scenario(fake_github)
    receiver = await _start(
        tmp_path, fake_github, app_private_key, processes, "serve", "--workers", "0"
    )
    body, headers = s.delivery()
    async with aiohttp.ClientSession() as session:
        async with session.post(receiver.url + "/webhook", data=body, headers=headers) as answer:
            assert answer.status == 202
        assert not queue_idle(tmp_path / "prwarden.db"), "queued, and no one to run it yet"
        assert s.check_runs() == []

        fake_github.delay = 0.1  # slow enough that SIGTERM arrives mid-review
        worker = await _start(tmp_path, fake_github, app_private_key, processes, "worker")
        async with session.get(worker.url + "/healthz") as health:
            assert health.status == 200 and "queue" in await health.json()
        async with session.post(worker.url + "/webhook", data=body, headers=headers) as refused:
            assert refused.status in (404, 405), "a worker does not receive webhooks"
        await wait_for(lambda: bool(s.check_runs()), within=30, interval=0.01)
        assert await asyncio.to_thread(worker.terminate) == 0
    assert len(s.reviews) == 1
    assert all(r["status"] == "completed" for r in s.check_runs())
    assert fake_github.invalid_requests == []


async def test_a_worker_needs_no_webhook_secret(
    fake_github: FakeGitHub, app_private_key: str, tmp_path: Path, processes: list[ServeProcess]
) -> None:
    worker = ServeProcess(
        tmp_path, api_url=fake_github.base_url, private_key=app_private_key,
        command=[console_script(), "worker"],
    )  # fmt: skip
    del worker.env["PRWARDEN_WEBHOOK_SECRET"]
    processes.append(worker)
    await asyncio.to_thread(worker.start)
    async with aiohttp.ClientSession() as session, session.get(worker.url + "/healthz") as health:
        assert health.status == 200
