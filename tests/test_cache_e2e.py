"""The review cache through the real app: a re-push of the same change costs no model call
and posts nothing new; the same diff on another PR of the repository is served from cache too,
and never in another repository or installation."""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.cli import main
from bot.context import CTX
from cache.db import open_db
from cache.reviews import CacheScope, ReviewCache
from tests.fakes.github import FakeGitHub
from tests.fakes.openai import FakeOpenAI
from tests.reviewing import (
    FINDING,
    another_pull,
    completed,
    idle,
    llm_calls,
    model_settings,
    reviewer,
    runs,
    script_reviewer,
    serve,
)
from tests.scenario import PullScenario, example_files, pull_scenario, wait_for


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        script_reviewer(server, [FINDING])
        yield server
    assert server.problems == [] and server.rejected == []


@pytest.fixture
async def reviewed(
    aiohttp_client: Any,
    fake_github: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    fake: FakeOpenAI,
) -> tuple[PullScenario, TestClient[Any, Any]]:
    """The example PR, reviewed once with the scripted model."""
    gh, key = fake_github, app_private_key
    s = pull_scenario(gh)
    client = await serve(aiohttp_client, gh, key, tmp_path, review=model_settings(fake))
    body, headers = s.delivery()
    assert (await client.post("/webhook", data=body, headers=headers)).status == 202
    await wait_for(lambda: idle(client) and len(s.reviews) == 1)
    assert llm_calls(client) == 1  # a small change: one agent turn, no triage call
    assert any(FINDING["title"] in c["body"] for c in s.comments)
    return s, client


def _force_push(s: PullScenario, sha: str, *, base_sha: str | None = None) -> None:
    """Move the PR's head to ``sha`` (same diff), keeping what is already on the PR."""
    pull = s.gh.pulls[(s.repo, s.number)]
    pull.head_sha = sha
    pull.base_sha = base_sha or pull.base_sha


async def test_force_push_of_the_same_change_calls_no_model_and_posts_nothing(
    reviewed: tuple[PullScenario, TestClient[Any, Any]], fake_github: FakeGitHub
) -> None:
    s, client = reviewed
    calls, comments = llm_calls(client), copy.deepcopy(s.comments)
    new_sha = fake_github.add_commit(s.repo, example_files(), sha="f" * 40)
    _force_push(s, new_sha)
    body, headers = s.delivery(action="synchronize", head_sha=new_sha)
    assert (await client.post("/webhook", data=body, headers=headers)).status == 202
    await wait_for(lambda: idle(client) and completed(s, new_sha) is not None)

    assert llm_calls(client) == calls
    assert s.comments == comments
    assert len(s.reviews) == 1 and s.reviews[0]["commit_id"] == s.head_sha
    check = completed(s, new_sha)
    assert check is not None and check["conclusion"] == "success"
    assert "from cache" in check["output"]["title"]
    assert "Served from cache" in check["output"]["summary"]
    last = runs(client)[-1]
    assert (last["head_sha"], last["mode"], last["outcome"]) == (new_sha, "cached", "unchanged")
    assert (last["tokens_in"], last["posted"]) == (0, 0)
    assert fake_github.invalid_requests == []


async def test_reopened_pr_calls_no_model_and_posts_nothing(
    reviewed: tuple[PullScenario, TestClient[Any, Any]], fake_github: FakeGitHub
) -> None:
    s, client = reviewed
    calls, comments = llm_calls(client), copy.deepcopy(s.comments)
    body, headers = s.delivery(action="reopened")
    assert (await client.post("/webhook", data=body, headers=headers)).status == 202
    await wait_for(lambda: len(client.app[CTX].queue.jobs(state="done")) == 2)
    assert llm_calls(client) == calls
    assert s.comments == comments and len(s.reviews) == 1
    check = completed(s, s.head_sha)
    assert check is not None and check["conclusion"] == "success"


async def test_same_diff_on_another_pr_is_served_from_cache_and_posted_there(
    reviewed: tuple[PullScenario, TestClient[Any, Any]], fake_github: FakeGitHub
) -> None:
    s, client = reviewed
    calls = llm_calls(client)
    other = another_pull(s, s.number + 1)
    body, headers = other.delivery()
    assert (await client.post("/webhook", data=body, headers=headers)).status == 202
    await wait_for(lambda: idle(client) and len(other.reviews) == 1)

    assert llm_calls(client) == calls
    assert any(FINDING["title"] in c["body"] for c in other.comments)
    assert {c["body"] for c in other.comments} == {c["body"] for c in s.comments}
    last = runs(client)[-1]
    assert (last["pr_number"], last["mode"], last["outcome"]) == (s.number + 1, "cached", "posted")
    check = completed(other, other.head_sha)
    assert check is not None and "from cache" in check["output"]["title"]


async def test_a_different_repo_config_is_a_cache_miss(
    reviewed: tuple[PullScenario, TestClient[Any, Any]], fake_github: FakeGitHub
) -> None:
    s, client = reviewed
    calls = llm_calls(client)
    base = fake_github.add_commit(
        s.repo, {".github/prwarden.yml": b"max_comments: 5\n"}, branch="main"
    )
    new_sha = fake_github.add_commit(s.repo, example_files(), sha="d" * 40)
    _force_push(s, new_sha, base_sha=base)
    body, headers = s.delivery(action="synchronize", head_sha=new_sha)
    assert (await client.post("/webhook", data=body, headers=headers)).status == 202
    await wait_for(lambda: idle(client) and completed(s, new_sha) is not None)
    assert llm_calls(client) > calls
    assert runs(client)[-1]["mode"] == "model"


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """``bot.cli.main`` on ``tmp_path/prwarden.db``; prwarden's logging put back afterwards."""
    monkeypatch.setenv("PRWARDEN_DB", str(tmp_path / "prwarden.db"))
    root = logging.getLogger("prwarden")
    saved = (list(root.handlers), root.level, root.propagate)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    root.propagate = saved[2]


