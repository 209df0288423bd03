"""Hostile input against a real ``prwarden serve``: every job ends with a completed check run
that gives its reason, and odd deliveries get a clear 4xx.

Each case is what a PR author (or a base-branch config) can put in front of the server: alias
bombs and deep nesting in the config, a config over GitHub's 1 MB contents limit, tarballs
with paths a file system refuses, oversized and digit-stuffed pax headers, a job that keeps
killing its worker, and deliveries nested 100,000 deep or naming an impossible repository.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import tarfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.config import Settings
from cache.db import open_db
from cache.queue import JobQueue
from review.config import MAX_CONFIG_BYTES
from tests.fakes.github import CONTENTS_INLINE_LIMIT, FakeGitHub
from tests.helpers import delivery_headers
from tests.scenario import PullScenario, example_diff, example_files, pull_scenario, wait_for
from tests.serve_process import ServeProcess

ADMIN = "admin-token-for-hostile-tests-0123"
ALIAS_BOMB = "\n".join(
    [
        'a: &a ["x","x","x","x","x","x","x","x","x"]',
        *(
            f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]"
            for a, b in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ]
)


@pytest.fixture
async def server(
    fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> AsyncIterator[ServeProcess]:
    serve = ServeProcess(
        tmp_path,
        api_url=fake_github.base_url,
        private_key=app_private_key,
        PRWARDEN_ADMIN_TOKEN=ADMIN,
    )
    await asyncio.to_thread(serve.start)
    yield serve
    serve.stop()


async def _post(server: ServeProcess, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(server.url + "/webhook", data=body, headers=headers) as response,
    ):
        return response.status, await response.json()


async def _deliver(server: ServeProcess, s: PullScenario) -> None:
    status, answer = await _post(server, *s.delivery())
    assert status == 202, answer


async def _finished(s: PullScenario, within: float = 60) -> dict[str, Any]:
    """The PR head's check run once it is completed (fails if it never is)."""
    await wait_for(lambda: any(r["status"] == "completed" for r in s.check_runs()), within=within)
    (run,) = s.check_runs()
    assert run["conclusion"] and run["output"]["title"] and run["output"]["summary"]
    return run


# ----- base-branch config ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        (ALIAS_BOMB, "aliases counted in full"),
        ("[" * 5000, "nested deeper than"),
        ("&a [*a]", "unfinished or unknown anchor"),
        ("max_comments: " + "9" * 60_000, "not valid YAML: Exceeds the limit"),
        ("max_comments: '" + "9" * 60_000 + "'", "max_comments: Unable to parse input string"),
    ],
    ids=["alias-bomb", "5000-brackets", "recursive-alias", "huge-integer", "huge-string"],
)
async def test_hostile_config_reviews_with_defaults_and_says_why(
    fake_github: FakeGitHub, server: ServeProcess, config: str, problem: str
) -> None:
    s = pull_scenario(fake_github, config=config)
    await _deliver(server, s)
    run = await _finished(s)
    summary = run["output"]["summary"]
    assert problem in summary and len(summary) < 4000, summary[:500]
    assert len(s.reviews) == 1


