"""The feedback loop: reactions, replies, resolved threads and fixes read back into ``stats``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from bot.app import make_app
from bot.context import CTX
from bot.feedback_sweep import anchored_code_changed
from bot.github import GitHubClient, StaticToken
from bot.stats import render_stats
from cache.db import open_db
from cache.feedback import posted_comments
from prwarden.errors import GitHubError
from review.prompts import load_prompt
from review.settings import ReviewSettings
from tests.fakes.github import FakeGitHub
from tests.fakes.openai import FakeOpenAI, Reply, tool_calls
from tests.helpers import make_settings
from tests.reviewing import deliver, idle
from tests.scenario import PullScenario, example_diff, example_files, pull_scenario, wait_for

QUERY = "SELECT id, customer, total FROM orders WHERE customer = "
BUGGY = f"    rows = conn.execute(f\"{QUERY}'{{customer}}'\")"
FIXED = f'    rows = conn.execute("{QUERY}?", (customer,))'
MODEL_FINDING = {
    "path": "shop/db.py",
    "line": 15,
    "start_line": None,
    "severity": "high",
    "category": "correctness",
    "title": "orders_for breaks on a customer name with a quote",
    "body": (
        "`orders_for` puts `customer` into the SQL text: for a customer named O'Brien the "
        "query fails with a syntax error. Pass `customer` as a parameter instead."
    ),
    "suggestion": FIXED,
}


def reviewer(request: dict[str, Any]) -> Reply:
    choice = request.get("tool_choice")
    if isinstance(choice, dict) and choice["function"]["name"] == "triage_verdict":
        verdict = {
            "level": "deep",
            "focus_files": ["shop/db.py"],
            "risk_areas": ["sql"],
            "reason": "query building changed",
        }
        return tool_calls(("triage_verdict", verdict))(request)  # type: ignore[return-value]
    return tool_calls(("submit_review", {"findings": [MODEL_FINDING]}))(request)  # type: ignore[return-value]


@pytest.fixture
async def model() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI([reviewer] * 20) as server:
        yield server
    assert server.rejected == [] and server.problems == []


async def _serve(
    aiohttp_client: Any, gh: FakeGitHub, key: str, tmp_path: Path, model: FakeOpenAI
) -> TestClient[Any, Any]:
    review = ReviewSettings(
        triage_model="gpt-4o-mini",
        review_model="gpt-4o",
        base_url=model.base_url,
        api_key="sk-test",
        llm_retries=0,
    )
    settings = make_settings(key, api_url=gh.base_url, workspaces=tmp_path / "ws", review=review)
    client: TestClient[Any, Any] = await aiohttp_client(
        make_app(settings, db=open_db(tmp_path / "prwarden.db"))
    )
    return client


def _comment(s: PullScenario, needle: str) -> dict[str, Any]:
    return next(c for c in s.comments if needle in c["body"])


async def test_thumbs_resolution_reply_and_fix_show_in_stats(
    aiohttp_client: Any,
    fake_github: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    model: FakeOpenAI,
) -> None:
    s = pull_scenario(fake_github)
    client = await _serve(aiohttp_client, fake_github, app_private_key, tmp_path, model)
    await deliver(client, s)
    await wait_for(lambda: idle(client) and len(s.reviews) == 1)
    db = client.app[CTX].db
    recorded = posted_comments(db, s.repo, s.number)
    assert recorded and all(c.anchored_code.strip() for c in recorded)
    by_source = {c.source: c for c in recorded}
    model_comment = _comment(s, "O'Brien")
    f821 = _comment(s, "F821")
    b006 = _comment(s, "B006")
    fake_github.add_reaction(model_comment["id"], "+1", user="alice")
    fake_github.add_reaction(f821["id"], "-1", user="bob")
    fake_github.add_reaction(f821["id"], "eyes", user="carol")
    fake_github.resolve_thread(b006["id"])
    fake_github.add_reply(model_comment["id"], "Good catch, fixing.", user="alice")

    files = example_files()
    files["shop/db.py"] = files["shop/db.py"].replace(BUGGY.encode(), FIXED.encode())
    assert FIXED.encode() in files["shop/db.py"]
    new_diff = example_diff().replace(f"-{FIXED}\n+{BUGGY}\n", f" {FIXED}\n")
    assert new_diff != example_diff()
    new_head = s.push(files, new_diff)
    await deliver(client, s, action="synchronize", head_sha=new_head)
    await wait_for(lambda: idle(client) and bool(s.check_runs(new_head)))
    graphql = fake_github.requests_for("graphql")
    assert graphql and all(r.valid for r in graphql)

    data = json.loads(render_stats(db, since=0.0, fmt="json"))
    rows = {(a["category"], a["prompt_version"]): a for a in data["acceptance"]}
    review_version = load_prompt("review").version
    model_row = rows[("correctness", review_version)]
    assert (model_row["thumbs_up"], model_row["fixed"], model_row["reply"]) == (1, 1, 1)
    assert model_row["thumbs_down"] == 0 and model_row["accepted"] == 1
    assert by_source["model"].prompt_version == review_version
    ruff_rows = [a for a in data["acceptance"] if a["prompt_version"] == "ruff"]
    assert sum(a["thumbs_down"] for a in ruff_rows) == 1
    assert sum(a["resolved"] for a in ruff_rows) == 1
    assert sum(a["thumbs_up"] + a["fixed"] for a in ruff_rows) == 0
    text = render_stats(db, since=0.0)
    line = next(x for x in text.splitlines() if review_version[:22] in x)
    assert line.split()[:2] == ["correctness", "high"]


def test_anchored_code_changed() -> None:
    file = b"def f(x):\n    y = x + 1\n    return y\n"
    assert not anchored_code_changed("    y = x + 1", file)
    assert not anchored_code_changed("y = x + 1\n\nreturn y", file)
    assert anchored_code_changed("    y = x + 2", file)
    assert anchored_code_changed("return y\ny = x + 1", file)
    assert anchored_code_changed("y = x + 1", None)
    assert not anchored_code_changed("   \n", file)


async def test_thread_states_through_graphql_and_the_fake_rejects_other_queries(
    fake_github: FakeGitHub,
) -> None:
    s = pull_scenario(fake_github)
    first = fake_github.add_review_comment(s.repo, s.number, path="shop/db.py", line=15, body="a")
    second = fake_github.add_review_comment(s.repo, s.number, path="shop/db.py", line=22, body="b")
    reply = fake_github.add_reply(first["id"], "ok")
    fake_github.resolve_thread(first["id"])
    token = "ghs_test_token"
    fake_github.issued_tokens[token] = (1, fake_github.clock() + 3600)
    async with aiohttp.ClientSession() as session:
        gh = GitHubClient(session, tokens=StaticToken(token), base_url=fake_github.base_url)
        states = await gh.review_thread_states(s.repo, s.number)
        assert states == {first["id"]: True, reply["id"]: True, second["id"]: False}
        with pytest.raises(GitHubError, match="review-threads query"):
            await gh.graphql("viewer", "query { viewer { login } }")
        bad = GitHubClient(session, tokens=StaticToken("wrong"), base_url=fake_github.base_url)
        with pytest.raises(GitHubError) as err:
            await bad.review_thread_states(s.repo, s.number)
        assert err.value.status_code == 401
