"""Pushes after the first review: nothing posted twice, and the model sees only what changed."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from bot.context import CTX
from tests.fakes.github import FakeGitHub
from tests.fakes.openai import FakeOpenAI
from tests.reviewing import idle, model_settings, script_reviewer, serve
from tests.scenario import PullScenario, example_diff, example_files, pull_scenario, wait_for

FINDINGS = [
    {
        "path": "shop/orders.py",
        "line": 32,
        "start_line": None,
        "severity": "high",
        "category": "correctness",
        "title": "`COUPONS` is undefined, so `checkout` raises NameError for any coupon",
        "body": "`checkout` looks the coupon up in `COUPONS`, which no module defines: every call "
        "with a coupon raises `NameError` instead of applying the discount. Define `COUPONS` "
        "(code → percent) next to `apply_discount`.",
        "suggestion": None,
    },
    {
        "path": "shop/db.py",
        "line": 23,
        "start_line": 22,
        "severity": "medium",
        "category": "correctness",
        "title": "`total_spent` returns None when the query fails",
        "body": "The `except Exception: pass` in `total_spent` swallows the error and the function "
        "returns `None` although it promises a float; callers doing arithmetic then raise "
        "`TypeError`. Let the exception propagate.",
        "suggestion": None,
    },
]
_FP = re.compile(r"prwarden:fp=([0-9a-f]+)")


def _tokens_in(client: Any, after_id: int = 0) -> tuple[int, int]:
    conn: sqlite3.Connection = client.app[CTX].db.conn
    row = conn.execute(
        "SELECT COALESCE(SUM(tokens_in), 0), COALESCE(MAX(id), 0) FROM llm_calls WHERE id > ?",
        (after_id,),
    ).fetchone()
    return int(row[0]), int(row[1])


async def _review(client: Any, s: PullScenario, *, action: str, head: str) -> None:
    body, headers = s.delivery(action=action, head_sha=head)
    response = await client.post("/webhook", data=body, headers=headers)
    assert response.status == 202
    await wait_for(
        lambda: idle(client) and any(r["status"] == "completed" for r in s.check_runs(head)),
        within=60,
    )


async def test_second_push_posts_nothing_the_first_posted(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    async with FakeOpenAI() as model:
        script_reviewer(model, FINDINGS)
        s = pull_scenario(fake_github)
        client = await serve(
            aiohttp_client, fake_github, app_private_key, tmp_path, review=model_settings(model)
        )
        await _review(client, s, action="opened", head=s.head_sha)
        first = [c["body"] for c in s.comments]
        first_fps = {m for body in first for m in _FP.findall(body)}
        assert len(first) >= 2 and len(first_fps) == len(first)
        assert any("COUPONS" in body and "NameError" in body for body in first)

        files = {**example_files(), "shop/notes.py": b'VERSION = "1.0"\n'}
        extra = (
            "diff --git a/shop/notes.py b/shop/notes.py\nnew file mode 100644\n"
            "index 0000000..1111111\n--- /dev/null\n+++ b/shop/notes.py\n@@ -0,0 +1 @@\n"
            '+VERSION = "1.0"\n'
        )
        head = s.push(files, example_diff() + extra)
        fake_github.set_compare(s.repo, s.head_sha, head, extra)
        await _review(client, s, action="synchronize", head=head)

        later = [c["body"] for c in s.comments][len(first) :]
        assert not {m for body in later for m in _FP.findall(body)} & first_fps
        assert len(s.comments) == len(first) + len(later)
        assert fake_github.invalid_requests == []
        assert model.rejected == []


def _big_file(changed: int | None = None) -> tuple[bytes, str]:
    lines = [f"def step_{i}(value):\n    return value + {i}\n" for i in range(1, 1001)]
    if changed is not None:
        lines[changed] = f"def step_{changed + 1}(value):\n    return value - 1\n"
    text = "".join(lines)
    numbered = text.splitlines()
    diff = (
        "diff --git a/pipeline/steps.py b/pipeline/steps.py\nnew file mode 100644\n"
        "index 0000000..1111111\n--- /dev/null\n+++ b/pipeline/steps.py\n"
        f"@@ -0,0 +1,{len(numbered)} @@\n" + "".join(f"+{line}\n" for line in numbered)
    )
    return text.encode(), diff


async def test_one_line_push_sends_a_prompt_proportional_to_the_change(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    async with FakeOpenAI() as model:
        script_reviewer(model, [])
        content, diff = _big_file()
        s = pull_scenario(fake_github, files={"pipeline/steps.py": content}, diff=diff)
        client = await serve(
            aiohttp_client, fake_github, app_private_key, tmp_path, review=model_settings(model)
        )
        await _review(client, s, action="opened", head=s.head_sha)
        first_tokens, last_id = _tokens_in(client)

        content2, diff2 = _big_file(changed=99)
        head = s.push({"pipeline/steps.py": content2}, diff2)
        interdiff = (
            "diff --git a/pipeline/steps.py b/pipeline/steps.py\nindex 1111111..2222222 100644\n"
            "--- a/pipeline/steps.py\n+++ b/pipeline/steps.py\n@@ -200 +200 @@\n"
            "-    return value + 100\n+    return value - 1\n"
        )
        fake_github.set_compare(s.repo, s.head_sha, head, interdiff)
        await _review(client, s, action="synchronize", head=head)
        second_tokens, _ = _tokens_in(client, last_id)

        assert second_tokens > 0
        ratio = second_tokens / first_tokens
        assert ratio < 0.25, (first_tokens, second_tokens)
        review_prompts = [
            m["content"] for r in model.requests[-1:] for m in r["messages"] if m["role"] == "user"
        ]
        assert any("return value - 1" in p for p in review_prompts)
        assert not any("step_10(" in p for p in review_prompts)
