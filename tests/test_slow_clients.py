"""Slow clients against a real ``prwarden serve``: half-sent requests are timed out, the number
of open connections is capped, and a signed delivery is answered while 1,100 stalled
connections are open (more than the server's 1,024 file descriptors).
"""

from __future__ import annotations

import asyncio
import resource
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.github import FakeGitHub
from tests.scenario import pull_scenario
from tests.serve_process import ServeProcess

STALLED = 1100
HALF_SENT = b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nX-GitHub-Event: pull_request\r\n"


def _fd_limit_1024() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


@pytest.fixture(autouse=True)
def enough_descriptors_here() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < STALLED + 200:
        pytest.skip(f"this test opens {STALLED} sockets; the hard fd limit is {hard}")
    if soft < STALLED + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@pytest.fixture
async def server(
    request: pytest.FixtureRequest, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> AsyncIterator[ServeProcess]:
    """A server limited to 1,024 file descriptors; timeouts of 1 s unless the test says."""
    timeout = str(getattr(request, "param", 1))
    serve = ServeProcess(
        tmp_path,
        api_url=fake_github.base_url,
        private_key=app_private_key,
        PRWARDEN_HEADER_TIMEOUT=timeout,
        PRWARDEN_BODY_TIMEOUT=timeout,
    )
    serve.preexec = _fd_limit_1024
    await asyncio.to_thread(serve.start)
    yield serve
    serve.stop()


async def _stall(server: ServeProcess, count: int) -> list[asyncio.StreamWriter]:
    writers = []
    for _ in range(count):
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(HALF_SENT)
        writers.append(writer)
    await asyncio.gather(*(w.drain() for w in writers))
    return writers


# Timeouts longer than the test: only the connection cap can make room.
@pytest.mark.parametrize("server", [120], indirect=True)
async def test_a_signed_delivery_is_answered_while_1100_connections_stall(
    fake_github: FakeGitHub, server: ServeProcess
) -> None:
    s = pull_scenario(fake_github)
    writers = await _stall(server, STALLED)
    try:
        body, headers = s.delivery()
        timeout = aiohttp.ClientTimeout(total=20)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(server.url + "/webhook", data=body, headers=headers) as response,
        ):
            assert response.status == 202, await response.text()
    finally:
        for w in writers:
            w.close()


async def test_a_request_whose_headers_never_finish_is_closed(server: ServeProcess) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(HALF_SENT)
    await writer.drain()
    try:
        # The server closes the connection (EOF) once the header timeout has passed.
        assert await asyncio.wait_for(reader.read(), timeout=30) == b""
    finally:
        writer.close()


async def test_a_body_that_never_arrives_is_a_408(server: ServeProcess) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        HALF_SENT + b'Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"a": '
    )
    await writer.drain()
    try:
        status_line = await asyncio.wait_for(reader.readline(), timeout=30)
        assert status_line.startswith(b"HTTP/1.1 408"), status_line
    finally:
        writer.close()
