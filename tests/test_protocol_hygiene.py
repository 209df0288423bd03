"""What prwarden sends GitHub: a pinned API version, non-deprecated GraphQL fields, and
installation tokens narrowed to one repository and the permissions a job uses."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.github import GitHubApp, GitHubClient, StaticToken, TokenScope
from bot.jobs import JOB_PERMISSIONS
from prwarden.errors import GitHubError
from tests.conftest import APP_ID
from tests.fakes.github import FakeGitHub
from tests.fakes.github_apps import API_VERSION, VERSION_HEADER
from tests.reviewing import idle, serve
from tests.scenario import PullScenario, pull_scenario, wait_for

DIFF = (
    "diff --git a/app.py b/app.py\n--- a/app.py\n+++ b/app.py\n"
    "@@ -1,2 +1,2 @@\n import os\n-x = 1\n+x = 2\n"
)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def _app(session: aiohttp.ClientSession, gh: FakeGitHub, key: str) -> GitHubApp:
    return GitHubApp(session, app_id=APP_ID, private_key=key, base_url=gh.base_url)


async def _reviewed(aiohttp_client: Any, s: PullScenario, key: str, tmp_path: Path) -> None:
    """The real app, one delivery for the scenario's PR, and its review posted."""
    client = await serve(aiohttp_client, s.gh, key, tmp_path)
    body, headers = s.delivery()
    await client.post("/webhook", data=body, headers=headers)
    await wait_for(lambda: idle(client) and len(s.reviews) == 1)


async def test_the_fake_refuses_a_request_without_an_api_version(
    fake_github: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    fake_github.add_pull("octo/a", 1, diff=DIFF, head_sha="a" * 40, base_sha="b" * 40)
    fake_github.issued_tokens["ghs_x"] = (1, fake_github.clock() + 60)
    url = f"{fake_github.base_url}/repos/octo/a/pulls/1"
    headers = {"Authorization": "token ghs_x"}
    async with session.get(url, headers=headers) as resp:
        assert resp.status == 400
        assert VERSION_HEADER in (await resp.json())["message"]
    async with session.get(url, headers={**headers, VERSION_HEADER: "2099-01-01"}) as resp:
        assert resp.status == 400
    async with session.get(url, headers={**headers, VERSION_HEADER: API_VERSION}) as resp:
        assert resp.status == 200


async def test_every_request_of_a_review_pins_the_api_version(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    s = pull_scenario(fake_github)
    await _reviewed(aiohttp_client, s, app_private_key, tmp_path)
    assert fake_github.requests
    versions = {r.headers.get(VERSION_HEADER.lower()) for r in fake_github.requests}
    assert versions == {API_VERSION}


async def test_thread_states_read_full_database_ids_beyond_32_bits(
    fake_github: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    fake_github.add_pull("octo/a", 1, diff=DIFF, head_sha="a" * 40, base_sha="b" * 40)
    fake_github._ids = itertools.count(2**40)
    first = fake_github.add_review_comment("octo/a", 1, path="app.py", line=2, body="x")
    fake_github.resolve_thread(first["id"])
    fake_github.issued_tokens["ghs_x"] = (1, fake_github.clock() + 60)
    gh = GitHubClient(session, tokens=StaticToken("ghs_x"), base_url=fake_github.base_url)
    assert await gh.review_thread_states("octo/a", 1) == {first["id"]: True}
    query = fake_github.requests_for("graphql")[-1].json["query"]
    assert "fullDatabaseId" in query and "databaseId }" not in query


async def test_a_review_asks_for_a_token_for_its_repository_and_permissions_only(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    fake_github.add_repo("octo/other")
    s: PullScenario = pull_scenario(fake_github)
    await _reviewed(aiohttp_client, s, app_private_key, tmp_path)
    asked = [r.json for r in fake_github.requests_for("apps/create-installation-access-token")]
    assert asked
    for request in asked:
        assert request["repositories"] == [s.repo.split("/")[1]]
        assert request["permissions"] in JOB_PERMISSIONS.values()
        assert "issues" not in request["permissions"]
    assert fake_github.invalid_requests == []


async def test_a_narrowed_token_reaches_nothing_else(
    fake_github: FakeGitHub, session: aiohttp.ClientSession, app_private_key: str
) -> None:
    fake_github.add_pull("octo/a", 1, diff=DIFF, head_sha="a" * 40, base_sha="b" * 40)
    fake_github.add_pull("octo/b", 1, diff=DIFF, head_sha="c" * 40, base_sha="d" * 40)
    app = _app(session, fake_github, app_private_key)
    scope = TokenScope(repo="octo/a", permissions={"pull_requests": "read"})
    gh = await app.installation(1, scope)
    assert (await gh.get_pull("octo/a", 1))["number"] == 1
    with pytest.raises(GitHubError) as other_repo:
        await gh.get_pull("octo/b", 1)
    assert other_repo.value.status_code == 404
    with pytest.raises(GitHubError) as no_write:
        await gh.create_issue_comment("octo/a", 1, "hello")
    assert no_write.value.status_code == 403
    with pytest.raises(GitHubError) as no_checks:
        await gh.list_check_runs("octo/a", "a" * 40)
    assert no_checks.value.status_code == 403


async def test_asking_for_more_than_the_app_was_granted_is_refused(
    fake_github: FakeGitHub, session: aiohttp.ClientSession, app_private_key: str
) -> None:
    fake_github.add_repo("octo/a")
    app = _app(session, fake_github, app_private_key)
    with pytest.raises(GitHubError) as err:
        await app.installation(1, TokenScope(repo="octo/a", permissions={"issues": "write"}))
    assert err.value.status_code == 422
    with pytest.raises(GitHubError) as unknown:
        await app.installation(1, TokenScope(repo="octo/missing"))
    assert unknown.value.status_code == 422
