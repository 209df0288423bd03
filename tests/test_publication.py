"""The publication plan is a pure function of values: no GitHub, no I/O."""

from __future__ import annotations

import pytest

from bot.publication import ANNOTATIONS_PER_REQUEST, plan_report, plan_review
from review.config import RepoConfig, load_repo_config
from review.findings import (
    AnnotatedFinding,
    Category,
    Disposition,
    Finding,
    Note,
    Reason,
    Severity,
    Status,
)
from review.request import ReviewResult, Usage
from review.summary import Current

HEAD = "a" * 40


def _finding(
    line: int, severity: Severity, *, status: Status = "post", code: Reason | None = None
) -> AnnotatedFinding:
    f = Finding(
        path="app.py",
        line=line,
        severity=severity,
        category=Category.CORRECTNESS,
        title=f"`parse` fails on line {line}",
        body=f"`parse` raises KeyError when line {line} is empty.",
    )
    notes = (Note(code, "detail"),) if code else ()
    return AnnotatedFinding(f, Disposition(status, notes, 0.9), fingerprint=f"{line:020x}")


def _result(*findings: AnnotatedFinding) -> ReviewResult:
    return ReviewResult(
        mode="model",
        diff_hash="d" * 64,
        findings=findings,
        body="**prwarden** — reviewed by `m`",
        files_reviewed=("app.py",),
        usage=Usage(2, 1000, 100, 0.01),
        models=("m",),
    )


def _config(text: str) -> RepoConfig:
    config, problems = load_repo_config(text)
    assert problems == ()
    return config


@pytest.mark.parametrize(
    ("fail_on", "severities", "conclusion"),
    [
        ("high", [Severity.HIGH, Severity.LOW], "failure"),
        ("high", [Severity.MEDIUM, Severity.LOW], "success"),
        ("critical", [Severity.HIGH], "success"),
        ("low", [Severity.LOW], "failure"),
        (None, [Severity.CRITICAL], "success"),
    ],
)
def test_fail_on_decides_the_conclusion(
    fail_on: str | None, severities: list[Severity], conclusion: str
) -> None:
    posted = tuple(_finding(i + 1, s) for i, s in enumerate(severities))
    result = _result(*posted)
    config = _config(f"check:\n  fail_on: {fail_on}\n" if fail_on else "")
    current = [Current(af, "") for af in posted]
    report = plan_report(
        result, config, head_sha=HEAD, posted=posted, current=current, pending_held=0, model="m"
    )
    assert report.check.conclusion == conclusion


def test_a_held_finding_fails_the_check_and_shows_as_a_count_only() -> None:
    held = _finding(3, Severity.HIGH, status="hold", code=Reason.HELD)
    result = _result(held)
    report = plan_report(
        result,
        _config("check:\n  fail_on: high\n"),
        head_sha=HEAD,
        posted=(),
        current=[],
        pending_held=1,
        model="m",
    )
    assert report.check.conclusion == "failure"
    assert report.summary_comment is not None
    assert "1 finding(s) held for security review" in report.summary_comment
    assert held.finding.title not in report.summary_comment
    assert report.check.annotations == ()


def test_annotations_are_the_posted_findings_and_shadow_mode_plans_nothing_to_post() -> None:
    posted = tuple(_finding(i, Severity.MEDIUM) for i in range(1, 8))
    dropped = _finding(20, Severity.LOW, status="drop", code=Reason.BELOW_SEVERITY)
    result = _result(*posted, dropped)
    current = [
        Current(af, f"https://github.com/o/r/pull/1#discussion_r{i}") for i, af in enumerate(posted)
    ]
    report = plan_report(
        result,
        RepoConfig(),
        head_sha=HEAD,
        posted=posted,
        current=current,
        pending_held=0,
        model="m",
    )
    assert [(a["path"], a["start_line"], a["end_line"]) for a in report.check.annotations] == [
        ("app.py", af.finding.line, af.finding.line) for af in posted
    ]
    assert all(len(b) <= ANNOTATIONS_PER_REQUEST for b in report.check.batches())
    assert (
        report.summary_comment is not None and "Not posted: 1 finding(s)" in report.summary_comment
    )
    plan = plan_review(
        result, RepoConfig(), head_sha=HEAD, run="", summary_url="", unchanged=False, model="m"
    )
    assert plan.post and plan.event == "COMMENT"
    assert plan.body.splitlines()[0].startswith("**prwarden**")

    shadow = _config("mode: shadow\n")
    report = plan_report(
        result, shadow, head_sha=HEAD, posted=(), current=[], pending_held=0, model="m"
    )
    assert report.summary_comment is None and report.check.annotations == ()
    assert report.check.title.startswith("Shadow mode")
    plan = plan_review(
        result, shadow, head_sha=HEAD, run="", summary_url="", unchanged=False, model="m"
    )
    assert not plan.post
