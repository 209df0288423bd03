"""The job runner: one queued job in, GitHub brought to the state it asks for.

This is the second of the two edges where errors are caught broadly: a rate limit or a
passing GitHub fault reschedules the job (its check run says it is waiting); after
``max_attempts`` the job fails visibly, with a ``failure`` check run that gives the reason.
"""

from __future__ import annotations

import calendar
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from bot.config import Settings
from bot.context import AppContext
from bot.feedback_sweep import sweep_feedback
from bot.github import GitHubApp, GitHubClient
from bot.logs import job_fields, log_context
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
from cache import deliveries, feedback, runs
from cache.accounting import usage_since
from cache.held import HeldFindings
from cache.queue import Job
from prwarden.errors import GitHubError, PrwardenError, RateLimited
from review.anchors import anchored_code
from review.config import CONFIG_PATH, load_repo_config
from review.diff import Diff, parse_diff
from review.findings import AnnotatedFinding, Finding, fingerprint
from review.pipeline import run_review
from review.render import comment_body
from review.request import CallContext, PRInfo, ReviewRequest, ReviewResult

log = logging.getLogger("prwarden.jobs")

WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """What the worker should do with the job: done, retry after ``delay`` s, or failed."""

    state: Literal["done", "retry", "failed"]
    reason: str = ""
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class BudgetState:
    exhausted: bool
    which: str = ""
    resets_at: str = ""


def budget_state(ctx: AppContext, installation_id: int, repo: str) -> BudgetState:
    """Whether today's (UTC) token or cost ceiling is reached for the installation or repo."""
    limits = ctx.settings.limits
    now = ctx.clock()
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    since = float(calendar.timegm(day.timetuple()))
    resets = (day + timedelta(days=1)).strftime("%Y-%m-%d %H:%M UTC")
    checks = (
        (
            "installation",
            dict(installation_id=installation_id),
            limits.daily_tokens_per_installation,
            limits.daily_cost_per_installation,
        ),
        ("repository", dict(repo=repo), limits.daily_tokens_per_repo, limits.daily_cost_per_repo),
    )
    for scope, where, max_tokens, max_cost in checks:
        if not (max_tokens or max_cost):
            continue
        spend = usage_since(ctx.db, since, **where)
        if max_tokens and spend.tokens >= max_tokens:
            return BudgetState(True, f"daily token budget of this {scope}", resets)
        if max_cost and spend.cost >= max_cost:
            return BudgetState(True, f"daily cost budget of this {scope}", resets)
    return BudgetState(False)


