"""Jobs a person asked for: slash commands on a PR, and posting an approved held finding."""

from __future__ import annotations

import logging

from bot.context import AppContext
from bot.github import GitHubClient
from cache import deliveries
from cache.held import HeldFindings
from cache.queue import Job
from review.diff import parse_diff
from review.findings import AnnotatedFinding, Finding, fingerprint
from review.render import code_span, comment_body

log = logging.getLogger("prwarden.jobs")

WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})


async def run_command(ctx: AppContext, gh: GitHubClient, job: Job) -> None:
    command = str(job.payload.get("command"))
    user = str(job.payload.get("user"))
    permission = await gh.get_permission(job.repo, user)
    if permission not in WRITE_PERMISSIONS:
        log.info("command refused", extra={"user": user, "command": command})
        return
    if command in ("pause", "resume"):
        deliveries.set_paused(ctx.db, job.repo, command == "pause", by=user)
        await gh.create_issue_comment(
            job.repo,
            job.pr_number,
            f"prwarden reviews are {'paused' if command == 'pause' else 'resumed'} "
            "for this repository.",
        )
        return
    pull = await gh.get_pull(job.repo, job.pr_number)
    ctx.queue.enqueue(
        "review",
        installation_id=job.installation_id,
        repo=job.repo,
        pr_number=job.pr_number,
        head_sha=str(pull["head"]["sha"]),
        payload={"action": "command"},
    )
    ctx.wake_workers()


async def post_held(ctx: AppContext, gh: GitHubClient, job: Job) -> None:
    held = HeldFindings(ctx.db, clock=ctx.clock)
    held_id = int(job.payload["held_id"])
    item = held.get(held_id)
    if item is None or item.state != "approved":
        return
    finding = Finding.from_dict(item.finding)
    diff = parse_diff(await gh.get_diff(job.repo, job.pr_number))
    changed = diff.file(finding.path)
    pull = await gh.get_pull(job.repo, job.pr_number)
    if changed is None or not changed.commentable(finding.line):
        await gh.create_issue_comment(
            job.repo,
            job.pr_number,
            f"A held finding on {code_span(f'{finding.path}:{finding.line}')} was approved, "
            "but that line "
            "is no longer part of the diff.",
        )
        held.mark_posted(held_id, 0)
        return
    af = AnnotatedFinding(
        finding, fingerprint=fingerprint(finding, changed.added.get(finding.line, ""))
    )
    comment = await gh.create_review_comment(
        job.repo,
        job.pr_number,
        commit_id=str(pull["head"]["sha"]),
        path=finding.path,
        line=finding.line,
        side="RIGHT",
        body=comment_body(af, diff),
    )
    held.mark_posted(held_id, int(comment["id"]))
