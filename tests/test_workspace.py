"""Workspaces: fetched once per SHA, extracted through the jail, pruned oldest first."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.github import GitHubApp, GitHubClient, RetryPolicy
from bot.workspace import Workspaces
from prwarden.errors import GitHubError, JailError
from testkit.fakes.github import FakeGitHub
from tests.conftest import APP_ID

REPO = "octo/hello"
FAST = RetryPolicy(attempts=2, initial_wait=0.0, max_wait=0.01, jitter=0.0, request_timeout=5.0)


@pytest.fixture
async def client(fake_github: FakeGitHub, app_private_key: str) -> AsyncIterator[GitHubClient]:
    async with aiohttp.ClientSession() as session:
        app = GitHubApp(
            session,
            app_id=APP_ID,
            private_key=app_private_key,
            base_url=fake_github.base_url,
            retry=FAST,
        )
        yield await app.installation(1)
    assert fake_github.invalid_requests == []


async def test_fetch_extracts_the_tree_without_the_top_directory(
    client: GitHubClient, fake_github: FakeGitHub, tmp_path: Path
) -> None:
    sha = fake_github.add_commit(REPO, {"README.md": "hi\n", "src/pkg/a.py": "x = 1\n"})
    workspaces = Workspaces(tmp_path)
    path = await workspaces.fetch(client, REPO, sha)
    assert path == tmp_path / "octo__hello" / sha
    assert (path / "src/pkg/a.py").read_text() == "x = 1\n"
    assert sorted(p.name for p in path.iterdir()) == ["README.md", "src"]
    assert workspaces.is_ready(REPO, sha)
    assert list((tmp_path / ".downloads").iterdir()) == []


async def test_concurrent_fetches_share_one_download(
    client: GitHubClient, fake_github: FakeGitHub, tmp_path: Path
) -> None:
    sha = fake_github.add_commit(REPO, {"a.py": "a = 1\n"})
    workspaces = Workspaces(tmp_path)
    paths = await asyncio.gather(*(workspaces.fetch(client, REPO, sha) for _ in range(5)))
    assert len(set(paths)) == 1
    await workspaces.fetch(client, REPO, sha)
    assert len(fake_github.requests_for("repos/download-tarball-archive")) == 1
    assert len(fake_github.downloads) == 1


async def test_hostile_archive_is_refused_and_leaves_nothing(
    client: GitHubClient, fake_github: FakeGitHub, tmp_path: Path
) -> None:
    sha = fake_github.add_commit(REPO, {"a.py": "a = 1\n"})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in ("octo-hello-abc/", "octo-hello-abc/../../escape.txt"):
            info = tarfile.TarInfo(name)
            if name.endswith("/"):
                info.type = tarfile.DIRTYPE
            else:
                info.size = 3
            tar.addfile(info, io.BytesIO(b"bad") if info.size else None)
    fake_github.set_tarball(REPO, sha, buf.getvalue())
    workspaces = Workspaces(tmp_path / "ws")
    with pytest.raises(JailError):
        await workspaces.fetch(client, REPO, sha)
    assert not workspaces.is_ready(REPO, sha)
    assert not (tmp_path / "escape.txt").exists()
    leftovers = [p for p in (tmp_path / "ws").rglob("*") if p.is_file()]
    assert leftovers == []


async def test_archive_over_the_cap_is_refused(
    client: GitHubClient, fake_github: FakeGitHub, tmp_path: Path
) -> None:
    sha = fake_github.add_commit(REPO, {"big.bin": os.urandom(20_000)})
    workspaces = Workspaces(tmp_path, max_bytes=5_000)
    with pytest.raises(GitHubError, match="limit"):
        await workspaces.fetch(client, REPO, sha)
    assert not workspaces.is_ready(REPO, sha)


async def test_unknown_sha_is_a_404(
    client: GitHubClient, fake_github: FakeGitHub, tmp_path: Path
) -> None:
    fake_github.add_repo(REPO)
    with pytest.raises(GitHubError) as info:
        await Workspaces(tmp_path).fetch(client, REPO, "f" * 40)
    assert info.value.status_code == 404


async def test_bad_repo_or_sha_is_refused_before_any_request(
    client: GitHubClient, fake_github: FakeGitHub, tmp_path: Path
) -> None:
    workspaces = Workspaces(tmp_path)
    with pytest.raises(ValueError, match="SHA"):
        await workspaces.fetch(client, REPO, "../../etc")
    with pytest.raises(ValueError, match="owner/name"):
        await workspaces.fetch(client, "octo/..", "a" * 40)
    assert fake_github.requests_for("repos/download-tarball-archive") == []


async def test_prune_keeps_the_most_recently_used(
    client: GitHubClient, fake_github: FakeGitHub, tmp_path: Path
) -> None:
    workspaces = Workspaces(tmp_path)
    shas = [fake_github.add_commit(REPO, {"n.txt": str(i)}) for i in range(3)]
    for sha in shas:
        await workspaces.fetch(client, REPO, sha)
    for age, sha in enumerate(shas):
        marker = tmp_path / "octo__hello" / f"{sha}.complete"
        os.utime(marker, ns=(1_000_000_000 * (age + 1),) * 2)
    await workspaces.fetch(client, REPO, shas[0])  # a cache hit counts as use
    removed = workspaces.prune(keep=2)
    assert removed == [tmp_path / "octo__hello" / shas[1]]
    assert not (tmp_path / "octo__hello" / shas[1]).exists()
    assert workspaces.is_ready(REPO, shas[0]) and workspaces.is_ready(REPO, shas[2])
    assert workspaces.prune(keep=0) and not any(workspaces.is_ready(REPO, s) for s in shas)
    with pytest.raises(ValueError):
        workspaces.prune(keep=-1)