class JobRunner:
    def __init__(self, ctx: AppContext, app: GitHubApp, workspaces: Workspaces):
        self.ctx = ctx
        self.app = app
        self.workspaces = workspaces

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    async def __call__(self, job: Job) -> JobOutcome:
        with log_context(**job_fields(job)):
            log.info("job started", extra={"attempt": job.attempts + 1})
            outcome = await self._run(job)
            log.info("job finished", extra={"state": outcome.state, "reason": outcome.reason})
            return outcome

    async def _run(self, job: Job) -> JobOutcome:
        try:
            gh = await self.app.installation(job.installation_id)
            if job.kind == "review":
                await self.review(gh, job)
            elif job.kind == "command":
                await self.command(gh, job)
            elif job.kind == "feedback":
                await self.feedback(gh, job)
            elif job.kind == "post_held":
                await self.post_held(gh, job)
            else:
                raise PrwardenError(f"unknown job kind {job.kind!r}")
        except RateLimited as exc:
            return await self._retry_later(job, exc.retry_after, f"GitHub rate limit: {exc}")
        except GitHubError as exc:
            if exc.retryable:
                delay = min(2**job.attempts * self.settings.retry_delay, 600.0)
                return await self._retry_later(job, delay, str(exc))
            return await self._fail(job, f"GitHub refused a request ({exc.status_code}): {exc}")
        except PrwardenError as exc:
            return await self._fail(job, f"{type(exc).__name__}: {exc}")
        return JobOutcome("done")

    async def _retry_later(self, job: Job, delay: float, reason: str) -> JobOutcome:
        if job.attempts + 1 >= self.settings.max_attempts:
            return await self._fail(job, f"gave up after {job.attempts + 1} attempts: {reason}")
        if job.kind == "review":
            when = time.strftime("%H:%M:%S UTC", time.gmtime(self.ctx.clock() + delay))
            await self._check_note(job, "Waiting to retry", f"{reason}. Retrying at {when}.")
        return JobOutcome("retry", reason, delay)

    async def _fail(self, job: Job, reason: str) -> JobOutcome:
        log.error("job failed", extra={"job_id": job.id, "reason": reason})
        self.ctx.metrics.reviews.labels(mode="none", outcome="failed").inc()
        if job.kind == "review":
            try:
                gh = await self.app.installation(job.installation_id)
                check = CheckRun(gh, job.repo, job.head_sha, self.settings.check_name)
                await check.finish("failure", "Review failed", reason)
            except PrwardenError:
                log.error("could not report the failure on the check run")
        return JobOutcome("failed", reason)

    async def _check_note(self, job: Job, title: str, summary: str) -> None:
        try:
            gh = await self.app.installation(job.installation_id)
            check = CheckRun(gh, job.repo, job.head_sha, self.settings.check_name)
            await check.start(title, summary)
        except GitHubError:
            log.warning("could not update the check run")

    async def review(self, gh: GitHubClient, job: Job) -> None:
        s = self.settings
        check = CheckRun(gh, job.repo, job.head_sha, s.check_name)
        existing = await find_own_review(gh, job.repo, job.pr_number, job.head_sha, s.bot_login)
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
        try:
            await sweep_feedback(self.ctx, gh, job.repo, job.pr_number, head_sha=job.head_sha)
        except GitHubError as exc:
            if isinstance(exc, RateLimited):
                raise
            log.warning("feedback sweep failed", extra={"error": str(exc)})
        budget = budget_state(self.ctx, job.installation_id, job.repo)
        if budget.exhausted and s.review.model_configured:
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
                findings=[],
                injection_hits=[],
                config_errors=[],
                posted=0,
                held=0,
                dropped=0,
                tokens_in=0,
                tokens_out=0,
                cost=0.0,
                review_id=None,
                shadow=False,
            )
            self.ctx.metrics.reviews.labels(mode="budget", outcome="budget_exhausted").inc()
            log.info("budget exhausted", extra={"reason": budget.which})
            await check.finish(
                "neutral",
                "Budget exhausted: not reviewed",
                f"The {budget.which} is used up. Reviews resume at {budget.resets_at}.",
            )
            return
        base_sha = str(pull["base"]["sha"])
        config_text = await gh.get_file(job.repo, CONFIG_PATH, base_sha)
        config, problems = load_repo_config(config_text)
        if not config.enabled:
            await check.finish("neutral", "Disabled", f"`enabled: false` in {CONFIG_PATH}.")
            return
        diff_text = await gh.get_diff(job.repo, job.pr_number)
        workspace = await self.workspaces.fetch(gh, job.repo, job.head_sha)
        fingerprints, _ = await existing_fingerprints(gh, job.repo, job.pr_number, s.bot_login)
        # A comment a person deleted is not on GitHub any more, but it was dismissed: keep it out.
        fingerprints |= {
            c.fingerprint for c in feedback.posted_comments(self.ctx.db, job.repo, job.pr_number)
        }
        since = await self._since_last_review(gh, job)
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
            repo_url=str((pull.get("base") or {}).get("repo", {}).get("html_url") or ""),
        )
        result = await run_review(request, db=self.ctx.db)
        await self._publish(gh, job, check, request, result)

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
        diff = parse_diff(request.diff)
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
            reason = af.disposition.reasons[-1].split(":")[0] if af.disposition.reasons else ""
            self.ctx.metrics.findings.labels(status=af.status, reason=reason).inc()
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
                + "\n".join(f"- {p}" for p in result.config_problems)
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
            for fp, af in by_fp.items():
                if f"prwarden:fp={fp}" in (comment.get("body") or ""):
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
                        anchored_code=anchored_code(af.finding, diff),
                    )

    async def command(self, gh: GitHubClient, job: Job) -> None:
        command = str(job.payload.get("command"))
        user = str(job.payload.get("user"))
        permission = await gh.get_permission(job.repo, user)
        if permission not in WRITE_PERMISSIONS:
            log.info("command refused", extra={"user": user, "command": command})
            return
        if command in ("pause", "resume"):
            deliveries.set_paused(self.ctx.db, job.repo, command == "pause", by=user)
            await gh.create_issue_comment(
                job.repo,
                job.pr_number,
                f"prwarden reviews are {'paused' if command == 'pause' else 'resumed'} "
                "for this repository.",
            )
            return
        pull = await gh.get_pull(job.repo, job.pr_number)
        self.ctx.queue.enqueue(
            "review",
            installation_id=job.installation_id,
            repo=job.repo,
            pr_number=job.pr_number,
            head_sha=str(pull["head"]["sha"]),
            payload={"action": "command"},
        )
        self.ctx.wake_workers()

    async def feedback(self, gh: GitHubClient, job: Job) -> None:
        await sweep_feedback(self.ctx, gh, job.repo, job.pr_number, head_sha=job.head_sha)

    async def post_held(self, gh: GitHubClient, job: Job) -> None:
        held = HeldFindings(self.ctx.db, clock=self.ctx.clock)
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
                f"A held finding on `{finding.path}:{finding.line}` was approved, but that line "
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


def _finding_row(af: AnnotatedFinding, diff: Diff) -> dict[str, Any]:
    return {
        "anchored_code": anchored_code(af.finding, diff),
        **af.finding.to_dict(),
        "status": af.status,
        "reasons": list(af.disposition.reasons),
        "fingerprint": af.fingerprint,
    }
