"""A real webhook in, one correct review out: the app against the fake GitHub over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.app import POOL
from bot.handlers import router
from review.diff import parse_diff
from tests.fakes.github import FakeGitHub
from tests.reviewing import completed, idle, serve
from tests.scenario import PullScenario, example_files, pull_scenario, wait_for

ROOT = Path(__file__).resolve().parents[1]


def assert_review_valid(s: PullScenario) -> None:
    """One review, every inline comment on a line of the diff, a completed check run."""
    assert len(s.reviews) == 1
    diff = parse_diff(s.gh.pulls[(s.repo, s.number)].diff_text)
    for comment in s.comments:
        f = diff.file(comment["path"])
        assert f is not None and f.commentable(comment["line"]), comment
    runs = s.check_runs()
    assert len(runs) == 1 and runs[0]["status"] == "completed", runs
    assert s.gh.invalid_requests == [], [r.errors for r in s.gh.invalid_requests]


async def test_opened_pr_gets_one_static_review(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    s = pull_scenario(fake_github)
    client = await serve(aiohttp_client, fake_github, app_private_key, tmp_path)
    body, headers = s.delivery()
    response = await client.post("/webhook", data=body, headers=headers)
    assert response.status == 202
    await wait_for(lambda: idle(client) and completed(s) is not None)
    assert_review_valid(s)
    review = s.reviews[0]
    assert review["state"] == "COMMENTED"
    assert "no model" in review["body"].lower()
    titles = " ".join(c["body"] for c in s.comments)
    assert "F821" in titles and "B006" in titles
    run = s.check_runs()[0]
    assert run["conclusion"] == "success"
    assert "static" in run["output"]["title"].lower()


async def test_redelivery_after_review_posts_nothing_new(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    s = pull_scenario(fake_github)
    client = await serve(aiohttp_client, fake_github, app_private_key, tmp_path)
    body, headers = s.delivery(delivery="same-delivery")
    await client.post("/webhook", data=body, headers=headers)
    await wait_for(lambda: idle(client) and len(s.reviews) == 1)
    reopened_body, reopened_headers = s.delivery(action="reopened")
    response = await client.post("/webhook", data=reopened_body, headers=reopened_headers)
    assert response.status == 202
    await wait_for(lambda: idle(client))
    assert_review_valid(s)


async def test_second_push_while_first_runs_leaves_only_newer_sha_reviewed(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    s = pull_scenario(fake_github)
    fake_github.delay = 0.05  # every GitHub call is slow: the first review is still running
    client = await serve(aiohttp_client, fake_github, app_private_key, tmp_path)
    body, headers = s.delivery()
    await client.post("/webhook", data=body, headers=headers)
    await wait_for(lambda: bool(client.app[POOL].running))
    files = example_files()
    files["shop/extra.py"] = b"import sys\n"
    diff = s.gh.pulls[(s.repo, s.number)].diff_text + (
        "diff --git a/shop/extra.py b/shop/extra.py\nnew file mode 100644\n"
        "index 0000000..1111111\n--- /dev/null\n+++ b/shop/extra.py\n@@ -0,0 +1 @@\n"
        "+import sys\n"
    )
    newer = s.push(files, diff)
    body, headers = s.delivery(action="synchronize", head_sha=newer)
    assert (await client.post("/webhook", data=body, headers=headers)).status == 202
    await wait_for(
        lambda: idle(client) and completed(s, newer) is not None,
        within=60,
    )
    reviewed = {r["commit_id"] for r in s.reviews}
    assert reviewed == {newer}
    assert s.gh.invalid_requests == []


def test_app_manifest_matches_what_the_code_handles_and_uses() -> None:
    manifest = yaml.safe_load((ROOT / "app.yml").read_text())
    handled = set(router._shallow_routes) | set(router._deep_routes)
    implicit = {"installation", "installation_repositories", "ping"}
    assert set(manifest["default_events"]) == handled - implicit
    assert manifest["hook_attributes"]["url"]
    assert manifest["name"] and manifest["url"]
    wanted = manifest["default_permissions"]
    assert wanted == {
        "pull_requests": "write",
        "checks": "write",
        "contents": "read",
        "issues": "read",
        "metadata": "read",
    }


# Each GitHub operation the bot calls, and the App permission it needs (GitHub's docs).
OPERATION_PERMISSIONS = {
    "apps/create-installation-access-token": None,
    "pulls/get": "pull_requests",
    "pulls/list-files": "pull_requests",
    "pulls/list-commits": "pull_requests",
    "pulls/list-reviews": "pull_requests",
    "pulls/create-review": "pull_requests",
    "pulls/list-review-comments": "pull_requests",
    "pulls/create-review-comment": "pull_requests",
    "reactions/list-for-pull-request-review-comment": "pull_requests",
    "issues/create-comment": "pull_requests",
    "issues/list-comments": "pull_requests",
    "issues/update-comment": "pull_requests",
    "reactions/create-for-issue-comment": "pull_requests",
    "repos/list-pull-requests-associated-with-commit": "pull_requests",
    "checks/create": "checks",
    "checks/update": "checks",
    "checks/list-for-ref": "checks",
    "repos/get-content": "contents",
    "repos/download-tarball-archive": "contents",
    "repos/compare-commits": "contents",
    "repos/get-collaborator-permission-level": "metadata",
}


async def test_every_permission_asked_for_is_used(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    s = pull_scenario(fake_github)
    client = await serve(aiohttp_client, fake_github, app_private_key, tmp_path)
    body, headers = s.delivery()
    await client.post("/webhook", data=body, headers=headers)
    await wait_for(lambda: idle(client) and len(s.reviews) == 1)
    used = {r.operation_id for r in fake_github.requests}
    unknown = used - set(OPERATION_PERMISSIONS)
    assert not unknown, f"operations without a known permission: {unknown}"
    needed = {OPERATION_PERMISSIONS[op] for op in used} - {None}
    manifest = yaml.safe_load((ROOT / "app.yml").read_text())
    # issues: read is what delivers issue_comment events (slash commands); metadata always.
    assert needed <= set(manifest["default_permissions"])
    assert set(manifest["default_permissions"]) - needed <= {"issues", "metadata"}


@pytest.mark.parametrize("config", ["enabled: false\n"])
async def test_disabled_by_repo_config(
    aiohttp_client: Any,
    fake_github: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    config: str,
) -> None:
    s = pull_scenario(fake_github, config=config)
    client = await serve(aiohttp_client, fake_github, app_private_key, tmp_path)
    body, headers = s.delivery()
    await client.post("/webhook", data=body, headers=headers)
    await wait_for(lambda: idle(client) and completed(s) is not None)
    assert s.reviews == []
    assert s.check_runs()[0]["conclusion"] == "neutral"
