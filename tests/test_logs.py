"""Structured logs through the real app: every line is JSON, a review's lines say which
delivery, installation, repository, PR and head SHA they are about, and no secret is written."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.logs import setup_logging
from testkit.fakes.github import FakeGitHub
from testkit.fakes.openai import FakeOpenAI, fault
from testkit.reviewer import API_KEY, model_settings, script_reviewer
from testkit.signing import SECRET
from tests.reviewing import idle, runs, serve
from tests.scenario import PullScenario, pull_scenario, wait_for

WHERE = ("delivery_id", "installation_id", "repo", "pr_number", "head_sha")
ReadLogs = Callable[[], tuple[str, list[dict[str, Any]]]]


@pytest.fixture
def json_logs(app_private_key: str) -> Iterator[ReadLogs]:
    """prwarden's own log set-up (its stream swapped for a buffer); the raw text and each line."""
    root = logging.getLogger("prwarden")
    saved = (list(root.handlers), root.level, root.propagate)
    handler = setup_logging([SECRET, API_KEY, app_private_key])
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    handler.setStream(buffer)

    def read() -> tuple[str, list[dict[str, Any]]]:
        err = buffer.getvalue()
        lines = []
        for line in err.splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                raise AssertionError(f"not a JSON line: {line!r}\n{err}") from None
        return err, lines

    yield read
    root.removeHandler(handler)
    for old in saved[0]:
        root.addHandler(old)
    root.setLevel(saved[1])
    root.propagate = saved[2]


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


async def _review(
    aiohttp_client: Any, gh: FakeGitHub, key: str, tmp_path: Path, fake: FakeOpenAI
) -> PullScenario:
    client = await serve(aiohttp_client, gh, key, tmp_path, review=model_settings(fake))
    s = pull_scenario(gh)
    body, headers = s.delivery(delivery="delivery-for-logs")
    assert (await client.post("/webhook", data=body, headers=headers)).status == 202
    await wait_for(lambda: idle(client) and len(runs(client)) == 1)
    return s


def _about(s: PullScenario) -> dict[str, Any]:
    return {
        "delivery_id": "delivery-for-logs",
        "installation_id": 1,
        "repo": s.repo,
        "pr_number": s.number,
        "head_sha": s.head_sha,
    }


async def test_a_review_logs_json_lines_that_say_what_they_are_about(
    aiohttp_client: Any,
    fake_github: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    fake: FakeOpenAI,
    json_logs: ReadLogs,
) -> None:
    script_reviewer(fake)
    s = await _review(aiohttp_client, fake_github, app_private_key, tmp_path, fake)
    _, lines = json_logs()
    lines = [line for line in lines if line.get("kind") in (None, "review")]  # not the sweep
    events = [line["event"] for line in lines]
    for event in ("webhook accepted", "job started", "review published", "job finished"):
        assert events.count(event) == 1, events
    about = _about(s)
    for line in lines:
        if line["event"] in ("webhook accepted", "job started", "review published", "job finished"):
            assert {k: line.get(k) for k in WHERE} == about, line
            assert line["level"] == "info" and line["at"].endswith("Z")
    by_event = {line["event"]: line for line in lines}
    assert by_event["webhook accepted"]["status"] == 202
    assert by_event["webhook accepted"]["github_event"] == "pull_request"
    assert by_event["review published"]["mode"] == "model"
    assert by_event["job finished"]["state"] == "done"


async def test_lines_logged_inside_the_review_carry_the_job_context(
    aiohttp_client: Any,
    fake_github: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    fake: FakeOpenAI,
    json_logs: ReadLogs,
) -> None:
    fake.script(*[fault(500)] * 10)
    s = await _review(aiohttp_client, fake_github, app_private_key, tmp_path, fake)
    _, lines = json_logs()
    inside = [line for line in lines if line["logger"] in ("prwarden.llm", "prwarden.review")]
    assert {line["event"] for line in inside} >= {"model call failed", "model unavailable"}
    for line in inside:
        assert {k: line.get(k) for k in WHERE} == _about(s), line
        assert line["level"] == "warning"


async def test_secrets_never_reach_a_line(
    aiohttp_client: Any,
    fake_github: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    fake: FakeOpenAI,
    json_logs: ReadLogs,
) -> None:
    script_reviewer(fake)
    await _review(aiohttp_client, fake_github, app_private_key, tmp_path, fake)
    token = next(iter(fake_github.issued_tokens))
    pem_line = app_private_key.splitlines()[1]
    logging.getLogger("prwarden.jobs").error(
        "GitHub said %s for token %s",
        "401",
        token,
        extra={"error": f"key {API_KEY} and secret {SECRET} in an error", "reason": pem_line},
    )
    text, lines = json_logs()
    for secret in (token, API_KEY, SECRET, pem_line):
        assert secret not in text
    last = lines[-1]
    assert last["event"] == "GitHub said 401 for token [REDACTED]"
    assert last["error"] == "key [REDACTED] and secret [REDACTED] in an error"
    assert "[REDACTED]" in last["reason"]
