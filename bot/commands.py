"""Jobs a person asked for: slash commands on a PR, and posting an approved held finding."""

from __future__ import annotations

import logging

from bot.context import AppContext
from bot.github import GitHubClient
from cache import deliveries
from cache.held import HeldFinding, HeldFindings
from cache.queue import Job
from prwarden.errors import GitHubError
from review.diff import parse_diff
from review.findings import AnnotatedFinding, Finding, fingerprint
from review.render import code_span, comment_body

log = logging.getLogger("prwarden.jobs")

WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})

# Every slash command and what it does: the parser's vocabulary and the help reply.
COMMAND_HELP = {
    "review": "review the PR's head again, with a check run of its own",
    "pause": "stop reviewing this pull request on new pushes",
    "resume": "review this pull request on new pushes again",
    "help": "list these commands",
}
ACCEPTED, DONE, REFUSED = "eyes", "rocket", "confused"


def help_text() -> str:
    lines = [f"- `/prwarden {name}`: {what}" for name, what in COMMAND_HELP.items()]
    return (
        "**prwarden** commands (for people with write access; put the command alone on the "
        "first line of a comment):\n\n"
        + "\n".join(lines)
        + "\n\nTo turn reviews off for the whole repository, set `enabled: false` in "
        "`.github/prwarden.yml` on the default branch."
    )


async def react(gh: GitHubClient, job: Job, content: str) -> None:
    """React to the comment that carried the command, if it is still there."""
    comment_id = job.payload.get("comment_id")
    if not isinstance(comment_id, int) or isinstance(comment_id, bool):
        return
    try:
        await gh.react_to_issue_comment(job.repo, comment_id, content)
    except GitHubError as exc:
        if exc.retryable:
            raise
        log.info("could not react to the command", extra={"error": str(exc)})


async def run_command(ctx: AppContext, gh: GitHubClient, job: Job) -> None:
    command = str(job.payload.get("command"))
    user = str(job.payload.get("user"))
    permission = await gh.get_permission(job.repo, user)
    if permission not in WRITE_PERMISSIONS or command not in COMMAND_HELP:
        # A reaction only: a reply to anyone who asks could be used to make the bot spam.
        log.info("command refused", extra={"user": user, "command": command})
        await react(gh, job, REFUSED)
        return
    await react(gh, job, ACCEPTED)
    if command == "help":
        await gh.create_issue_comment(job.repo, job.pr_number, help_text())
        await react(gh, job, DONE)
        return
    if command in ("pause", "resume"):
        pause = command == "pause"
        deliveries.set_pull_paused(ctx.db, job.repo, job.pr_number, pause, by=user)
        await gh.create_issue_comment(
            job.repo,
            job.pr_number,
            f"prwarden reviews are {'paused' if pause else 'resumed'} for this pull request"
            + (" (`/prwarden resume` turns them back on)." if pause else "."),
        )
        await react(gh, job, DONE)
        return
    pull = await gh.get_pull(job.repo, job.pr_number)
    if pull.get("state") != "open":
        await react(gh, job, REFUSED)
        return
    ctx.queue.enqueue(
        "review",
        installation_id=job.installation_id,
        repo=job.repo,
        pr_number=job.pr_number,
        head_sha=str(pull["head"]["sha"]),
        payload={"action": "command", "comment_id": job.payload.get("comment_id")},
    )
    ctx.wake_workers()


async def rerun_reviews(ctx: AppContext, gh: GitHubClient, job: Job) -> None:
    """The Re-run button on a check whose delivery named no PR: review each open PR whose
    head is that commit, as a forced review."""
    for pull in await gh.pulls_of_commit(job.repo, job.head_sha):
        head = str((pull.get("head") or {}).get("sha") or "")
        number = pull.get("number")
        if pull.get("state") != "open" or head != job.head_sha or not isinstance(number, int):
            continue
        ctx.queue.enqueue(
            "review",
            installation_id=job.installation_id,
            repo=job.repo,
            pr_number=number,
            head_sha=head,
            payload={"action": "rerequested"},
        )
    ctx.wake_workers()


def enqueue_post(ctx: AppContext, item: HeldFinding) -> int:
    """Queue the job that posts an approved held finding on its PR."""
    enqueued = ctx.queue.enqueue(
        "post_held",
        installation_id=item.installation_id,
        repo=item.repo,
        pr_number=item.pr_number,
        head_sha=f"held:{item.id}",
        payload={"held_id": item.id},
        dedupe_key=f"post_held:{item.id}",
    )
    ctx.wake_workers()
    return enqueued.job_id


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
