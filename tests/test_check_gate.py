"""The check run as a gate: ``check.fail_on``, annotations, and the Re-run button.

The real app runs against the fake GitHub (every request validated against GitHub's OpenAPI
description); the Re-run deliveries are GitHub's own examples from the corpus.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.github import GitHubApp, RetryPolicy
from bot.publication import ANNOTATIONS_PER_REQUEST, CheckReport
from bot.publisher import CheckRun
from tests.conftest import APP_ID
from tests.fakes.github import FakeGitHub
from tests.helpers import delivery_headers, payload
from tests.reviewing import idle, serve
from tests.scenario import PullScenario, example_diff, example_files, pull_scenario, wait_for

CLEAN_FILES = {"calc.py": b"def add(a, b):\n    return a + b\n"}
CLEAN_DIFF = (
    "diff --git a/calc.py b/calc.py\nnew file mode 100644\nindex 0000000..1111111\n"
    "--- /dev/null\n+++ b/calc.py\n@@ -0,0 +1,2 @@\n+def add(a, b):\n+    return a + b\n"
)
SQL_FILES = {
    "query.py": b"def find(conn, name):\n"
    b"    return conn.execute(f\"SELECT * FROM users WHERE name = '{name}'\")\n"
}
SQL_DIFF = (
    "diff --git a/query.py b/query.py\nnew file mode 100644\nindex 0000000..1111111\n"
    "--- /dev/null\n+++ b/query.py\n@@ -0,0 +1,2 @@\n+def find(conn, name):\n"
    "+    return conn.execute(f\"SELECT * FROM users WHERE name = '{name}'\")\n"
)


def _completed_runs(s: PullScenario, sha: str | None = None) -> list[dict[str, Any]]:
    return [r for r in s.check_runs(sha) if r["status"] == "completed"]


async def _review(client: Any, s: PullScenario) -> dict[str, Any]:
    body, headers = s.delivery()
    assert (await client.post("/webhook", data=body, headers=headers)).status == 202
    await wait_for(lambda: idle(client) and bool(_completed_runs(s)))
    (run,) = s.check_runs()
    return run


@pytest.mark.parametrize(
    ("files", "diff", "config", "conclusion"),
    [
        # The bundled example: ruff's F821 (undefined COUPONS) is a HIGH finding.
        (None, None, "check:\n  fail_on: high\n", "failure"),
        (CLEAN_FILES, CLEAN_DIFF, "check:\n  fail_on: high\n", "success"),
        # No fail_on: the check reports the review, it does not gate.
        (None, None, "", "success"),
    ],
    ids=["high-finding", "no-high-finding", "no-fail-on"],
)
async def test_fail_on_high_fails_with_a_high_finding_and_passes_without(
    aiohttp_client: Any,
    fake_github: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    files: dict[str, bytes] | None,
    diff: str | None,
    config: str,
    conclusion: str,
) -> None:
    s = pull_scenario(fake_github, files=files, diff=diff, config=config)
    client = await serve(aiohttp_client, fake_github, app_private_key, tmp_path)
    run = await _review(client, s)
    assert run["conclusion"] == conclusion, run["output"]
    highs = [c for c in s.comments if c["body"].startswith(("**HIGH", "**CRITICAL"))]
    assert bool(highs) == (files is None)
    if conclusion == "failure":
        assert "at or above high" in run["output"]["title"]
        assert "check.fail_on: high" in run["output"]["summary"]
    assert fake_github.invalid_requests == []


async def test_a_held_finding_counts_toward_fail_on(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    # ruff's S608 (SQL built from a string) is a security finding: held for a person.
    s = pull_scenario(
        fake_github, files=SQL_FILES, diff=SQL_DIFF, config="check:\n  fail_on: medium\n"
    )
    client = await serve(aiohttp_client, fake_github, app_private_key, tmp_path)
    run = await _review(client, s)
    assert s.comments == []
    assert "1 held" in run["output"]["title"]
    assert run["conclusion"] == "failure"


async def test_annotations_match_the_posted_findings_one_for_one(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    s = pull_scenario(fake_github)
    client = await serve(aiohttp_client, fake_github, app_private_key, tmp_path)
    run = await _review(client, s)
    annotations = fake_github.annotations(run["id"])
    assert s.comments and len(annotations) == len(s.comments)
    assert run["output"]["annotations_count"] == len(s.comments)

    def place(path: str, start: int | None, end: int) -> tuple[str, int, int]:
        return (path, start or end, end)

    posted = sorted(place(c["path"], c["start_line"], c["line"]) for c in s.comments)
    annotated = sorted(place(a["path"], a["start_line"], a["end_line"]) for a in annotations)
    assert posted == annotated
    titles = sorted(a["title"].split(": ", 1)[1] for a in annotations)
    headings = sorted(c["body"].split("\n", 1)[0].split("**: ", 1)[1] for c in s.comments)
    assert titles == headings
    levels = {a["annotation_level"] for a in annotations}
    assert levels <= {"notice", "warning", "failure"} and "failure" in levels
    assert run["output"]["text"].startswith("### Per file")
    assert "Cost:" in run["output"]["text"]
    assert fake_github.invalid_requests == []


async def test_more_than_fifty_annotations_go_fifty_to_a_request(
    fake_github: FakeGitHub, app_private_key: str
) -> None:
    fake_github.add_repo("o/r")
    fast = RetryPolicy(attempts=1, initial_wait=0.0, max_wait=0.0, jitter=0.0)
    async with aiohttp.ClientSession() as session:
        app = GitHubApp(
            session,
            app_id=APP_ID,
            private_key=app_private_key,
            base_url=fake_github.base_url,
            retry=fast,
        )
        gh = await app.installation(1)
        check = CheckRun(gh, "o/r", "a" * 40, "prwarden")
        await check.start()
        annotations = tuple(
            {
                "path": "f.py",
                "start_line": n,
                "end_line": n,
                "annotation_level": "warning",
                "message": f"finding {n}",
            }
            for n in range(1, 122)
        )
        await check.report(CheckReport("failure", "121 findings", "summary", "text", annotations))
    updates = fake_github.requests_for("checks/update")
    sent = [len(r.json["output"].get("annotations", [])) for r in updates]
    assert max(sent) <= ANNOTATIONS_PER_REQUEST and sum(sent) == 121
    assert [r.json.get("status") for r in updates][-1] == "completed"
    assert all(r.json.get("conclusion") is None for r in updates[:-1])
    assert fake_github.annotations(check.id or 0) == list(annotations)
    assert fake_github.invalid_requests == []


def _pull_at(gh: FakeGitHub, *, repo: str, head_sha: str, installation: int) -> PullScenario:
    """The bundled example as PR #2 of ``repo`` with head commit ``head_sha``."""
    event = payload("pull_request.opened.2")
    number = int(event["number"])
    base = gh.add_commit(repo, {"README.md": b"base\n"}, branch="main")
    gh.add_commit(repo, example_files(), sha=head_sha)
    gh.add_pull(repo, number, diff=example_diff(), head_sha=head_sha, base_sha=base)
    gh.installations.add(installation)
    event["repository"]["full_name"] = repo
    event["installation"]["id"] = installation
    event["pull_request"]["head"]["sha"] = head_sha
    event["pull_request"]["base"]["sha"] = base
    return PullScenario(gh, repo, number, head_sha, base, event)


