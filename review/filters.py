"""Annotate, then filter: every finding comes back with what became of it and why.

The stages run in this order; the first one that drops a finding gives its code (a
``Reason``) and a detail for people:

1. anchor on the diff (``NOT_ANCHORED``; a move is noted ``REANCHORED``, a suggestion that
   no longer fits ``SUGGESTION_DROPPED``)
2. category disabled by the repo config (``CATEGORY_DISABLED``)
3. path ignored by the repo config (``PATH_IGNORED``)
4. output validation of title, body and suggestion (``UNSAFE``, one note per problem)
5. specificity below ``config.specificity_threshold`` (``GENERIC``)
6. severity below ``config.severity_threshold`` (``BELOW_SEVERITY``)
7. duplicates within the review (``DUPLICATE``)
8. fingerprint already on the PR (``ALREADY_POSTED``)
9. hold for people: a held category or severity (``HELD``)
10. ``config.max_comments``: the most severe (then most specific) are posted, the rest
    dropped ``OVER_MAX`` and listed in the summary comment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from review.anchors import anchor, anchored_code
from review.config import RepoConfig
from review.dedup import collapse, merge_tool_findings, rank_key
from review.diff import Diff
from review.findings import (
    AnnotatedFinding,
    Disposition,
    Finding,
    Note,
    Reason,
    Severity,
    fingerprint,
    is_noop_suggestion,
)
from review.settings import ReviewSettings
from review.specificity import changed_identifiers, score
from security.output import validate_text

NOOP_SUGGESTION = "it equals the code it would replace"


def apply_filters(
    findings: Sequence[Finding],
    *,
    diff: Diff,
    config: RepoConfig,
    settings: ReviewSettings,
    existing_fingerprints: frozenset[str] = frozenset(),
    flagged: Sequence[str] = (),
    secrets: Sequence[str] = (),
    repo_url: str = "",
    confidential: Sequence[str] = (),
) -> tuple[AnnotatedFinding, ...]:
    """Annotate every finding with a disposition and a fingerprint, in input order.

    ``confidential`` are the model's instructions, which no posted text may echo.
    """
    changed = changed_identifiers(diff)
    annotated = [
        _check_one(
            f,
            diff=diff,
            changed=changed,
            config=config,
            settings=settings,
            flagged=flagged,
            secrets=secrets,
            repo_url=repo_url,
            confidential=confidential,
        )
        for f in findings
    ]
    annotated = list(collapse(merge_tool_findings(annotated)))
    for i, af in enumerate(annotated):
        if af.status != "drop" and af.fingerprint in existing_fingerprints:
            annotated[i] = af.drop(Reason.ALREADY_POSTED)
    for i, af in enumerate(annotated):
        if af.status != "drop" and _held(af.finding, settings):
            annotated[i] = af.hold(Reason.HELD)
    posting = sorted(
        (i for i, af in enumerate(annotated) if af.status == "post"),
        key=lambda i: rank_key(annotated[i]),
    )
    for i in posting[config.max_comments :]:
        annotated[i] = annotated[i].drop(Reason.OVER_MAX)
    return tuple(annotated)


def _check_one(
    finding: Finding,
    *,
    diff: Diff,
    config: RepoConfig,
    settings: ReviewSettings,
    flagged: Sequence[str],
    secrets: Sequence[str],
    repo_url: str,
    confidential: Sequence[str] = (),
    changed: frozenset[str] = frozenset(),
) -> AnnotatedFinding:
    anchored = anchor(finding, diff)
    if isinstance(anchored, str):
        af = AnnotatedFinding(finding, fingerprint=fingerprint(finding, ""))
        return af.drop(Reason.NOT_ANCHORED, anchored)
    notes = _anchor_notes(finding, anchored)
    # A suggestion that changes nothing is not a fix: it goes, and earns no specificity.
    if anchored.suggestion is not None and is_noop_suggestion(
        anchored.suggestion, anchored_code(anchored, diff)
    ):
        anchored = replace(anchored, suggestion=None)
        notes = (*notes, Note(Reason.SUGGESTION_DROPPED, NOOP_SUGGESTION))
    spec = score(anchored, diff, changed)
    af = AnnotatedFinding(
        anchored,
        Disposition("post", notes, spec.score),
        fingerprint(anchored, anchored_code(anchored, diff)),
    )
    if anchored.category in config.categories.disabled:
        return af.drop(Reason.CATEGORY_DISABLED, anchored.category.value)
    if config.ignored(anchored.path):
        return af.drop(Reason.PATH_IGNORED)
    # The title and body are posted as markdown; the suggestion inside a fence prwarden builds.
    problems = validate_text(
        f"{anchored.title}\n\n{anchored.body}",
        code=finding.suggestion or "",
        allowed_hosts=settings.allowed_link_hosts,
        repo_url=repo_url,
        flagged=flagged,
        secrets=secrets,
        confidential=confidential,
    )
    if problems:
        for problem in problems:
            af = af.drop(Reason.UNSAFE, problem)
        return af
    if spec.score < config.specificity_threshold:
        detail = "; ".join(spec.reasons)
        return af.drop(
            Reason.GENERIC,
            f"specificity {spec.score:.2f} < {config.specificity_threshold} ({detail})",
        )
    if not anchored.severity.at_least(config.severity_threshold):
        return af.drop(
            Reason.BELOW_SEVERITY,
            f"{anchored.severity.value} < {config.severity_threshold.value}",
        )
    return af


def _anchor_notes(original: Finding, anchored: Finding) -> tuple[Note, ...]:
    notes: list[Note] = []
    if (original.first_line, original.line) != (anchored.first_line, anchored.line):
        notes.append(
            Note(
                Reason.REANCHORED,
                f"lines {original.first_line}-{original.line}"
                f" -> {anchored.first_line}-{anchored.line}",
            )
        )
    if original.suggestion is not None and anchored.suggestion is None:
        notes.append(Note(Reason.SUGGESTION_DROPPED, "it no longer covers the anchored lines"))
    return tuple(notes)


def _held(finding: Finding, settings: ReviewSettings) -> bool:
    if finding.category in settings.hold_categories:
        return True
    return settings.hold_severity is not None and finding.severity.at_least(settings.hold_severity)


def overflow_summary(annotated: Sequence[AnnotatedFinding]) -> dict[Severity, int]:
    """How many findings, by severity, were not posted because of ``max_comments``."""
    counts: dict[Severity, int] = {}
    for af in annotated:
        if af.status == "drop" and af.code is Reason.OVER_MAX:
            counts[af.finding.severity] = counts.get(af.finding.severity, 0) + 1
    return counts