async def test_cli_stats_and_cache_stats_count_the_reviews_and_the_hit(
    reviewed: tuple[PullScenario, TestClient[Any, Any]],
    cli: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    s, client = reviewed
    s.gh.add_commit(s.repo, example_files(), sha="f" * 40)
    _force_push(s, "f" * 40)
    body, headers = s.delivery(action="synchronize", head_sha="f" * 40)
    assert (await client.post("/webhook", data=body, headers=headers)).status == 202
    await wait_for(lambda: idle(client) and len(runs(client)) == 2)

    capsys.readouterr()
    assert main(["cache", "stats"]) == 0
    cache = json.loads(capsys.readouterr().out)
    assert (cache["entries"], cache["hits"]) == (1, 1)
    assert cache["file_entries"] == 2 and cache["bytes"] > 0
    assert main(["stats", "--format", "json"]) == 0
    (repo,) = json.loads(capsys.readouterr().out)["repositories"]
    assert (repo["repo"], repo["installation_id"]) == (s.repo, 1)
    assert (repo["reviews"], repo["cache_hits"], repo["model_calls"]) == (2, 1, 1)
    assert 0 <= repo["cached_tokens"] <= repo["tokens_in"]
    assert repo["tokens_in"] == sum(r["tokens_in"] for r in runs(client)) > 0


def test_cli_cache_purge_removes_only_entries_older_than_the_given_days(
    cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = open_db(tmp_path / "prwarden.db")
    for age_days, key in ((10, "old"), (1, "new")):
        cache = ReviewCache(db, clock=lambda age=age_days: time.time() - age * 86400)
        scope = CacheScope(1, "octo/shop")
        cache.put(
            scope, key, diff_hash=key, result={}, models=["gpt-4o"], prompt_versions=["review@1"]
        )
        cache.put_file(scope, f"file:{key}", path="a.py", findings=[])
    assert main(["cache", "purge", "--older-than", "5"]) == 0
    assert capsys.readouterr().out.strip() == "purged 2 entries"
    assert [r[0] for r in db.conn.execute("SELECT key FROM reviews")] == ["new"]
    assert [r[0] for r in db.conn.execute("SELECT key FROM file_reviews")] == ["file:new"]
    assert main(["cache", "purge", "--older-than", "0"]) == 0
    assert capsys.readouterr().out.strip() == "purged 2 entries"
    assert main(["cache", "stats"]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == 0


def test_cli_cache_purge_refuses_a_negative_age(
    cli: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cache", "purge", "--older-than", "-1"]) == 2
    assert "older_than must be a non-negative number" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["cache", "purge", "--older-than", "a week"])
    assert exc.value.code == 2
    assert "invalid float value" in capsys.readouterr().err


async def test_the_same_diff_in_another_repository_is_never_served_from_the_cache(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    """Two installations, one diff: each repository's review is its own, text and all."""
    private = {**FINDING, "title": "total_spent hides the merger_terms rows of Codertocat"}
    fake_github.installations.add(2)
    async with FakeOpenAI() as fake:
        # The first review (triage + one agent turn) sees the private finding; any later
        # model call sees the public one.
        fake.script(reviewer([private]), *[reviewer([FINDING])] * 400)
        s = pull_scenario(fake_github)
        client = await serve(
            aiohttp_client, fake_github, app_private_key, tmp_path, review=model_settings(fake)
        )
        body, headers = s.delivery()
        assert (await client.post("/webhook", data=body, headers=headers)).status == 202
        await wait_for(lambda: idle(client) and len(s.reviews) == 1)
        assert llm_calls(client) == 1  # a small change: one review turn, no triage call
        assert any(private["title"] in c["body"] for c in s.comments)

        elsewhere = [
            another_pull(s, 5, repo="Evil/Fork", installation=2),
            another_pull(s, 6, installation=2),  # the same name under another installation
            another_pull(s, 7, repo="Codertocat/Other-Repo"),  # same installation, other repo
        ]
        for other in elsewhere:
            calls = llm_calls(client)
            body, headers = other.delivery()
            assert (await client.post("/webhook", data=body, headers=headers)).status == 202
            await wait_for(lambda o=other: idle(client) and len(o.reviews) == 1)
            assert llm_calls(client) > calls, other.repo
            assert runs(client)[-1]["mode"] == "model"
            posted = " ".join([c["body"] for c in other.comments] + [other.reviews[0]["body"]])
            assert private["title"] not in posted and "merger_terms" not in posted
            assert FINDING["title"] in posted

        # The same scope still hits: the misses above are scoping, not a broken cache.
        again = another_pull(s, 8)
        calls = llm_calls(client)
        body, headers = again.delivery()
        assert (await client.post("/webhook", data=body, headers=headers)).status == 202
        await wait_for(lambda: idle(client) and len(again.reviews) == 1)
        assert llm_calls(client) == calls and runs(client)[-1]["mode"] == "cached"
        assert any(private["title"] in c["body"] for c in again.comments)

        conn = client.app[CTX].db.conn
        scopes = set(conn.execute("SELECT installation_id, repo FROM reviews"))
        assert scopes == {(1, s.repo), (2, "Evil/Fork"), (2, s.repo), (1, "Codertocat/Other-Repo")}
        file_scopes = set(conn.execute("SELECT DISTINCT installation_id, repo FROM file_reviews"))
        assert file_scopes == scopes
    assert fake.problems == [] and fake.rejected == []
    assert fake_github.invalid_requests == []
