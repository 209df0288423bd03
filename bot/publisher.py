"""Publishing on GitHub what ``bot.publication`` planned: one review per head SHA, the summary
comment and the check run. The I/O only; every decision is made in the plan.

Idempotency rests on GitHub, not on local state: the review body carries a hidden marker with
the head SHA, so before posting the bot looks for its own review with that marker; the summary
comment is found by its marker among the bot's own comments; check runs are found by name and
head SHA, and an unfinished one is taken up while a finished one is never rewritten. A 422 for
an anchor GitHub will not take is retried with the anchors re-checked against a freshly fetched
diff, then with the findings listed in the body; the review itself is never lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bot.github import GitHubClient
from bot.publication import CheckReport, Conclusion
from prwarden.errors import GitHubError
from review import render
from review.diff import Diff, parse_diff
from review.findings import AnnotatedFinding
from review.request import ReviewResult

log = logging.getLogger("prwarden.publisher")

MAX_SUMMARY = 60_000


async def find_own_review(
    gh: GitHubClient, repo: str, number: int, head_sha: str, bot_login: str, run: str = ""
) -> dict[str, Any] | None:
    for review in await gh.list_reviews(repo, number):
        login = (review.get("user") or {}).get("login", "")
        body = review.get("body") or ""
        if login == bot_login and render.carries_review_marker(body, head_sha, run):
            return review
    return None


async def has_own_review(gh: GitHubClient, repo: str, number: int, bot_login: str) -> bool:
    """Whether the bot has posted a review on this PR, for any head SHA."""
    return any(
        (review.get("user") or {}).get("login", "") == bot_login
        and render.has_review_marker(review.get("body") or "")
        for review in await gh.list_reviews(repo, number)
    )


async def existing_fingerprints(
    gh: GitHubClient, repo: str, number: int, bot_login: str
) -> tuple[frozenset[str], list[dict[str, Any]]]:
    comments = await gh.list_review_comments(repo, number)
    own = [c for c in comments if (c.get("user") or {}).get("login", "") == bot_login]
    return render.fingerprints_in(c.get("body") or "" for c in own), own


def _comment(af: AnnotatedFinding, diff: Diff) -> dict[str, Any]:
    f = af.finding
    comment: dict[str, Any] = {
        "path": f.path,
        "line": f.line,
        "side": "RIGHT",
        "body": render.comment_body(af, diff),
    }
    if f.start_line is not None and f.start_line < f.line:
        comment["start_line"] = f.start_line
        comment["start_side"] = "RIGHT"
    return comment


@dataclass(frozen=True, slots=True)
class Posted:
    review_id: int
    posted: tuple[AnnotatedFinding, ...]
    refused: tuple[AnnotatedFinding, ...]


async def post_review(
    gh: GitHubClient,
    repo: str,
    number: int,
    *,
    head_sha: str,
    result: ReviewResult,
    diff: Diff,
    event: str,
    body: str,
) -> Posted:
    posted = list(result.posted)
    try:
        review = await gh.create_review(
            repo,
            number,
            commit_id=head_sha,
            event=event,
            body=body,
            comments=[_comment(af, diff) for af in posted],
        )
        return Posted(int(review["id"]), tuple(posted), ())
    except GitHubError as exc:
        if exc.status_code != 422 or not posted:
            raise
        log.warning("GitHub refused an anchor; re-checking against a fresh diff")
    fresh = parse_diff(await gh.get_diff(repo, number))
    keep = [af for af in posted if _still_anchored(af, fresh)]
    refused = [af for af in posted if af not in keep]
    try:
        review = await gh.create_review(
            repo,
            number,
            commit_id=head_sha,
            event=event,
            body=body + _refused_note(refused),
            comments=[_comment(af, fresh) for af in keep],
        )
        return Posted(int(review["id"]), tuple(keep), tuple(refused))
    except GitHubError as exc:
        if exc.status_code != 422:
            raise
    review = await gh.create_review(
        repo,
        number,
        commit_id=head_sha,
        event=event,
        body=body + _refused_note(posted),
        comments=[],
    )
    return Posted(int(review["id"]), (), tuple(posted))


def _still_anchored(af: AnnotatedFinding, diff: Diff) -> bool:
    f = diff.file(af.finding.path)
    if f is None:
        return False
    start = af.finding.start_line
    if start is not None and start < af.finding.line:
        return f.range_commentable(start, af.finding.line)
    return f.commentable(af.finding.line)


def _refused_note(refused: list[AnnotatedFinding]) -> str:
    if not refused:
        return ""
    lines = ["", "", "GitHub would not anchor these findings on the diff:"]
    for af in refused:
        where = render.code_span(f"{af.finding.path}:{af.finding.line}")
        lines.append(f"- {where} {render.code_span(af.finding.title)}")
    return "\n".join(lines)


class CheckRun:
    """The check run for one head SHA, found or created once, updated as the job goes.

    A run that is already completed is never rewritten: a new review of that head (a forced
    one, or one after a failure) gets a check run of its own, in progress until it finishes.
    """

    def __init__(self, gh: GitHubClient, repo: str, head_sha: str, name: str):
        self.gh, self.repo, self.head_sha, self.name = gh, repo, head_sha, name
        self.id: int | None = None
        self.completed = False

    async def newest(self) -> dict[str, Any] | None:
        runs = await self.gh.list_check_runs(self.repo, self.head_sha, name=self.name)
        return max(runs, key=lambda r: int(r["id"])) if runs else None

    async def start(self, title: str = "Reviewing", summary: str = "") -> int:
        newest = await self.newest()
        if newest is not None and newest.get("status") != "completed":
            self.id = int(newest["id"])
            await self.update(title, summary or "Review in progress.")
            return self.id
        self.completed = False
        self.id = await self.gh.create_check_run(
            self.repo,
            head_sha=self.head_sha,
            name=self.name,
            status="in_progress",
            output={"title": title, "summary": summary or "Review in progress."},
        )
        return self.id

    async def close_if_open(self, conclusion: Conclusion, title: str, summary: str) -> bool:
        """Complete the newest check run of the head if one is still open; never create one."""
        runs = await self.gh.list_check_runs(self.repo, self.head_sha, name=self.name)
        if not runs:
            return False
        newest = max(runs, key=lambda r: int(r["id"]))
        if newest.get("status") == "completed":
            return False
        self.id = int(newest["id"])
        await self.finish(conclusion, title, summary)
        return True

    async def update(self, title: str, summary: str) -> None:
        assert self.id is not None
        await self.gh.update_check_run(
            self.repo,
            self.id,
            status="in_progress",
            output={"title": title[:200], "summary": summary[:MAX_SUMMARY]},
        )

    async def finish(self, conclusion: Conclusion, title: str, summary: str) -> None:
        await self.report(CheckReport(conclusion, title, summary, ""))

    async def report(self, report: CheckReport) -> None:
        """Complete the run; annotations go 50 to a request, the last with the conclusion."""
        if self.id is None or self.completed:
            await self.start()
        assert self.id is not None
        output: dict[str, Any] = {
            "title": report.title[:200],
            "summary": report.summary[:MAX_SUMMARY],
        }
        if report.text:
            output["text"] = report.text[:MAX_SUMMARY]
        batches = report.batches()
        for batch in batches[:-1]:
            await self.gh.update_check_run(
                self.repo,
                self.id,
                status="in_progress",
                output={**output, "annotations": list(batch)},
            )
        last = {**output, "annotations": list(batches[-1])} if batches[-1] else output
        await self.gh.update_check_run(
            self.repo, self.id, status="completed", conclusion=report.conclusion, output=last
        )
        self.completed = True


async def find_summary(
    gh: GitHubClient, repo: str, number: int, bot_login: str
) -> dict[str, Any] | None:
    """prwarden's summary comment on the PR (its own, by marker), or None."""
    for comment in await gh.list_issue_comments(repo, number):
        login = (comment.get("user") or {}).get("login", "")
        if login == bot_login and render.is_summary(str(comment.get("body") or "")):
            return comment
    return None


async def write_summary(
    gh: GitHubClient, repo: str, number: int, body: str, existing: dict[str, Any] | None
) -> dict[str, Any]:
    """Edit the summary in place, or create it when there is none (or it was deleted)."""
    if existing is not None:
        try:
            return await gh.update_issue_comment(repo, int(existing["id"]), body)
        except GitHubError as exc:
            if exc.status_code != 404:
                raise
    return await gh.create_issue_comment(repo, number, body)
