"""Publishing against GitHub's refusals: bad config, a 422 on an anchor, a hostile tarball."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

from tests.fakes.github import FakeGitHub
from tests.reviewing import completed, idle, runs, serve
from tests.scenario import pull_scenario, wait_for


async def test_bad_config_is_reported_on_the_check_run_and_the_review_still_runs(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    config = "severity_threshold: loud\nmax_comments: 3\ncolour: blue\n"
    s = pull_scenario(fake_github, config=config)
    client = await serve(aiohttp_client, fake_github, app_private_key, tmp_path)
    body, headers = s.delivery()
    await client.post("/webhook", data=body, headers=headers)
    await wait_for(lambda: idle(client) and completed(s) is not None)
    summary = s.check_runs()[0]["output"]["summary"]
    assert "severity_threshold" in summary and "loud" in summary
    assert "colour" in summary and "unknown key" in summary
    assert len(s.reviews) == 1 and s.comments
    assert len(s.comments) <= 3  # the valid key still applies
    assert runs(client)[0]["config_errors"].count("prwarden.yml") == 2


async def test_a_422_on_an_anchor_retries_without_losing_the_review(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    s = pull_scenario(fake_github)
    fake_github.fail_next(
        "POST",
        r"/pulls/\d+/reviews$",
        422,
        times=1,
        body={
            "message": "Unprocessable Entity",
            "errors": ["Line could not be resolved"],
            "documentation_url": "https://docs.github.com/rest",
            "status": "422",
        },
    )
    client = await serve(aiohttp_client, fake_github, app_private_key, tmp_path)
    body, headers = s.delivery()
    await client.post("/webhook", data=body, headers=headers)
    await wait_for(lambda: idle(client) and completed(s) is not None)
    assert len(s.reviews) == 1
    assert s.comments
    assert s.check_runs()[0]["conclusion"] == "success"
    posts = [r for r in fake_github.requests if r.method == "POST" and r.path.endswith("/reviews")]
    assert len(posts) == 2


def _hostile_tarball(prefix: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo(f"{prefix}/shop/ok.py")
        data = b"x = 1\n"
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo(f"{prefix}/shop/passwd")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
        escape = tarfile.TarInfo(f"{prefix}/../../escaped.py")
        escape.size = len(data)
        tar.addfile(escape, io.BytesIO(data))
    return buffer.getvalue()


def _found(root: Path, name: str) -> list[Path]:
    return list(root.parent.rglob(name))


async def test_a_hostile_tarball_fails_the_job_visibly_and_writes_nothing_outside(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    s = pull_scenario(fake_github)
    fake_github.set_tarball(s.repo, s.head_sha, _hostile_tarball("o-r-" + s.head_sha[:7]))
    client = await serve(aiohttp_client, fake_github, app_private_key, tmp_path)
    body, headers = s.delivery()
    await client.post("/webhook", data=body, headers=headers)
    await wait_for(lambda: idle(client) and completed(s) is not None)
    run = s.check_runs()[0]
    assert run["conclusion"] == "failure"
    assert "outside" in run["output"]["summary"] or "escape" in run["output"]["summary"]
    assert s.reviews == []
    assert not _found(tmp_path, "escaped.py")
