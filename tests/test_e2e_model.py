"""The real app with a model: a webhook in, a model-written review out, every call accounted.

The app runs with its real workers against the fake GitHub and the fake OpenAI server, both on
loopback; the model's turns are scripted (``tests.model_scripts``).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot import cli
from bot.stats import render_stats
from review.diff import parse_diff
from review.prompts import load_prompt
from security.spotlight import Spotlight
from tests.fakes.github import FakeGitHub
from tests.fakes.openai import FakeOpenAI, closed_port
from tests.model_scripts import (
    PRICES,
    Investigation,
    Replies,
    assistant_tool_calls,
    db_of,
    finding,
    model_settings,
    review_pr,
    serve,
    submit,
    system_text,
    tool_answers,
    triage,
    user_text,
)
from tests.scenario import PullScenario, pull_scenario

CLOSE_TAG = re.compile(r'<</untrusted nonce="([0-9a-f]+)">>$')

# Two defects in examples/shop.diff the linter does not see: the model's own findings.
SWALLOWED = finding(
    "shop/db.py",
    23,
    start_line=22,
    title="total_spent swallows every error and returns None",
    body=(
        "`except Exception: pass` in `total_spent` hides a failed query from `orders_for`: "
        "the function then returns None instead of a float, and callers that add to it raise "
        "TypeError."
    ),
    suggestion="    except sqlite3.Error:\n        raise\n",
)
ROUNDING = finding(
    "shop/orders.py",
    33,
    severity="medium",
    title="checkout rounds a float total for money",
    body=(
        "`round(total, 2)` in `checkout` works on a binary float: a total of 2.675 becomes "
        "2.67, not 2.68, so a discounted basket is charged one cent less than expected."
    ),
)


@pytest.fixture
async def model() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server
    assert server.rejected == [] and server.problems == [], (server.rejected, server.problems)


def _texts(s: PullScenario) -> list[str]:
    return [c["body"] for c in s.comments]


def _model_review_turns(replies: Replies) -> tuple[Investigation, list[Any]]:
    look = Investigation.of(query="orders_for", lint_path="shop/db.py", symbol="orders_for")
    turns = [
        replies.keep(triage("deep", focus=["shop/db.py"])),
        replies.keep(look.turn),
        replies.keep(submit(SWALLOWED, ROUNDING)),
    ]
    return look, turns


async def test_review_comments_come_from_submit_review_after_parallel_tools(
    aiohttp_client: Any,
    fake_github: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    model: FakeOpenAI,
) -> None:
    replies = Replies()
    look, turns = _model_review_turns(replies)
    model.script(*turns)
    s = pull_scenario(fake_github)
    client = await serve(
        aiohttp_client, fake_github, app_private_key, tmp_path, model_settings(model.base_url)
    )
    run = await review_pr(client, s)

    assert [r["model"] for r in model.requests] == ["cheap", "capable", "capable"]
    # One assistant message carried the three calls; the next request answered each by id.
    asked = assistant_tool_calls(model.requests[2])
    assert len(asked) == 1 and [c["id"] for c in asked[0]] == look.ids
    assert [c["function"]["name"] for c in asked[0]] == [
        "search_codebase",
        "run_linter",
        "get_symbol_definition",
    ]
    answers = tool_answers(model.requests[2])
    assert [m["tool_call_id"] for m in answers] == look.ids
    messages = model.requests[2]["messages"]
    first_answer = messages.index(answers[0])
    assert messages[first_answer - 1]["tool_calls"] == asked[0]
    assert 'untrusted nonce="' not in system_text(model.requests[2])
    nonce = re.search(r'<<untrusted nonce="([0-9a-f]+)"', user_text(model.requests[2]))
    assert nonce is not None
    for call, answer in zip(look.calls, answers, strict=True):
        content = answer["content"]
        opening = Spotlight(nonce.group(1)).open_tag(f"tool:{call.name}") + "\n"
        assert content.startswith(opening), content[:200]
        closing = CLOSE_TAG.search(content.rstrip())
        assert closing is not None and closing.group(1) == nonce.group(1)
    assert "def orders_for" in answers[2]["content"]
    assert "shop/db.py" in answers[0]["content"]

    # The review carries exactly the model's two findings (next to the linter's), on its lines.
    assert len(s.reviews) == 1 and run["conclusion"] == "success"
    assert "capable" in s.reviews[0]["body"]
    by_title = {f["title"]: f for f in (SWALLOWED, ROUNDING)}
    from_model = [c for c in s.comments if any(t in c["body"] for t in by_title)]
    assert len(from_model) == 2
    for comment in from_model:
        wanted = next(f for t, f in by_title.items() if t in comment["body"])
        assert (comment["path"], comment["line"]) == (wanted["path"], wanted["line"])
        assert wanted["body"] in comment["body"]
    swallowed = next(c for c in from_model if c["path"] == "shop/db.py")
    assert swallowed["start_line"] == 22
    assert "```suggestion\n    except sqlite3.Error:\n        raise\n```" in swallowed["body"]
    diff = parse_diff(s.gh.pulls[(s.repo, s.number)].diff_text)
    for comment in s.comments:
        changed = diff.file(comment["path"])
        assert changed is not None and changed.commentable(comment["line"])
    assert fake_github.invalid_requests == []


async def test_docs_only_and_lock_only_prs_cost_no_model_call(
    aiohttp_client: Any,
    fake_github: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    model: FakeOpenAI,
) -> None:
    client = await serve(
        aiohttp_client, fake_github, app_private_key, tmp_path, model_settings(model.base_url)
    )
    cases = {
        "documentation": (
            {"README.md": b"# shop\n\nRun `make` to build.\nThen `make test`.\n"},
            "diff --git a/README.md b/README.md\nindex 1111111..2222222 100644\n"
            "--- a/README.md\n+++ b/README.md\n@@ -1,3 +1,4 @@\n # shop\n \n"
            " Run `make` to build.\n+Then `make test`.\n",
        ),
        "lock file": (
            {"poetry.lock": b'[[package]]\nname = "attrs"\nversion = "23.2.0"\n'},
            "diff --git a/poetry.lock b/poetry.lock\nindex 1111111..2222222 100644\n"
            "--- a/poetry.lock\n+++ b/poetry.lock\n@@ -1,3 +1,3 @@\n [[package]]\n"
            ' name = "attrs"\n-version = "23.1.0"\n+version = "23.2.0"\n',
        ),
    }
    for number, (kind, (files, diff)) in enumerate(cases.items(), start=1):
        s = pull_scenario(fake_github, files=files, diff=diff, title=f"Update {kind}")
        s.event["number"] = s.event["pull_request"]["number"] = number
        s.number = number
        fake_github.add_pull(
            s.repo, number, diff=diff, head_sha=s.head_sha, base_sha=s.base_sha, title=kind
        )
        run = await review_pr(client, s)
        assert run["conclusion"] == "neutral", run
        assert run["output"]["title"] == f"Skipped: {kind}-only change: {kind} (1)"
        assert f"{kind}-only change" in run["output"]["summary"]
        assert len(s.reviews) == 1 and s.comments == []
    db = db_of(client)
    assert db["llm_calls"].count == 0
    assert model.requests == []
    modes = [r["mode"] for r in db["review_runs"].rows_where(order_by="id")]
    assert modes == ["skipped", "skipped"]


async def test_every_model_call_is_accounted_and_stats_show_the_cost(
    aiohttp_client: Any,
    fake_github: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    model: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    replies = Replies()
    _, turns = _model_review_turns(replies)
    model.script(*turns)
    s = pull_scenario(fake_github)
    client = await serve(
        aiohttp_client, fake_github, app_private_key, tmp_path, model_settings(model.base_url)
    )
    await review_pr(client, s)
    db = db_of(client)
    rows = list(db["llm_calls"].rows_where(order_by="id"))
    assert len(rows) == len(model.requests) == len(replies.bodies) == 3
    versions = {name: load_prompt(name).version for name in ("triage", "review")}
    expected_purposes = ["triage", "review", "review"]
    total_cost = 0.0
    for row, (model_name, tokens_in, tokens_out), purpose in zip(
        rows, replies.usage(), expected_purposes, strict=True
    ):
        assert row["model"] == model_name and row["purpose"] == purpose
        assert (row["tokens_in"], row["tokens_out"]) == (tokens_in, tokens_out)
        assert tokens_in > 0 and tokens_out > 0
        price = PRICES[model_name]
        cost = (tokens_in * price.input + tokens_out * price.output) / 1_000_000
        assert row["cost"] == pytest.approx(cost) and row["cost"] > 0
        assert row["latency_ms"] > 0
        assert row["prompt_version"] == versions[purpose]
        assert (row["repo"], row["pr_number"], row["outcome"]) == (s.repo, s.number, "ok")
        total_cost += cost
    run = next(db["review_runs"].rows)
    tokens = sum(r["tokens_in"] + r["tokens_out"] for r in rows)
    assert run["tokens_in"] + run["tokens_out"] == tokens
    assert run["cost"] == pytest.approx(total_cost)

    text = render_stats(db, since=0.0, repo=s.repo)
    line = next(x for x in text.splitlines() if s.repo in x)
    assert f"{sum(r['tokens_in'] for r in rows):>10}" in line
    assert f"{total_cost:.4f}" in line

    monkeypatch.setenv("PRWARDEN_DB", str(tmp_path / "prwarden.db"))
    assert cli.main(["stats", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    repo_row = next(r for r in data["repositories"] if r["repo"] == s.repo)
    assert repo_row["model_calls"] == 3
    assert repo_row["tokens_in"] == sum(r["tokens_in"] for r in rows)
    assert repo_row["tokens_out"] == sum(r["tokens_out"] for r in rows)
    assert repo_row["cost"] == pytest.approx(total_cost)
    assert {m["model"] for m in repo_row["models"]} == {"cheap", "capable"}
    assert cli.main(["stats"]) == 0
    assert f"{total_cost:.4f}" in capsys.readouterr().out


async def test_unreachable_model_still_gives_a_labelled_static_review(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    down = f"http://127.0.0.1:{closed_port()}/v1"
    s = pull_scenario(fake_github)
    client = await serve(
        aiohttp_client, fake_github, app_private_key, tmp_path, model_settings(down)
    )
    run = await review_pr(client, s)
    assert run["conclusion"] == "neutral"
    assert "model unavailable" in run["output"]["title"].lower()
    assert len(s.reviews) == 1
    review = s.reviews[0]
    assert "model unavailable: static-only review" in review["body"]
    assert review["state"] == "COMMENTED"
    titles = " ".join(c["body"] for c in s.comments)
    assert "F821" in titles and "B006" in titles
    db = db_of(client)
    calls = list(db["llm_calls"].rows)
    assert calls and all(c["outcome"] == "error:connection" for c in calls)
    assert all(c["tokens_in"] == 0 and c["cost"] == 0 for c in calls)
    assert next(db["review_runs"].rows)["mode"] == "static"