async def _rerun_gives_a_new_review(client: Any, s: PullScenario, event: str, data: Any) -> None:
    first = copy.deepcopy(await _review(client, s))
    assert len(s.reviews) == 1
    raw = json.dumps(data).encode()
    response = await client.post("/webhook", data=raw, headers=delivery_headers(event, raw))
    assert response.status == 202, await response.text()
    await wait_for(lambda: idle(client) and len(_completed_runs(s)) == 2)
    assert len(s.reviews) == 2
    assert {r["commit_id"] for r in s.reviews} == {s.head_sha}
    assert "run=rerun-" in s.reviews[1]["body"]
    # The forced review had its own check run, in progress first; the finished one is untouched.
    older, newer = sorted(s.check_runs(), key=lambda r: r["id"])
    assert older == first
    created = [r for r in s.gh.requests_for("checks/create") if r.json["head_sha"] == s.head_sha]
    assert [r.json["status"] for r in created] == ["in_progress", "in_progress"]
    assert newer["status"] == "completed" and newer["conclusion"] == first["conclusion"]
    assert s.gh.invalid_requests == []


async def test_check_run_rerequested_from_githubs_example_reviews_that_head_again(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    data = payload("check_run.rerequested.1")
    # GitHub's example names no pull request: prwarden asks for the PRs of the commit.
    assert data["check_run"]["pull_requests"] == []
    s = _pull_at(
        fake_github,
        repo=data["repository"]["full_name"],
        head_sha=data["check_run"]["head_sha"],
        installation=data["installation"]["id"],
    )
    client = await serve(aiohttp_client, fake_github, app_private_key, tmp_path)
    await _rerun_gives_a_new_review(client, s, "check_run", data)
    assert fake_github.requests_for("repos/list-pull-requests-associated-with-commit")


async def test_check_suite_rerequested_from_githubs_example_reviews_that_head_again(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    data = payload("check_suite.rerequested.1")
    (pr,) = data["check_suite"]["pull_requests"]
    s = _pull_at(
        fake_github,
        repo=data["repository"]["full_name"],
        head_sha=data["check_suite"]["head_sha"],
        installation=data["installation"]["id"],
    )
    assert s.number == pr["number"]
    client = await serve(aiohttp_client, fake_github, app_private_key, tmp_path)
    await _rerun_gives_a_new_review(client, s, "check_suite", data)


@pytest.mark.parametrize(
    "change",
    [
        {"head_sha": "not-a-sha"},
        {"head_sha": None},
        {"pull_requests": "oops"},
    ],
)
async def test_a_malformed_rerun_delivery_is_answered_and_queues_nothing_wrong(
    aiohttp_client: Any,
    fake_github: FakeGitHub,
    app_private_key: str,
    tmp_path: Path,
    change: dict[str, Any],
) -> None:
    data = payload("check_suite.rerequested.1")
    data["check_suite"].update(change)
    client = await serve(aiohttp_client, fake_github, app_private_key, tmp_path)
    raw = json.dumps(data).encode()
    response = await client.post("/webhook", data=raw, headers=delivery_headers("check_suite", raw))
    assert response.status in (200, 202)
    await wait_for(lambda: idle(client))
    assert fake_github.requests_for("pulls/create-review") == []


async def test_a_forced_review_that_is_retried_keeps_one_check_run_of_its_own(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    data = payload("check_suite.rerequested.1")
    s = _pull_at(
        fake_github,
        repo=data["repository"]["full_name"],
        head_sha=data["check_suite"]["head_sha"],
        installation=data["installation"]["id"],
    )
    client = await serve(aiohttp_client, fake_github, app_private_key, tmp_path, retry_delay=0.0)
    first = copy.deepcopy(await _review(client, s))
    # GitHub fails the forced review's post once: the job is retried.
    fake_github.fail_next("POST", r"/pulls/\d+/reviews$", 502)
    raw = json.dumps(data).encode()
    response = await client.post("/webhook", data=raw, headers=delivery_headers("check_suite", raw))
    assert response.status == 202
    await wait_for(lambda: idle(client) and len(s.reviews) == 2)
    runs = sorted(s.check_runs(), key=lambda r: r["id"])
    assert len(runs) == 2 and runs[0] == first
    assert all(r["status"] == "completed" for r in runs)
    assert len(fake_github.requests_for("pulls/create-review")) == 3  # one refused, retried
