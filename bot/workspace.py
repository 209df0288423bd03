"""Workspaces: the head commit of a PR, downloaded as a tarball and extracted safely, per SHA.

Layout under ``root``::

    <owner>__<repo>/<sha>/            the extracted tree (what tools see)
    <owner>__<repo>/<sha>.complete    written last; a workspace without it is not used
    .downloads/                       archives while they download and extract

Concurrent fetches of one SHA share a single download. ``prune(keep)`` removes the
least recently used workspaces.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import uuid
from pathlib import Path

from bot.github import GitHubClient, split_repo
from security.jail import safe_extract_tar

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
DEFAULT_MAX_MEMBERS = 50_000
_SHA_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_MARKER = ".complete"


class Workspaces:
    """A cache of extracted head commits, one directory per repository and SHA."""

    def __init__(
        self,
        root: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_members: int = DEFAULT_MAX_MEMBERS,
    ):
        self.root = root
        self.max_bytes = max_bytes
        self.max_members = max_members
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def path_for(self, repo: str, sha: str) -> Path:
        """Where the workspace of ``repo`` at ``sha`` lives (whether or not it exists yet)."""
        owner, name = split_repo(repo)
        if not _SHA_RE.fullmatch(sha):
            raise ValueError(f"not a full commit SHA: {sha[:80]!r}")
        return self.root / f"{owner}__{name}" / sha

    def is_ready(self, repo: str, sha: str) -> bool:
        path = self.path_for(repo, sha)
        return _marker(path).is_file() and path.is_dir()

    async def fetch(self, client: GitHubClient, repo: str, sha: str) -> Path:
        """The extracted tree of ``repo`` at ``sha``, downloading it at most once."""
        path = self.path_for(repo, sha)
        lock = self._locks.setdefault((repo, sha), asyncio.Lock())
        async with lock:
            if self.is_ready(repo, sha):
                _marker(path).touch()
                return path
            await self._download_and_extract(client, repo, sha, path)
            return path

    async def _download_and_extract(
        self, client: GitHubClient, repo: str, sha: str, path: Path
    ) -> None:
        downloads = self.root / ".downloads"
        downloads.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex
        archive = downloads / f"{path.parent.name}-{sha}-{token}.tar.gz"
        staging = path.parent / f".{sha}.{token}.tmp"
        try:
            await client.download_tarball(repo, sha, archive, max_bytes=self.max_bytes)
            await asyncio.to_thread(
                safe_extract_tar,
                archive,
                staging,
                max_bytes=self.max_bytes,
                max_members=self.max_members,
                strip_top_dir=True,
            )
            await asyncio.to_thread(_install, staging, path)
        finally:
            archive.unlink(missing_ok=True)
            await asyncio.to_thread(shutil.rmtree, staging, True)

    def prune(self, keep: int) -> list[Path]:
        """Remove all but the ``keep`` most recently used workspaces; return what was removed."""
        if keep < 0:
            raise ValueError("keep must not be negative")
        markers = [m for m in self.root.glob(f"*/*{_MARKER}") if m.is_file()]
        markers.sort(key=lambda m: m.stat().st_mtime_ns, reverse=True)
        removed: list[Path] = []
        for marker in markers[keep:]:
            workspace = marker.with_name(marker.name.removesuffix(_MARKER))
            marker.unlink(missing_ok=True)
            shutil.rmtree(workspace, ignore_errors=True)
            removed.append(workspace)
        return removed


def _marker(path: Path) -> Path:
    return path.with_name(path.name + _MARKER)


def _install(staging: Path, path: Path) -> None:
    """Move a finished extraction into place, then mark it complete."""
    staging.mkdir(parents=True, exist_ok=True)
    if path.exists():
        shutil.rmtree(path)
    staging.replace(path)
    _marker(path).touch()
