"""Workspaces: the head commit of a PR, downloaded as a tarball and extracted safely, per SHA.

Layout under ``root``::

    <owner>__<repo>/<sha>/            the extracted tree (what tools see)
    <owner>__<repo>/<sha>.complete    written last; a workspace without it is not used
    .downloads/                       archives while they download and extract

Concurrent fetches of one SHA share a single download. The cache is bounded: after each
review (``release``) and at start-up, ``trim`` removes workspaces unused for longer than
``max_age`` seconds, then the least recently used ones until the rest fit in ``cache_bytes``.
A workspace a running job holds is never removed; ``prune(keep)`` keeps a number instead.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass
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
        cache_bytes: int = 0,
        max_age: float = 0.0,
        clock: Callable[[], float] = time.time,
    ):
        self.root = root
        self.max_bytes = max_bytes
        self.max_members = max_members
        self.cache_bytes = cache_bytes
        self.max_age = max_age
        self.clock = clock
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        # which workspaces each holder (a job) is using; guarded by _held_lock, which trim
        # also takes, so a workspace is never removed between being found and being held
        self._held: dict[Hashable, set[Path]] = {}
        self._held_lock = threading.Lock()

    def path_for(self, repo: str, sha: str) -> Path:
        """Where the workspace of ``repo`` at ``sha`` lives (whether or not it exists yet)."""
        owner, name = split_repo(repo)
        if not _SHA_RE.fullmatch(sha):
            raise ValueError(f"not a full commit SHA: {sha[:80]!r}")
        return self.root / f"{owner}__{name}" / sha

    def is_ready(self, repo: str, sha: str) -> bool:
        path = self.path_for(repo, sha)
        return _marker(path).is_file() and path.is_dir()

    async def fetch(
        self, client: GitHubClient, repo: str, sha: str, *, holder: Hashable | None = None
    ) -> Path:
        """The extracted tree of ``repo`` at ``sha``, downloading it at most once.

        With a ``holder``, the workspace is kept until ``release(holder)``.
        """
        path = self.path_for(repo, sha)
        if holder is not None:
            with self._held_lock:
                self._held.setdefault(holder, set()).add(path)
        lock = self._locks.setdefault((repo, sha), asyncio.Lock())
        async with lock:
            with self._held_lock:
                ready = self.is_ready(repo, sha)
                if ready:
                    _used(_marker(path), self.clock())
            if ready:
                return path
            await self._download_and_extract(client, repo, sha, path)
            return path

    async def release(self, holder: Hashable) -> list[Path]:
        """``holder`` is done with its workspaces; trim the cache. Returns what was removed."""
        with self._held_lock:
            self._held.pop(holder, None)
        return await asyncio.to_thread(self.trim)

    def trim(self) -> list[Path]:
        """Remove what is past ``max_age``, then the least recently used past ``cache_bytes``."""
        if not self.cache_bytes and not self.max_age:
            return []
        now = self.clock()
        with self._held_lock:
            held = set().union(*self._held.values())
        # what jobs hold stays, and takes its room first; then the most recently used
        entries = sorted(self._entries(), key=lambda e: (e.path not in held, -e.used))
        victims: list[_Entry] = []
        total = 0
        for entry in entries:
            too_old = bool(self.max_age) and now - entry.used > self.max_age
            too_big = bool(self.cache_bytes) and total + entry.size > self.cache_bytes
            if entry.path not in held and (too_old or too_big):
                victims.append(entry)
            else:
                total += entry.size
        return [path for path in map(self._remove, victims) if path is not None]

    def _entries(self) -> list[_Entry]:
        out = []
        for marker in self.root.glob(f"*/*{_MARKER}"):
            try:
                used = marker.stat().st_mtime
                text = marker.read_text().strip()
            except OSError:
                continue
            workspace = marker.with_name(marker.name.removesuffix(_MARKER))
            size = int(text) if text.isdigit() else _tree_size(workspace)
            out.append(_Entry(workspace, marker, used, size))
        return out

    def _remove(self, entry: _Entry) -> Path | None:
        """Take a workspace out of the cache unless a job holds it; delete it afterwards."""
        trash = self.root / ".downloads" / f"trash-{uuid.uuid4().hex}"
        with self._held_lock:
            if any(entry.path in paths for paths in self._held.values()):
                return None
            entry.marker.unlink(missing_ok=True)
            try:
                trash.parent.mkdir(parents=True, exist_ok=True)
                entry.path.replace(trash)
            except OSError:
                return None
        shutil.rmtree(trash, ignore_errors=True)
        return entry.path

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
            await asyncio.to_thread(_install, staging, path, self.clock())
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


@dataclass(frozen=True, slots=True)
class _Entry:
    path: Path
    marker: Path
    used: float
    size: int


def _tree_size(path: Path) -> int:
    total = 0
    for item in path.rglob("*"):
        try:
            if item.is_file() and not item.is_symlink():
                total += item.stat().st_size
        except OSError:
            continue
    return total


def _marker(path: Path) -> Path:
    return path.with_name(path.name + _MARKER)


def _used(marker: Path, now: float) -> None:
    """Stamp a workspace as used now (by the cache's clock: its age is measured with it)."""
    os.utime(marker, (now, now))


def _install(staging: Path, path: Path, now: float) -> None:
    """Move a finished extraction into place, then mark it complete."""
    staging.mkdir(parents=True, exist_ok=True)
    if path.exists():
        shutil.rmtree(path)
    size = _tree_size(staging)
    staging.replace(path)
    _marker(path).write_text(str(size))
    _used(_marker(path), now)
