"""A pull request scripted on the fake GitHub: the bundled example as a real PR.

The webhook payload is GitHub's own ``pull_request.opened`` example from the corpus; the fake
GitHub serves the example repository's files as the head tarball and its diff as the PR's diff.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fakes.github import FakeGitHub
from tests.helpers import delivery_headers, payload

EXAMPLE = Path(__file__).resolve().parents[1] / "examples"


def example_files() -> dict[str, bytes]:
    root = EXAMPLE / "shop"
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def example_diff() -> str:
    return (EXAMPLE / "shop.diff").read_text()


@dataclass
class PullScenario:
    gh: FakeGitHub
    repo: str
    number: int
    head_sha: str
    base_sha: str
    event: dict[str, Any]

    def delivery(
        self, *, action: str = "opened", head_sha: str | None = None, delivery: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        data = copy.deepcopy(self.event)
        data["action"] = action
        if head_sha is not None:
            data["pull_request"]["head"]["sha"] = head_sha
        body = json.dumps(data).encode()
        return body, delivery_headers("pull_request", body, delivery=delivery)

    def push(self, files: dict[str, bytes], diff: str) -> str:
        """A new head commit on the PR (a ``synchronize``); returns its SHA."""
        sha = self.gh.add_commit(self.repo, files)
        self.gh.add_pull(
            self.repo,
            self.number,
            diff=diff,
            head_sha=sha,
            base_sha=self.base_sha,
            title=self.event["pull_request"]["title"],
        )
        return sha

    @property
    def reviews(self) -> list[dict[str, Any]]:
        return self.gh.reviews_on(self.repo, self.number)

    @property
    def comments(self) -> list[dict[str, Any]]:
        return self.gh.comments_on(self.repo, self.number)

    def check_runs(self, head_sha: str | None = None) -> list[dict[str, Any]]:
        sha = head_sha or self.head_sha
        return [r for r in self.gh.check_runs.values() if r.get("head_sha") == sha]


def pull_scenario(
    gh: FakeGitHub,
    *,
    files: dict[str, bytes] | None = None,
    diff: str | None = None,
    config: str | None = None,
    title: str | None = None,
    body: str | None = None,
) -> PullScenario:
    event = payload("pull_request.opened.2")
    repo = event["repository"]["full_name"]
    number = int(event["number"])
    base_files: dict[str, bytes] = {}
    if config is not None:
        base_files[".github/prwarden.yml"] = config.encode()
    base_sha = gh.add_commit(repo, base_files or {"README.md": b"base\n"}, branch="main")
    head_sha = gh.add_commit(repo, files if files is not None else example_files())
    event["pull_request"]["head"]["sha"] = head_sha
    event["pull_request"]["base"]["sha"] = base_sha
    if title is not None:
        event["pull_request"]["title"] = title
    gh.add_pull(
        repo,
        number,
        diff=diff if diff is not None else example_diff(),
        head_sha=head_sha,
        base_sha=base_sha,
        title=event["pull_request"]["title"],
        body=body,
    )
    return PullScenario(gh, repo, number, head_sha, base_sha, event)


def queue_idle(db_path: Path) -> bool:
    """No job waits or runs in the store at ``db_path``: nothing more can be posted."""
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        (busy,) = db.execute(
            "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')"
        ).fetchone()
    return int(busy) == 0


class ManualClock:
    """Epoch seconds that move only when the test moves them (``make_app(clock=...)``)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def wait_for(
    condition: Callable[[], bool], *, within: float = 30.0, interval: float = 0.05
) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(interval)
