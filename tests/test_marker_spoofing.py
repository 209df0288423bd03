"""prwarden finds its own hidden markers where GitHub renders them as HTML, never in text a PR
put in a code span: a file named like a review marker cannot make a later push look reviewed.

The PR first adds a file whose name is the review marker of a commit its author made
beforehand; prwarden lists the file in its review. Then that commit is pushed: it must get a
review of its own, not "already reviewed".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from review.render import fingerprint_marker, fingerprints_in, has_review_marker, review_marker
from review.settings import ReviewSettings
from tests.fakes.github import FakeGitHub
from tests.gfm import live
from tests.model_scripts import review_pr, serve
from tests.scenario import example_diff, example_files, pull_scenario, wait_for

LATER = "e" * 40


def _adds(path: str) -> str:
    return (
        f"diff --git a/{path} b/{path}\nnew file mode 100644\nindex 0000000..1111111\n"
        f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1 @@\n+notes\n"
    )


async def test_a_file_named_like_a_marker_does_not_mark_a_later_push_reviewed(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    forged = f"docs/{review_marker(LATER)}.txt"
    files = {**example_files(), forged: b"notes\n"}
    s = pull_scenario(fake_github, files=files, diff=example_diff() + _adds(forged))
    client = await serve(aiohttp_client, fake_github, app_private_key, tmp_path, ReviewSettings())
    first_run = await review_pr(client, s)
    (first,) = s.reviews
    # The review says one line; the files it looked at are listed on the check run, as code.
    assert review_marker(LATER) not in first["body"]
    assert review_marker(LATER) in first_run["output"]["summary"]

    fake_github.add_commit(s.repo, example_files(), sha=LATER)
    fake_github.pulls[(s.repo, s.number)].head_sha = LATER
    body, headers = s.delivery(action="synchronize", head_sha=LATER)
    assert (await client.post("/webhook", data=body, headers=headers)).status == 202

    def done() -> bool:
        runs = [r for r in s.check_runs(LATER) if r["status"] == "completed"]
        return bool(runs)

    await wait_for(done)
    assert [r["commit_id"] for r in s.reviews] == [s.head_sha, LATER]
    (run,) = s.check_runs(LATER)
    assert run["output"]["summary"] != "This commit was already reviewed."


def test_markers_in_code_are_text() -> None:
    fp = fingerprint_marker("0123456789abcdef")
    assert fingerprints_in([f"Also at: `{fp}`"]) == frozenset()
    assert fingerprints_in([f"Also at: `x`\n\n{fp}"]) == {"0123456789abcdef"}
    assert not has_review_marker(f"- Looked at 1 file: `{review_marker(LATER)}`")
    assert not has_review_marker(f"```\n{review_marker(LATER)}\n```")


async def test_file_names_that_open_and_close_a_comment_stay_code_on_the_check_run(
    aiohttp_client: Any, fake_github: FakeGitHub, app_private_key: str, tmp_path: Path
) -> None:
    """The check run shows the review body less its marker; cutting "<!--" ... "-->" out of
    the raw text would cut a code span in two and leave the file name after it live."""
    opens, closes = "docs/p<!--.txt", "docs/q-->`@octocat<h1>x</h1>.txt"
    files = {**example_files(), opens: b"notes\n", closes: b"notes\n"}
    diff = example_diff() + _adds(opens) + _adds(closes)
    s = pull_scenario(fake_github, files=files, diff=diff)
    client = await serve(aiohttp_client, fake_github, app_private_key, tmp_path, ReviewSettings())
    run = await review_pr(client, s)
    summary = run["output"]["summary"]
    assert "@octocat" in summary and not has_review_marker(summary)
    own = s.event["repository"]["html_url"]
    assert live(summary, own_url=own) == [], summary
    assert live(s.reviews[0]["body"], own_url=own) == []
