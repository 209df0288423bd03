"""What a review publishes, decided before anything touches GitHub (plan, then do).

``plan_review`` says whether a review is posted, with which event and body; ``plan_report``
says, once the review is on the PR, what the summary comment reads, and the check run's
conclusion, title, summary, text and annotations. Both are pure: tests call them with values,
and the job only performs the requests they describe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from review import render
from review.config import RepoConfig
from review.findings import AnnotatedFinding, Severity
from review.request import ReviewResult
from review.summary import (
    Current,
    SummaryInput,
    cost_line,
    not_posted,
    render_summary,
    skipped_section,
    table_code,
)

Conclusion = Literal["success", "neutral", "failure", "action_required", "skipped", "cancelled"]

ANNOTATIONS_PER_REQUEST = 50
MAX_OUTPUT = 60_000
MAX_TITLE = 200
MAX_ANNOTATION_TITLE = 255
MAX_ANNOTATION_MESSAGE = 60_000
_LEVELS = {
    Severity.CRITICAL: "failure",
    Severity.HIGH: "failure",
    Severity.MEDIUM: "warning",
    Severity.LOW: "notice",
    Severity.INFO: "notice",
}


@dataclass(frozen=True, slots=True)
class ReviewPlan:
    post: bool
    event: str
    body: str


@dataclass(frozen=True, slots=True)
class CheckReport:
    conclusion: Conclusion
    title: str
    summary: str
    text: str
    annotations: tuple[dict[str, Any], ...] = ()

    def batches(self) -> list[tuple[dict[str, Any], ...]]:
        """The annotations in requests of at most 50, as GitHub takes them (at least one)."""
        size = ANNOTATIONS_PER_REQUEST
        chunks = [self.annotations[i : i + size] for i in range(0, len(self.annotations), size)]
        return chunks or [()]


@dataclass(frozen=True, slots=True)
class Report:
    summary_comment: str | None
    check: CheckReport


def review_event(result: ReviewResult, config: RepoConfig) -> str:
    if config.mode == "request_changes" and any(
        af.finding.severity.at_least(config.request_changes_at) for af in result.posted
    ):
        return "REQUEST_CHANGES"
    return "COMMENT"


def review_body_line(
    posted: int, summary_url: str, head_sha: str, *, how: str, run: str = ""
) -> str:
    """The body of each push's review: one line pointing at the summary, and the marker."""
    where = f"[the summary]({summary_url})" if summary_url else "the summary comment on this PR"
    line = f"**prwarden** ({how}) posted {posted} comment(s) on this commit; see {where}."
    return f"{line}\n\n{render.review_marker(head_sha, run)}"


def plan_review(
    result: ReviewResult,
    config: RepoConfig,
    *,
    head_sha: str,
    run: str,
    summary_url: str,
    unchanged: bool,
    model: str | None,
) -> ReviewPlan:
    """Whether to post a review and what it says. Shadow mode and an unchanged re-review
    post nothing."""
    post = config.mode != "shadow" and not unchanged
    how = render.summary_mode(result.mode, result.notes, model)
    how = how[:1].lower() + how[1:]
    body = review_body_line(len(result.posted), summary_url, head_sha, how=how, run=run)
    return ReviewPlan(post, review_event(result, config), body)


def annotation(af: AnnotatedFinding) -> dict[str, Any]:
    """The check-run annotation of a posted finding (its text already passed validation)."""
    f = af.finding
    message = render.body_without_title(f.title, f.body) or f.title.strip()
    return {
        "path": f.path,
        "start_line": f.first_line,
        "end_line": f.line,
        "annotation_level": _LEVELS[f.severity],
        "title": f"{f.severity.value.upper()} {f.category.value}: {f.title.strip()}"[
            :MAX_ANNOTATION_TITLE
        ],
        "message": message[:MAX_ANNOTATION_MESSAGE],
    }


def blocking(
    current: Sequence[AnnotatedFinding], held: Sequence[AnnotatedFinding], fail_on: Severity | None
) -> list[AnnotatedFinding]:
    """The findings that fail the check: standing or held, at or above ``fail_on``."""
    if fail_on is None:
        return []
    return [af for af in (*current, *held) if af.finding.severity.at_least(fail_on)]