async def test_config_over_a_megabyte_reviews_with_defaults_and_says_why(
    fake_github: FakeGitHub, server: ServeProcess
) -> None:
    big = "# padding\n" * (CONTENTS_INLINE_LIMIT // 10 + 10)
    s = pull_scenario(fake_github, config=big)
    await _deliver(server, s)
    run = await _finished(s)
    size = len(big.encode())
    assert f"file is {size} bytes; at most {MAX_CONFIG_BYTES}" in run["output"]["summary"]
    assert len(s.reviews) == 1 and run["conclusion"] != "failure"


# ----- a job that keeps killing its worker --------------------------------------------------


async def test_a_job_that_kept_killing_its_worker_fails_visibly_and_others_go_on(
    fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    other = pull_scenario(fake_github, files={**example_files(), "NOTES.md": b"other\n"})
    other.number += 1
    other.event["number"] = other.event["pull_request"]["number"] = other.number
    fake_github.add_pull(
        other.repo,
        other.number,
        diff=example_diff(),
        head_sha=other.head_sha,
        base_sha=other.base_sha,
    )
    poison = pull_scenario(fake_github)
    # Leave the queue as servers that died mid-job left it: claimed, and its lease run out,
    # once per attempt but the last.
    max_attempts = Settings().max_attempts
    queue = JobQueue(open_db(str(tmp_path / "prwarden.db")), clock=lambda: clock[0])
    clock = [time.time() - 10_000]
    queue.enqueue(
        "review",
        installation_id=int(poison.event["installation"]["id"]),
        repo=poison.repo,
        pr_number=poison.number,
        head_sha=poison.head_sha,
        payload={"action": "opened"},
    )
    for attempt in range(max_attempts):
        job = queue.claim(f"died-{attempt}", 1.0)
        assert job is not None and job.attempts == attempt
        clock[0] += 10
    serve = ServeProcess(tmp_path, api_url=fake_github.base_url, private_key=app_private_key)
    await asyncio.to_thread(serve.start)
    try:
        await _deliver(serve, other)
        run = await _finished(poison)
        assert run["conclusion"] == "failure"
        assert f"stopped after {max_attempts} attempts" in run["output"]["summary"]
        assert poison.reviews == []
        await _finished(other)
        assert len(other.reviews) == 1
    finally:
        serve.stop()


# ----- the head tarball ---------------------------------------------------------------------


def _tar(members: list[tuple[tarfile.TarInfo, bytes]], prefix: str = "octo-repo-abc") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        top = tarfile.TarInfo(prefix)
        top.type = tarfile.DIRTYPE
        tar.addfile(top)
        for info, data in members:
            info.name = f"{prefix}/{info.name}"
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buf.getvalue()


def _file(name: str, data: bytes = b"x = 1\n") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _with_example(*extra: tuple[tarfile.TarInfo, bytes]) -> bytes:
    return _tar([*(_file(p, d) for p, d in example_files().items()), *extra])


def _raw_extended_header(size_field: int, data_stream: bytes, files: bytes) -> bytes:
    """A gzip tar: one pax ``x`` header claiming ``size_field`` bytes, then ``files``' tar."""
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = size_field
    raw = header.tobuf(format=tarfile.USTAR_FORMAT)
    inner = gzip.decompress(files)
    return gzip.compress(raw + data_stream + inner, compresslevel=1)


TARBALLS = {
    "2100-nested-dirs": lambda: _with_example(_file("d/" * 2100 + "deep.py")),
    "300-char-name": lambda: _with_example(_file("n" * 300 + ".py")),
    "file-dir-clash": lambda: _with_example(_file("shop"), _file("lib"), _file("lib/x.py")),
}


@pytest.mark.parametrize("case", list(TARBALLS))
async def test_paths_a_file_system_refuses_are_skipped_and_the_review_goes_on(
    fake_github: FakeGitHub, server: ServeProcess, case: str
) -> None:
    s = pull_scenario(fake_github)
    fake_github.set_tarball(s.repo, s.head_sha, TARBALLS[case]())
    await _deliver(server, s)
    run = await _finished(s)
    assert run["conclusion"] != "failure", run["output"]
    assert len(s.reviews) == 1


def _pax_bomb(size: int, fill: bytes) -> bytes:
    padded = -(-size // 512) * 512
    return _raw_extended_header(size, fill * size + b"\0" * (padded - size), _with_example())


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: _pax_bomb(32 * 1024 * 1024, b"\0"), "extended header"),
        (lambda: _pax_bomb(100 * 1024, b"1"), "extended header"),
        (lambda: _pax_bomb(60 * 1024, b"7"), "run of more than"),
    ],
    ids=["32-MiB-pax", "100-KB-digits-pax", "60-KB-digits-pax"],
)
async def test_oversized_or_digit_stuffed_pax_headers_are_refused_before_tarfile_reads_them(
    fake_github: FakeGitHub, server: ServeProcess, make: Any, reason: str
) -> None:
    s = pull_scenario(fake_github)
    fake_github.set_tarball(s.repo, s.head_sha, make())
    await _deliver(server, s)
    run = await _finished(s, within=30)
    assert run["conclusion"] == "failure" and reason in run["output"]["summary"]


# ----- odd deliveries -----------------------------------------------------------------------


async def test_a_signed_body_nested_100000_deep_is_a_400(server: ServeProcess) -> None:
    body = b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    status, answer = await _post(server, body, delivery_headers("pull_request", body))
    assert status == 400 and "nests too deeply" in answer["error"]


@pytest.mark.parametrize("name", ["no-slash", "a/b/c", "own er/x", "../x", "owner/.."])
async def test_an_impossible_repository_name_is_a_400_and_queues_nothing(
    fake_github: FakeGitHub, server: ServeProcess, name: str
) -> None:
    s = pull_scenario(fake_github)
    s.event["repository"]["full_name"] = name
    status, answer = await _post(server, *s.delivery())
    assert status == 400 and "repository.full_name" in answer["error"]
    async with aiohttp.ClientSession() as session, session.get(server.url + "/healthz") as r:
        assert (await r.json())["queue"]["queued"] == 0


async def test_findings_page_with_an_unknown_state_is_a_400(server: ServeProcess) -> None:
    headers = {"Authorization": f"Bearer {ADMIN}", "Accept": "application/json"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(server.url + "/findings", params={"state": "bogus"}) as r:
            assert r.status == 400 and "pending" in (await r.json())["error"]
        async with session.get(server.url + "/findings", params={"state": "all"}) as r:
            assert r.status == 200 and json.loads(await r.text()) == []
