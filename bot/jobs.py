"""The job runner: one queued job in, GitHub brought to the state it asks for.

This is the second of the two edges where errors are caught broadly: a rate limit or a
passing GitHub fault reschedules the job (its check run says it is waiting); after
``max_attempts`` the job fails visibly, with a ``failure`` check run that gives the reason.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Literal

from bot.budget import release_budget
from bot.commands import REFUSED, post_held, react, rerun_reviews, run_command
from bot.config import Settings
from bot.context import AppContext
from bot.feedback_sweep import sweep_feedback
from bot.github import GitHubApp, GitHubClient, TokenScope
from bot.logs import job_fields, log_context
from bot.metrics import JobCrash
from bot.publisher import CheckRun
from bot.review_job import ReviewJob
from bot.workspace import Workspaces
from cache.queue import SUPERSEDED_KIND, Job
from prwarden.errors import BudgetContended, GitHubError, PrwardenError, RateLimited
from review.render import code_span

log = logging.getLogger("prwarden.jobs")

SUPERSEDED_SUMMARY = "Superseded by a newer push."


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """What the worker should do with the job: done, retry after ``delay`` s, or failed."""

    state: Literal["done", "retry", "failed"]
    reason: str = ""
    delay: float = 0.0


# The permissions each kind of job uses (a subset of app.yml's); its token is asked for them
# and for the job's one repository, nothing more.
_REVIEW = {"pull_requests": "write", "checks": "write", "contents": "read", "metadata": "read"}
JOB_PERMISSIONS: dict[str, dict[str, str]] = {
    "review": _REVIEW,
    "command": {"pull_requests": "write", "metadata": "read"},
    "feedback": {"pull_requests": "read", "contents": "read", "metadata": "read"},
    "post_held": {"pull_requests": "write", "metadata": "read"},
    "rerequest": {"pull_requests": "read", "metadata": "read"},
}


def job_scope(job: Job) -> TokenScope:
    """The installation token a job needs: its repository, its kind's permissions."""
    return TokenScope(repo=job.repo, permissions=JOB_PERMISSIONS.get(job.kind, _REVIEW))


class JobRunner:
    def __init__(self, ctx: AppContext, app: GitHubApp, workspaces: Workspaces):
        self.ctx = ctx
        self.app = app
        self.workspaces = workspaces
        self.reviews = ReviewJob(ctx, workspaces)

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    async def __call__(self, job: Job) -> JobOutcome:
        with log_context(**job_fields(job)):
            log.info("job started", extra={"attempt": job.attempts + 1})
            if job.attempts >= self.settings.max_attempts:
                # Only a lease that ran out adds attempts without this runner deciding: the
                # worker died (killed, out of memory) every time it ran this job. Stop here.
                self.ctx.metrics.job_crashes.labels(cause=JobCrash.WORKER_LOST).inc()
                return await self._fail(
                    job,
                    f"stopped after {job.attempts} attempts: the server running this job "
                    "stopped before finishing it each time (killed or out of memory)",
                )
            outcome = await self._run(job)
            log.info("job finished", extra={"state": outcome.state, "reason": outcome.reason})
            return outcome

    async def _run(self, job: Job) -> JobOutcome:
        try:
            gh = await self.app.installation(job.installation_id, job_scope(job))
            if job.kind == "review":
                try:
                    await self.reviews.run(gh, job)
                finally:
                    release_budget(self.ctx, job.id)
                    await self.workspaces.release(job.id)
            elif job.kind == "command":
                await run_command(self.ctx, gh, job)
            elif job.kind == "feedback":
                await sweep_feedback(self.ctx, gh, job.repo, job.pr_number, head_sha=job.head_sha)
            elif job.kind == "post_held":
                await post_held(self.ctx, gh, job)
            elif job.kind == SUPERSEDED_KIND:
                await self._close_superseded(gh, job)
            elif job.kind == "rerequest":
                await rerun_reviews(self.ctx, gh, job)
            else:
                raise PrwardenError(f"unknown job kind {job.kind!r}")
        except RateLimited as exc:
            return await self._retry_later(job, exc.retry_after, f"GitHub rate limit: {exc}")
        except BudgetContended as exc:
            return await self._retry_later(job, self.settings.retry_delay, str(exc))
        except GitHubError as exc:
            if exc.retryable:
                delay = min(2**job.attempts * self.settings.retry_delay, 600.0)
                return await self._retry_later(job, delay, str(exc))
            return await self._fail(job, f"GitHub refused a request ({exc.status_code}): {exc}")
        except PrwardenError as exc:
            return await self._fail(job, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # the job boundary: however a job ends, its check run says so
            log.exception("job crashed", extra={"job_id": job.id})
            self.ctx.metrics.job_crashes.labels(cause=JobCrash.EXCEPTION).inc()
            return await self._fail(
                job,
                f"prwarden hit an unexpected error ({type(exc).__name__}); the details are in "
                "the server's log",
            )
        return JobOutcome("done")

    async def _close_superseded(self, gh: GitHubClient, job: Job) -> None:
        """A review superseded after it started: its check run must not stay in progress."""
        if job.payload.get("kind") != "review":
            return
        if self.ctx.queue.has_live("review", job.repo, job.pr_number, job.head_sha):
            return  # a live review of this very head owns its check run now
        check = CheckRun(gh, job.repo, job.head_sha, self.settings.check_name)
        if await check.close_if_open("neutral", "Superseded", SUPERSEDED_SUMMARY):
            log.info("closed the check run of a superseded review", extra=job_fields(job))

    async def _retry_later(self, job: Job, delay: float, reason: str) -> JobOutcome:
        if job.attempts + 1 >= self.settings.max_attempts:
            return await self._fail(job, f"gave up after {job.attempts + 1} attempts: {reason}")
        if job.kind == "review":
            when = time.strftime("%H:%M:%S UTC", time.gmtime(self.ctx.clock() + delay))
            # Error text may quote the PR (a path, GitHub's message): it is shown as code.
            await self._check_note(
                job, "Waiting to retry", f"{code_span(reason)}. Retrying at {when}."
            )
        return JobOutcome("retry", reason, delay)

    async def _fail(self, job: Job, reason: str) -> JobOutcome:
        log.error("job failed", extra={"job_id": job.id, "reason": reason})
        self.ctx.metrics.reviews.labels(mode="none", outcome="failed").inc()
        if job.kind == "review":
            try:
                gh = await self.app.installation(job.installation_id, job_scope(job))
                check = CheckRun(gh, job.repo, job.head_sha, self.settings.check_name)
                await check.finish("failure", "Review failed", code_span(reason))
                if job.payload.get("action") == "command":
                    await react(gh, job, REFUSED)
            except Exception:
                log.exception("could not report the failure on the check run")
        return JobOutcome("failed", reason)

    async def _check_note(self, job: Job, title: str, summary: str) -> None:
        try:
            gh = await self.app.installation(job.installation_id, job_scope(job))
            check = CheckRun(gh, job.repo, job.head_sha, self.settings.check_name)
            await check.start(title, summary)
        except GitHubError:
            log.warning("could not update the check run")
