"""The review job: fetch the PR, run the pipeline, publish the result and record it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.budget import BudgetState, budget_state
from bot.config import Settings
from bot.context import AppContext
from bot.github import GitHubClient
from bot.publisher import (
    CheckRun,
    check_summary,
    conclusion_for,
    existing_fingerprints,
    find_own_review,
    has_own_review,
    post_review,
    review_event,
)
from bot.workspace import Workspaces
from cache import feedback, runs
from cache.held import HeldFindings
from cache.queue import Job
from prwarden.errors import BudgetContended, GitHubError
from review import render
from review.anchors import anchored_code
from review.config import CONFIG_PATH, load_repo_config
from review.diff import Diff
from review.findings import AnnotatedFinding
from review.pipeline import run_review
from review.request import CallContext, PRInfo, ReviewRequest, ReviewResult
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
        s = self.settings
        check = CheckRun(gh, job.repo, job.head_sha, s.check_name)
        # /prwarden review asks for a fresh review even of a reviewed head (say, after the
        # model was down); its own marker keeps that run idempotent too.
        run_tag = f"cmd-{job.id}" if job.payload.get("action") == "command" else ""
        existing = await find_own_review(
            gh, job.repo, job.pr_number, job.head_sha, s.bot_login, run_tag
        )
        if existing is not None:
            await check.start()
            if not check.completed:
                await check.finish("success", "Reviewed", "This commit was already reviewed.")
            return
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
        config_text = await gh.get_file(job.repo, CONFIG_PATH, base_sha)
        config, problems = load_repo_config(config_text)
        if not config.enabled:
            await check.finish("neutral", "Disabled", f"`enabled: false` in {CONFIG_PATH}.")
            return
        # Independent fetches, side by side: the diff, the head's files, the PR's comments and
        # the diff since the last reviewed head.
        diff_text, workspace, (fingerprints, _), since = await asyncio.gather(
            gh.get_diff(job.repo, job.pr_number),
            self.workspaces.fetch(gh, job.repo, job.head_sha, holder=job.id),
            existing_fingerprints(gh, job.repo, job.pr_number, s.bot_login),
            self._since_last_review(gh, job),
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
            ),
            context=CallContext(job.installation_id, job.repo, job.pr_number, self.ctx.clock),
            existing_fingerprints=fingerprints,
            since_diff=since,
            run_tag=run_tag,
            allow_model=not over_budget,
            repo_url=str((pull.get("base") or {}).get("repo", {}).get("html_url") or ""),
            secrets=s.secret_values,
        )
        result = await run_review(request, db=self.ctx.db)
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
                },
            )
        shadow = request.config.mode == "shadow"
        review_id: int | None = None
        posted: tuple[AnnotatedFinding, ...] = ()
        unchanged = (
            not shadow
            and result.mode == "cached"
            and not result.posted
            and await has_own_review(gh, job.repo, job.pr_number, self.settings.bot_login)
        )
        outcome_label = "shadow" if shadow else "unchanged" if unchanged else "posted"
        if not shadow and not unchanged:
            event = review_event(result, request.config.mode, request.config.request_changes_at)
            outcome = await post_review(
                gh,
                job.repo,
                job.pr_number,
                head_sha=job.head_sha,
                result=result,
                diff=diff,
                event=event,
            )
            review_id, posted = outcome.review_id, outcome.posted
            await self._record_comments(gh, job, review_id, posted, result, diff)
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
        pending = held_store.pending_count(job.repo, job.pr_number)
        conclusion, title = conclusion_for(result)
        if shadow:
            title = f"Shadow mode: nothing posted ({title})"
        summary = check_summary(result, pending)
        if unchanged:
            summary = (
                "Served from cache: this change was already reviewed on this PR and nothing "
                "new would be posted, so no new review was added.\n\n" + summary
            )
        if result.config_problems:
            summary = (
                "**Config problems** (defaults used for these keys):\n"
                + "\n".join(f"- {render.code_span(str(p))}" for p in result.config_problems)
                + "\n\n"
                + summary
            )
        await check.finish(conclusion, title, summary)

    async def _record_comments(
        self,
        gh: GitHubClient,
        job: Job,
        review_id: int,
        posted: tuple[AnnotatedFinding, ...],
        result: ReviewResult,
        diff: Diff,
    ) -> None:
        if not posted:
            return
        _, own = await existing_fingerprints(gh, job.repo, job.pr_number, self.settings.bot_login)
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
