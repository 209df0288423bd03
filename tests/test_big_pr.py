"""A change too big for one review conversation: reviewed in priority order within the budget.

Through ``run_review`` with the fake model: the most important files are reviewed, a group at
a time, and the review lists the files the model did not get to and why, instead of stopping
half-way on the token budget with nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from prwarden import tokens
from review.diff import parse_diff
from review.groups import file_tokens, pack, rank
from review.pipeline import OVER_BUDGET, run_review
from review.request import PRInfo, ReviewRequest
from review.triage import MAX_DIFF_TOKENS
from tests.fakes.openai import FakeOpenAI
from tests.reviewing import model_settings, paths_in, script_reviewer

FILES = 60
LINES = 170
RISKY = "app/auth/session.py"


def _section(path: str, lines: list[str]) -> str:
    body = "".join(f"+{line}\n" for line in lines)
    return (
        f"diff --git a/{path} b/{path}\nnew file mode 100644\nindex 0000000..1111111\n"
        f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{len(lines)} @@\n{body}"
    )


def big_diff() -> str:
    """About 10k added lines in 60 files; one of them handles passwords and sessions."""
    sections = []
    for i in range(FILES):
        path = RISKY if i == 37 else f"app/module_{i:02}.py"
        word = "password_hash" if path == RISKY else f"value_{i}"
        lines = [
            text
            for j in range(LINES // 2)
            for text in (f"def step_{j}(item_{j}):", f"    return {word}(item_{j}) + {j}")
        ]
        sections.append(_section(path, lines))
    return "".join(sections)


FINDING = {
    "path": RISKY,
    "line": 2,
    "start_line": None,
    "severity": "high",
    "category": "correctness",
    "title": "step_0 compares password_hash output without a constant-time check",
    "body": "`step_0` returns `password_hash(item_0) + 0`, so a caller comparing it with `==` "
    "leaks timing; an attacker who can measure responses recovers the hash byte by byte.",
    "suggestion": None,
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        script_reviewer(server, [FINDING])
        yield server
    assert server.problems == [] and server.rejected == []


async def test_a_ten_thousand_line_change_ends_with_its_most_important_files_reviewed(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    diff = big_diff()
    assert diff.count("\n+") > 10_000
    result = await run_review(
        ReviewRequest(
            diff=diff,
            workspace=tmp_path,
            settings=dataclasses.replace(model_settings(fake), small_change_tokens=0),
            pr=PRInfo(title="Big refactor", body="Moves everything."),
        )
    )
    assert result.mode == "model"
    assert not any("budget" in note and "stopped" in note.lower() for note in result.notes)
    reviewed, unreviewed = set(result.files_reviewed), dict(result.files_unreviewed)
    assert reviewed and unreviewed and not reviewed & set(unreviewed)
    assert len(reviewed) + len(unreviewed) == FILES
    assert set(unreviewed.values()) == {OVER_BUDGET}
    # The risky file comes first, so it is reviewed, and its finding is posted.
    assert RISKY in reviewed
    assert [af.finding.path for af in result.posted if af.finding.source == "model"] == [RISKY]
    # Every review request carried at most one group of files, each within the diff cap.
    budget = model_settings(fake).deep
    reviews = [r for r in fake.requests if "triage_verdict" not in str(r.get("tool_choice"))]
    assert len(reviews) >= 2
    for request in reviews:
        user = next(m["content"] for m in request["messages"] if m["role"] == "user")
        assert tokens.estimate(user) < budget.diff_tokens + 1_000
        assert set(paths_in(request)) <= reviewed
    spent = result.usage.tokens_in + result.usage.tokens_out
    assert spent <= budget.max_tokens + budget.diff_tokens
    assert "Not reviewed by the model" in result.body and "app/module_" in result.body
    assert any(f"{len(unreviewed)} were left" in note for note in result.notes)


async def test_a_thousand_line_change_costs_tokens_in_proportion(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    sections = [
        _section(f"app/small_{i}.py", [f"x_{i}_{j} = compute_{j}({i})" for j in range(100)])
        for i in range(10)
    ]
    diff = "".join(sections)
    result = await run_review(
        ReviewRequest(diff=diff, workspace=tmp_path, settings=model_settings(fake))
    )
    assert result.mode == "model" and not result.files_unreviewed
    files = parse_diff(diff).files
    rendered = sum(file_tokens(f) for f in files)
    groups = pack(files, model_settings(fake).deep.diff_tokens)
    # One triage call (capped diff), then one review turn per group: each file is sent once,
    # plus what every conversation carries (tools, prompt, PR text).
    assert result.usage.calls == 1 + len(groups) == 3
    assert result.usage.tokens_in < rendered + MAX_DIFF_TOKENS + 3 * 2_000


def test_files_are_ranked_focus_then_risk_then_size_and_packed_to_the_cap() -> None:
    diff = parse_diff(big_diff())
    ordered = rank(diff.files, focus=["app/module_05.py"])
    assert [f.path for f in ordered[:2]] == ["app/module_05.py", RISKY]
    groups = pack(ordered, 6_000)
    assert [f.path for g in groups for f in g] == [f.path for f in ordered]
    assert all(len(g) >= 1 for g in groups) and len(groups) > 1
