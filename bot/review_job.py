"""The review job: fetch the PR, run the pipeline, publish the result and record it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.budget import BudgetState, budget_state
from bot.commands import DONE, react
from bot.config import Settings
from bot.console.evidence import hunk_excerpt
from bot.context import AppContext
from bot.github import GitHubClient
from bot.publication import plan_report, plan_review
from bot.publisher import (
    CheckRun,
    existing_fingerprints,
    find_own_review,
    find_summary,
    has_own_review,
    post_review,
    write_summary,
)
from bot.workspace import Workspaces
from cache import feedback, runs
from cache.held import HeldFindings
from cache.queue import Job
from prwarden import CONFIG_PATH
from prwarden.errors import BudgetContended, FileTooLarge, GitHubError
from review import render
from review.anchors import anchored_code
from review.config import RepoConfig, load_repo_config, oversized
from review.diff import Diff
from review.findings import AnnotatedFinding, Reason
from review.pipeline import run_review
from review.request import CallContext, PRInfo, ReviewRequest, ReviewResult
from review.summary import Current, links_by_fingerprint
from security.secrets import redact_found_secrets

log = logging.getLogger("prwarden.jobs")


class ReviewJob:
    """Brings one PR head to exactly one review and one completed check run."""

    def __init__(self, ctx: AppContext, workspaces: Workspaces):
        self.ctx = ctx
        self.workspaces = workspaces

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    async def run(self, gh: GitHubClient, job: Job) -> None:
        await self._review(gh, job)
        if job.payload.get("action") == "command":
            await react(gh, job, DONE)

    async def _review(self, gh: GitHubClient, job: Job) -> None:
        s = self.settings
        check = CheckRun(gh, job.repo, job.head_sha, s.check_name)
        # /prwarden review and the Re-run button ask for a fresh review even of a reviewed
        # head (say, after the model was down); its own marker keeps that run idempotent too,
        # and it gets a check run of its own.
        run_tag = forced_run_tag(job)
        existing = await find_own_review(
            gh, job.repo, job.pr_number, job.head_sha, s.bot_login, run_tag
        )
        if existing is not None:
            newest = await check.newest()
            if newest is None or newest.get("status") != "completed":
                await check.start()
                await check.finish("success", "Reviewed", "This commit was already reviewed.")
            return
        # A finished check run is never rewritten: start() opens a new one when the newest is
        # completed (a forced review of a reviewed head), and takes up an unfinished one
        # (an earlier attempt of this job that is being retried).
        await check.start()
        pull = await gh.get_pull(job.repo, job.pr_number)
        if pull.get("head", {}).get("sha") != job.head_sha or pull.get("state") != "open":
            await check.finish(
                "neutral", "Superseded", "A newer push or a closed PR replaced this."
            )
            self._catch_up(job, pull)
            return
        # What people did with earlier comments is read back by a job of its own, beside
        # this review rather than in front of it.
        self.ctx.queue.enqueue(
            "feedback",
            installation_id=job.installation_id,
            repo=job.repo,
            pr_number=job.pr_number,
            head_sha=job.head_sha,
            payload={"merged": False},
        )
        self.ctx.wake_workers()
        # At the spend ceiling the review still runs, with no model: a cached review of this
        # very change costs nothing and is served; anything else waits for the budget.
        budget = budget_state(self.ctx, job.installation_id, job.repo, job_id=job.id)
        if budget.contended and s.review.model_configured:
            raise BudgetContended(
                f"the rest of the {budget.which} is held by reviews in flight", which=budget.which
            )
        over_budget = budget.exhausted and s.review.model_configured
        base_sha = str(pull["base"]["sha"])
        try:
            config, problems = load_repo_config(await gh.get_file(job.repo, CONFIG_PATH, base_sha))
        except FileTooLarge as exc:
            config, problems = RepoConfig(), (oversized(exc.size),)
        if not config.enabled:
            await check.finish("neutral", "Disabled", f"`enabled: false` in {CONFIG_PATH}.")
            return
        # Independent fetches, side by side: the diff, the head's files, the PR's comments, the
        # diff since the last reviewed head and the commit messages (untrusted, scanned).
        diff_text, workspace, (fingerprints, _), since, messages = await asyncio.gather(
            gh.get_diff(job.repo, job.pr_number),
            self.workspaces.fetch(gh, job.repo, job.head_sha, holder=job.id),
            existing_fingerprints(gh, job.repo, job.pr_number, s.bot_login),
            self._since_last_review(gh, job),
            gh.commit_messages(job.repo, job.pr_number),
        )
        # A comment a person deleted is not on GitHub any more, but it was dismissed: keep it out.
        fingerprints |= {
            c.fingerprint for c in feedback.posted_comments(self.ctx.db, job.repo, job.pr_number)
        }
        request = ReviewRequest(
            diff=diff_text,
            workspace=workspace,
            settings=s.review,
            config=config,
            config_problems=problems,
            pr=PRInfo(
                repo=job.repo,
                number=job.pr_number,
                title=str(pull.get("title") or ""),
                body=str(pull.get("body") or ""),
                author=str((pull.get("user") or {}).get("login")),
                head_sha=job.head_sha,
                base_sha=base_sha,
                commit_messages=messages,
            ),
            context=CallContext(job.installation_id, job.repo, job.pr_number, self.ctx.clock),
            existing_fingerprints=fingerprints,
            since_diff=since,
            run_tag=run_tag,
            allow_model=not over_budget,
            repo_url=str((pull.get("base") or {}).get("repo", {}).get("html_url") or ""),
            secrets=s.secret_values,
        )
        result = await run_review(request, db=self.ctx.db, cpu=self.ctx.cpu)
        if result.mode == "budget":
            await self._over_budget(job, check, budget)
            return
        await self._publish(gh, job, check, request, result)

    async def _over_budget(self, job: Job, check: CheckRun, budget: BudgetState) -> None:
        runs.record_run(
            self.ctx.db,
            job_id=job.id,
            installation_id=job.installation_id,
            repo=job.repo,
            pr_number=job.pr_number,
            head_sha=job.head_sha,
            diff_hash="",
            mode="budget",
            outcome="budget_exhausted",
            summary=budget.which,
        )
        self.ctx.metrics.reviews.labels(mode="budget", outcome="budget_exhausted").inc()
        log.info("budget exhausted", extra={"reason": budget.which})
        await check.finish(
            "neutral",
            "Budget exhausted: not reviewed",
            f"The {budget.which} is used up. Reviews resume at {budget.resets_at}.",
        )

    async def _since_last_review(self, gh: GitHubClient, job: Job) -> bytes | None:
        """The diff from the last reviewed head to this one, for an incremental review."""
        if job.payload.get("action") != "synchronize":
            return None
        last = runs.last_run(self.ctx.db, job.repo, job.pr_number)
        if last is None or last.head_sha == job.head_sha or last.mode not in ("model", "cached"):
            return None
        try:
            return await gh.compare_diff(job.repo, last.head_sha, job.head_sha)
        except GitHubError as exc:
            if exc.retryable:
                raise
            log.info("no incremental diff; reviewing the whole PR", extra={"reason": str(exc)})
            return None

    def _catch_up(self, job: Job, pull: dict[str, Any]) -> None:
        """Queue the open PR's current head: a late delivery for an older head superseded it.

        A no-op when that head is already queued or running; a reviewed head finishes at once.
        """
        head = str((pull.get("head") or {}).get("sha") or "")
        if pull.get("state") != "open" or not head or head == job.head_sha:
            return
        self.ctx.queue.enqueue(
            "review",
            installation_id=job.installation_id,
            repo=job.repo,
            pr_number=job.pr_number,
            head_sha=head,
            payload={"action": "catch_up"},
        )
        self.ctx.wake_workers()

    async def _publish(
        self,
        gh: GitHubClient,
        job: Job,
        check: CheckRun,
        request: ReviewRequest,
        result: ReviewResult,
    ) -> None:
        diff = result.diff
        held_store = HeldFindings(self.ctx.db, clock=self.ctx.clock)
        for af in result.held:
            held_store.hold(
                installation_id=job.installation_id,
                repo=job.repo,
                pr_number=job.pr_number,
                head_sha=job.head_sha,
                fingerprint=af.fingerprint,
                finding=af.finding.to_dict(),
                evidence={
                    "code": af.code.value if af.code else None,
                    "reasons": list(af.disposition.reasons),
                    "injections": [r.excerpt for r in result.injections],
                    "hunk": hunk_excerpt(diff, af.finding),
                },
            )
        config = request.config
        shadow = config.mode == "shadow"
        login = self.settings.bot_login
        unchanged = (
            not shadow
            and result.mode == "cached"
            and not result.posted
            and await has_own_review(gh, job.repo, job.pr_number, login)
        )
        summary = None if shadow else await find_summary(gh, job.repo, job.pr_number, login)
        model = self.settings.review.review_model if result.mode in ("model", "cached") else None
        plan = plan_review(
            result,
            config,
            head_sha=job.head_sha,
            run=request.run_tag,
            summary_url=str((summary or {}).get("html_url") or ""),
            unchanged=unchanged,
            model=model,
        )
        review_id: int | None = None
        posted: tuple[AnnotatedFinding, ...] = ()
        own: list[dict[str, Any]] = []
        outcome_label = "shadow" if shadow else "unchanged" if unchanged else "posted"
        if plan.post:
            outcome = await post_review(
                gh,
                job.repo,
                job.pr_number,
                head_sha=job.head_sha,
                result=result,
                diff=diff,
                event=plan.event,
                body=plan.body,
            )
            review_id, posted = outcome.review_id, outcome.posted
        if not shadow:
            _, own = await existing_fingerprints(gh, job.repo, job.pr_number, login)
            self._record_comments(job, own, posted, result, diff)
        for af in result.findings:
            self.ctx.metrics.finding(af.status, af.code)
        runs.record_run(
            self.ctx.db,
            job_id=job.id,
            installation_id=job.installation_id,
            repo=job.repo,
            pr_number=job.pr_number,
            head_sha=job.head_sha,
            diff_hash=result.diff_hash,
            mode=result.mode,
            outcome=outcome_label,
            summary=result.body,
            findings=[_finding_row(af, diff) for af in result.findings],
            injection_hits=[
                {
                    "where": r.where,
                    "score": r.score,
                    "reasons": list(r.reasons),
                    "excerpt": r.excerpt,
                }
                for r in result.injections
            ],
            config_errors=[str(p) for p in result.config_problems],
            posted=len(posted),
            held=len(result.held),
            dropped=len(result.dropped),
            tokens_in=result.usage.tokens_in,
            tokens_out=result.usage.tokens_out,
            cost=result.usage.cost,
            review_id=review_id,
            shadow=shadow,
            model_rejections=list(result.model_rejections),
        )
        self.ctx.metrics.reviews.labels(mode=result.mode, outcome=outcome_label).inc()
        log.info("review published", extra={"mode": result.mode, "outcome": outcome_label})
        if result.mode in ("cached", "model"):
            hit = result.mode == "cached"
            self.ctx.metrics.cache.labels(result="hit" if hit else "miss").inc()
        report = plan_report(
            result,
            config,
            head_sha=job.head_sha,
            posted=posted,
            current=standing(result, posted, own),
            pending_held=held_store.pending_count(job.repo, job.pr_number),
            model=model,
            unchanged=unchanged,
        )
        if report.summary_comment is not None:
            await write_summary(gh, job.repo, job.pr_number, report.summary_comment, summary)
        await check.report(report.check)

    def _record_comments(
        self,
        job: Job,
        own: list[dict[str, Any]],
        posted: tuple[AnnotatedFinding, ...],
        result: ReviewResult,
        diff: Diff,
    ) -> None:
        if not posted:
            return
        by_fp = {af.fingerprint: af for af in posted}
        version = next((v for v in result.prompt_versions if v.startswith("review@")), "")
        for comment in own:
            found = render.fingerprints_in([comment.get("body") or ""])
            for fp, af in by_fp.items():
                if fp in found:
                    feedback.record_posted_comment(
                        self.ctx.db,
                        comment_id=int(comment["id"]),
                        installation_id=job.installation_id,
                        repo=job.repo,
                        pr_number=job.pr_number,
                        head_sha=job.head_sha,
                        path=af.finding.path,
                        line=af.finding.line,
                        fingerprint=fp,
                        category=af.finding.category.value,
                        severity=af.finding.severity.value,
                        prompt_version=(
                            version if af.finding.source == "model" else af.finding.source
                        ),
                        source=af.finding.source,
                        anchored_code=stored_code(af, diff),
                    )


def forced_run_tag(job: Job) -> str:
    """The marker tag of a review a person asked for again (a command, the Re-run button)."""
    action = job.payload.get("action")
    if action == "command":
        return f"cmd-{job.id}"
    if action == "rerequested":
        return f"rerun-{job.id}"
    return ""


def standing(
    result: ReviewResult, posted: tuple[AnnotatedFinding, ...], own: list[dict[str, Any]]
) -> list[Current]:
    """The findings that stand on the PR after this review, each with its thread's URL:
    the ones posted now and the ones an earlier push posted that this head still has (a
    comment someone deleted was dismissed: it no longer stands)."""
    links = links_by_fingerprint(own)
    earlier = [
        af for af in result.dropped if af.code is Reason.ALREADY_POSTED and af.fingerprint in links
    ]
    return [Current(af, links.get(af.fingerprint, "")) for af in (*posted, *earlier)]


def stored_code(af: AnnotatedFinding, diff: Diff) -> str:
    """The code a finding anchors on, as stored: a secret on the line is not kept."""
    return redact_found_secrets(anchored_code(af.finding, diff))


def _finding_row(af: AnnotatedFinding, diff: Diff) -> dict[str, Any]:
    return {
        "anchored_code": stored_code(af, diff),
        **af.finding.to_dict(),
        **af.disposition.to_dict(),
        "fingerprint": af.fingerprint,
    }
