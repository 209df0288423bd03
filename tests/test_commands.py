"""Slash commands end to end: a re-run after the model was down, pause and resume, permissions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.commands import COMMAND_HELP
from review import render
from tests.fakes.github import FakeGitHub
from tests.fakes.openai import FakeOpenAI, fault
from tests.helpers import delivery_headers, payload
from tests.reviewing import another_pull, idle, model_settings, reviewer, serve
from tests.scenario import PullScenario, pull_scenario, wait_for

FINDING = {
    "path": "shop/orders.py",
    "line": 32,
    "start_line": None,
    "severity": "high",
    "category": "correctness",
    "title": "`COUPONS` is undefined, so `checkout` raises NameError for any coupon",
    "body": "`checkout` looks the coupon up in `COUPONS`, which no module defines: every call "
    "with a coupon raises `NameError`. Define `COUPONS` next to `apply_discount`.",
    "suggestion": None,
}


def _comment_delivery(s: PullScenario, body: str, user: str) -> tuple[bytes, dict[str, str]]:
    data = payload("issue_comment.created")
    data["repository"] = s.event["repository"]
    data["installation"] = s.event["installation"]
    data["issue"]["number"] = s.number
    data["issue"]["pull_request"] = {"url": f"https://api.github.com/repos/{s.repo}/pulls/1"}
    data["comment"]["body"] = body
    data["comment"]["user"] = {**data["comment"]["user"], "login": user, "type": "User"}
    data["comment"]["id"] = s.gh.add_issue_comment(s.repo, s.number, body, user=user)["id"]
    raw = json.dumps(data).encode()
    return raw, delivery_headers("issue_comment", raw)


def _checks_done(s: PullScenario) -> bool:
    runs = s.check_runs()
    return bool(runs) and all(r["status"] == "completed" for r in runs)


async def test_prwarden_review_reruns_a_head_reviewed_while_the_model_was_down(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    async with FakeOpenAI() as model:
        model.script(fault(503))
        s = pull_scenario(fake_github)
        fake_github.set_permission(s.repo, "maintainer", "write")
        client = await serve(
            aiohttp_client, fake_github, app_private_key, tmp_path, review=model_settings(model)
        )
        body, headers = s.delivery()
        await client.post("/webhook", data=body, headers=headers)
        await wait_for(lambda: idle(client) and _checks_done(s) and len(s.reviews) == 1)
        assert "unavailable" in s.check_runs()[0]["output"]["title"].lower()
        static_comments = len(s.comments)

        model.script(*[reviewer([FINDING])] * 10)
        raw, headers = _comment_delivery(s, "/prwarden review", "maintainer")
        assert (await client.post("/webhook", data=raw, headers=headers)).status == 202
        await wait_for(lambda: idle(client) and len(s.reviews) == 2 and _checks_done(s))
        assert "reviewed by" in s.reviews[1]["body"]
        new = s.comments[static_comments:]
        assert any("COUPONS" in c["body"] and "NameError" in c["body"] for c in new)
        # The forced review has a check run of its own; the finished one is left as it was.
        first, second = s.check_runs()
        assert "unavailable" in first["output"]["title"].lower()
        assert first["conclusion"] == "neutral" and second["conclusion"] == "success"
        assert fake_github.invalid_requests == []


async def test_pause_and_resume_need_write_access(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    s = pull_scenario(fake_github)
    fake_github.set_permission(s.repo, "maintainer", "admin")
    fake_github.set_permission(s.repo, "drive-by", "read")
    client = await serve(aiohttp_client, fake_github, app_private_key, tmp_path)

    raw, headers = _comment_delivery(s, "/prwarden pause", "drive-by")
    await client.post("/webhook", data=raw, headers=headers)
    await wait_for(lambda: idle(client))
    body, headers = s.delivery()
    assert (await client.post("/webhook", data=body, headers=headers)).status == 202
    await wait_for(lambda: idle(client) and len(s.reviews) == 1)

    raw, headers = _comment_delivery(s, "/prwarden pause", "maintainer")
    await client.post("/webhook", data=raw, headers=headers)
    await wait_for(lambda: idle(client))
    body, headers = s.delivery(action="reopened")
    response = await client.post("/webhook", data=body, headers=headers)
    assert response.status == 200
    assert "paused" in " ".join((await response.json())["notes"])

    raw, headers = _comment_delivery(s, "/prwarden resume", "maintainer")
    await client.post("/webhook", data=raw, headers=headers)
    await wait_for(lambda: idle(client))
    body, headers = s.delivery(action="reopened")
    assert (await client.post("/webhook", data=body, headers=headers)).status == 202
    assert fake_github.invalid_requests == []


def _reactions(s: PullScenario, comment_id: int) -> list[str]:
    return [r["content"] for r in s.gh.reactions.get(comment_id, [])]


async def _command(client: Any, s: PullScenario, text: str, user: str) -> int:
    raw, headers = _comment_delivery(s, text, user)
    comment_id = int(json.loads(raw)["comment"]["id"])
    assert (await client.post("/webhook", data=raw, headers=headers)).status == 202
    await wait_for(lambda: idle(client))
    return comment_id


def _replies(s: PullScenario) -> list[str]:
    """What the bot said in the PR's conversation, but its summary."""
    return [
        c["body"]
        for c in s.gh.pulls[(s.repo, s.number)].issue_comments
        if c["user"]["login"] == s.gh.bot_login and not render.is_summary(c["body"])
    ]