def base_conclusion(result: ReviewResult) -> tuple[Conclusion, str]:
    """The check's verdict on the review itself: never a silent green check."""
    counts = f"{len(result.posted)} comment(s), {len(result.held)} held"
    if result.mode == "static" and any("unavailable" in n for n in result.notes):
        return "neutral", f"Model unavailable: static-only review ({counts})"
    if result.mode == "static":
        return "success", f"Static-only review, no model configured ({counts})"
    if result.mode == "skipped":
        # prwarden's own note only: a model-written reason never reaches the check run.
        note = render.safe_note(next((n for n in result.notes if n.startswith("Skipped")), ""))
        return "neutral", note if note.startswith("Skipped") else "Skipped: nothing to review"
    if result.mode == "cached":
        return "success", f"Reviewed (from cache): {counts}"
    return "success", f"Reviewed: {counts}"


def _check_summary(result: ReviewResult, pending_held: int, unchanged: bool) -> str:
    text = render.without_review_marker(result.body).strip()
    if pending_held:
        text += f"\n\n**{pending_held} finding(s) await security review.**"
    if unchanged:
        text = (
            "Served from cache: this change was already reviewed on this PR and nothing "
            "new would be posted, so no new review was added.\n\n" + text
        )
    if result.config_problems:
        text = (
            "**Config problems** (defaults used for these keys):\n"
            + "\n".join(f"- {render.code_span(str(p))}" for p in result.config_problems)
            + "\n\n"
            + text
        )
    return text


def _check_text(result: ReviewResult, current: Sequence[Current], model: str | None) -> str:
    """The check run's details: per file what stands and what was not posted, skips, cost."""
    dropped = not_posted(result.findings)
    standing_paths = [c.finding.finding.path for c in current]
    paths = list(dict.fromkeys([*result.files_reviewed, *standing_paths]))
    out = ["### Per file", "", "| File | Findings | Not posted |", "| --- | --- | --- |"]
    for path in paths[: render.MAX_LISTED_FILES * 5]:
        standing = sum(1 for c in current if c.finding.finding.path == path)
        gone = sum(1 for af in dropped if af.finding.path == path)
        out.append(f"| {table_code(path)} | {standing} | {gone} |")
    if not paths:
        out.append("| (none) | 0 | 0 |")
    skipped = skipped_section(result.files_skipped)
    if skipped:
        out += ["", *skipped]
    out += ["", cost_line(result, model)]
    return "\n".join(out)


def plan_report(
    result: ReviewResult,
    config: RepoConfig,
    *,
    head_sha: str,
    posted: Sequence[AnnotatedFinding],
    current: Sequence[Current],
    pending_held: int,
    model: str | None,
    unchanged: bool = False,
) -> Report:
    """The summary comment (none in shadow mode) and the finished check run."""
    shadow = config.mode == "shadow"
    conclusion, title = base_conclusion(result)
    fail_on = config.check.fail_on
    blockers = blocking([c.finding for c in current], result.held, fail_on)
    if blockers and fail_on is not None:
        conclusion = "failure"
        title = f"{len(blockers)} finding(s) at or above {fail_on.value}: {title}"
    if shadow:
        title = f"Shadow mode: nothing posted ({title})"
    summary = _check_summary(result, pending_held, unchanged)
    if blockers and fail_on is not None:
        summary = (
            f"**Failing:** `check.fail_on: {fail_on.value}` and {len(blockers)} finding(s) "
            "posted or held at or above it.\n\n" + summary
        )
    check = CheckReport(
        conclusion=conclusion,
        title=title[:MAX_TITLE],
        summary=summary[:MAX_OUTPUT],
        text=_check_text(result, current, model)[:MAX_OUTPUT],
        annotations=() if shadow else tuple(annotation(af) for af in posted),
    )
    comment = None
    if not shadow:
        comment = render_summary(
            SummaryInput(
                result,
                head_sha,
                tuple(current),
                pending_held=pending_held,
                model=model,
                shown_titles=result.shown_titles,
            )
        )
    return Report(comment, check)
