"""The real app wired to the fake GitHub (and the scripted model of ``testkit.reviewer``).

``serve`` runs the app on a real SQLite file; ``deliver``, ``idle``, ``completed`` and ``runs``
drive it and read what it did; ``another_pull`` scripts a second PR beside a scenario's.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from bot.app import make_app
from bot.config import Limits
from bot.context import CTX
from cache.db import open_db
from cache.store import Store
from review.settings import ReviewSettings
from testkit.fakes.github import FakeGitHub
from tests.helpers import make_settings
from tests.scenario import PullScenario, example_diff, example_files

# A model finding on the bundled example (shop/db.py), specific enough to pass the filters.
FINDING = {
    "path": "shop/db.py",
    "line": 23,
    "start_line": None,
    "severity": "medium",
    "category": "correctness",
    "title": "total_spent returns None when the query fails",
    "body": "`except Exception: pass` makes `total_spent` return `None` instead of a float; "
    "callers that add it up crash later with a TypeError far from the cause.",
    "suggestion": "        raise",
}


async def serve(
    aiohttp_client: Any,
    gh: FakeGitHub,
    key: str,
    tmp_path: Path,
    *,
    review: ReviewSettings | None = None,
    limits: Limits | None = None,
    clock: Callable[[], float] | None = None,
    db: Store | None = None,
    **overrides: Any,
) -> TestClient[Any, Any]:
    """The real app on a real SQLite file (or ``db``), talking to the fake GitHub (and model)."""
    settings = make_settings(
        key,
        api_url=gh.base_url,
        workspaces=tmp_path / "ws",
        review=review,
        limits=limits,
        **overrides,
    )
    db = open_db(tmp_path / "prwarden.db") if db is None else db
    app = make_app(settings, db=db) if clock is None else make_app(settings, db=db, clock=clock)
    client: TestClient[Any, Any] = await aiohttp_client(app)
    return client


def idle(client: TestClient[Any, Any]) -> bool:
    """No job waits or runs in the app's queue."""
    depth = client.app[CTX].queue.depth()
    return not (depth["queued"] or depth["running"])


async def deliver(client: TestClient[Any, Any], s: PullScenario, **kwargs: Any) -> None:
    """Send the scenario's signed ``pull_request`` delivery; the app must accept it."""
    body, headers = s.delivery(**kwargs)
    response = await client.post("/webhook", data=body, headers=headers)
    assert response.status == 202, await response.text()


def completed(s: PullScenario, sha: str | None = None) -> dict[str, Any] | None:
    """The newest completed check run on ``sha`` (the PR's head by default), if there is one."""
    done = [r for r in s.check_runs(sha) if r["status"] == "completed"]
    return max(done, key=lambda r: r["id"]) if done else None


def llm_calls(client: TestClient[Any, Any]) -> int:
    return int(client.app[CTX].db.read("SELECT COUNT(*) FROM llm_calls")[0][0])


def runs(client: TestClient[Any, Any]) -> list[dict[str, Any]]:
    """Every recorded review run, oldest first, as plain dicts."""
    rows = client.app[CTX].db.read("SELECT * FROM review_runs ORDER BY id")
    return [dict(zip(row.keys(), row, strict=True)) for row in rows]


def another_pull(
    s: PullScenario,
    number: int,
    *,
    diff: str | None = None,
    repo: str | None = None,
    installation: int | None = None,
) -> PullScenario:
    """A second PR on the fake GitHub, like ``s`` (same files) but with its own head commit."""
    repo = repo or s.repo
    files = {**example_files(), "NUMBER": str(number).encode()}
    head = s.gh.add_commit(repo, files)
    base = s.gh.add_commit(repo, {"README.md": b"base\n"}, branch="main")
    s.gh.add_pull(
        repo,
        number,
        diff=diff if diff is not None else example_diff(),
        head_sha=head,
        base_sha=base,
        head_ref=f"branch-{number}",
    )
    event = copy.deepcopy(s.event)
    event["number"] = event["pull_request"]["number"] = number
    event["pull_request"]["head"]["ref"] = f"branch-{number}"
    event["pull_request"]["head"]["sha"] = head
    event["pull_request"]["base"]["sha"] = base
    event["repository"]["full_name"] = repo
    event["installation"]["id"] = installation or event["installation"]["id"]
    return PullScenario(s.gh, repo, number, head, base, event)