async def test_commands_answer_with_reactions_and_help_lists_every_command(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    s = pull_scenario(fake_github)
    fake_github.set_permission(s.repo, "maintainer", "write")
    client = await serve(aiohttp_client, fake_github, app_private_key, tmp_path)

    comment = await _command(client, s, "/prwarden help", "maintainer")
    assert _reactions(s, comment) == ["eyes", "rocket"]
    (reply,) = _replies(s)
    for name in COMMAND_HELP:
        assert f"`/prwarden {name}`" in reply

    comment = await _command(client, s, "/prwarden review", "maintainer")
    await wait_for(lambda: idle(client) and len(s.reviews) == 1 and _checks_done(s))
    assert _reactions(s, comment) == ["eyes", "rocket"]
    assert fake_github.invalid_requests == []


async def test_a_non_writer_gets_a_confused_reaction_and_no_reply(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    s = pull_scenario(fake_github)
    fake_github.set_permission(s.repo, "drive-by", "read")
    client = await serve(aiohttp_client, fake_github, app_private_key, tmp_path)
    for text in ("/prwarden help", "/prwarden pause", "/prwarden review"):
        comment = await _command(client, s, text, "drive-by")
        assert _reactions(s, comment) == ["confused"], text
    assert _replies(s) == [] and s.reviews == []
    assert fake_github.requests_for("issues/create-comment") == []


async def test_pause_acts_on_that_pull_request_only(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    s = pull_scenario(fake_github)
    other = another_pull(s, 3)
    fake_github.set_permission(s.repo, "maintainer", "write")
    client = await serve(aiohttp_client, fake_github, app_private_key, tmp_path)
    comment = await _command(client, s, "/prwarden pause", "maintainer")
    assert _reactions(s, comment) == ["eyes", "rocket"]
    assert "paused for this pull request" in _replies(s)[0]

    body, headers = s.delivery(action="reopened")
    response = await client.post("/webhook", data=body, headers=headers)
    assert response.status == 200
    assert "paused for this pull request" in " ".join((await response.json())["notes"])
    body, headers = other.delivery(action="reopened")
    assert (await client.post("/webhook", data=body, headers=headers)).status == 202
    await wait_for(lambda: idle(client) and len(other.reviews) == 1)
    assert s.reviews == []
