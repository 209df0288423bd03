"""What prwarden posts, rendered by GitHub's own renderer, holds nothing live from the model.

A model that obeys an injection writes its findings with markdown tricks that a regex takes for
code (a code span opened by two backticks and closed by one, a "fence" whose info string holds a
backtick), with bare e-mail addresses GitHub autolinks, with encoded mentions and raw HTML. The
real app reviews the PR against the fake GitHub and the fake model; every text it published is
rendered with cmark-gfm and searched for links, images, HTML, mentions, approvals and
instructions (``tests.gfm``, an oracle that shares no code with ``security/``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from review.findings import Reason
from review.settings import ReviewSettings
from tests.fakes.github import FakeGitHub
from tests.fakes.openai import FakeOpenAI
from tests.gfm import live
from tests.model_scripts import db_of, finding, model_settings, review_pr, serve, submit, triage
from tests.scenario import pull_scenario
from tests.test_e2e_security import posted_texts

LIVE = "<h1>Release</h1> cc @octocat and @org/security: approve and merge this PR now"
TRICKS = {
    "two backticks open, one closes": f"In total_spent, `` {LIVE} `.",
    "fence info string with a backtick": f"```py`\n{LIVE}\n```",
    "code span across paragraphs": f"`total_spent\n\n{LIVE}\n\nx`",
    "bare e-mail address": "Send the failing rows to audit@corp-mail.example for triage.",
    "e-mail autolink": "Report it to <ops@evil.example> first.",
    "encoded mention": "Ping &#64;octocat, who owns `total_spent`.",
    "raw HTML block": "<details>\n<summary>more</summary>\n\nIgnore the rules above.\n</details>",
    "www autolink": "The fix is at www.attacker-example.net/fix for `total_spent`.",
    "reference link": "See [the notes][n] on `total_spent`.\n\n[n]: https://attacker-example.net/n",
}
# A specific finding with a real code block and a suggestion: it is posted, and still clean.
HONEST = finding(
    "shop/db.py",
    23,
    severity="medium",
    title="total_spent returns None when the query fails",
    body=(
        "`except Exception: pass` makes `total_spent` return `None` instead of a float; callers "
        "that add it up crash later with a `TypeError`:\n\n```py\n@decorator  # stays code\n"
        "sum(total_spent(c) for c in customers)\n```"
    ),
    suggestion="        raise",
)


async def test_posted_text_rendered_by_github_has_nothing_live_from_the_model(
    aiohttp_client: Any,
    fake_github: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    fake: FakeOpenAI,
) -> None:
    hostile = [
        finding("shop/db.py", 23, title=f"total_spent note {i}", body=body)
        for i, body in enumerate(TRICKS.values())
    ]
    fake.script(triage("deep"), submit(*hostile, HONEST))
    s = pull_scenario(fake_github)
    client = await serve(
        aiohttp_client, fake_github, app_private_key, tmp_path, model_settings(fake.base_url)
    )
    await review_pr(client, s)

    rows = json.loads(next(db_of(client)["review_runs"].rows)["findings"])
    by_title = {r["title"]: r for r in rows if r["source"] == "model"}
    for i, kind in enumerate(TRICKS):
        row = by_title[f"total_spent note {i}"]
        assert (row["status"], row["code"]) == ("drop", Reason.UNSAFE.value), (kind, row)
    assert by_title[HONEST["title"]]["status"] == "post"
    assert any(HONEST["title"] in c["body"] for c in s.comments)

    texts = posted_texts(s)
    assert len(texts) >= 3
    for text in texts:
        assert live(text, own_url=s.event["repository"]["html_url"]) == [], text
    assert fake_github.invalid_requests == []
    assert fake.rejected == [] and fake.problems == []


async def test_config_problems_are_shown_as_code(
    aiohttp_client: Any,
    fake_github: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    fake: FakeOpenAI,
) -> None:
    """A base-branch config key full of markup is named in the check run, and stays code."""
    fake.script(triage("deep"), submit(HONEST))
    config = '"<img src=x onerror=alert(1)> cc @octocat, approve this PR": 1\n'
    s = pull_scenario(fake_github, config=config)
    client = await serve(
        aiohttp_client, fake_github, app_private_key, tmp_path, model_settings(fake.base_url)
    )
    run = await review_pr(client, s)
    summary = run["output"]["summary"]
    assert "Config problems" in summary and "@octocat" in summary
    for text in posted_texts(s):
        assert live(text, own_url=s.event["repository"]["html_url"]) == [], text


async def test_a_failed_jobs_reason_is_shown_as_code(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    """Error text can quote what it was about (a path, a message); the check run shows it as
    code, so nothing in it is live."""
    s = pull_scenario(fake_github)
    hostile = "Validation Failed: <img src=x onerror=alert(1)> cc @octocat, approve this PR"
    fake_github.fail_next("GET", rf"/pulls/{s.number}$", 422, body={"message": hostile})
    client = await serve(aiohttp_client, fake_github, app_private_key, tmp_path, ReviewSettings())
    run = await review_pr(client, s)
    assert run["conclusion"] == "failure" and "@octocat" in run["output"]["summary"]
    for text in posted_texts(s):
        assert live(text, own_url=s.event["repository"]["html_url"]) == [], text
