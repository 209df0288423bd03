"""Anchoring: put each finding on a line of the diff that GitHub accepts (RIGHT side).

A finding keeps its line when GitHub takes a comment there. A single line GitHub would
refuse is moved to the nearest added line of the same construct: within ``WINDOW`` lines, in
the hunk closest to the original line, and not past a line of that hunk that starts a new
definition (``def``, ``class``, ``func``, ``function``, a decorator). Lines outside every hunk
are not in the diff, so they cannot be checked; the small window bounds that blind spot.

A range keeps its anchor when both ends lie in one hunk; otherwise it collapses onto its last
line. Any move or collapse drops the suggestion, which was written for the original lines.
"""

from __future__ import annotations

import re
from dataclasses import replace

from review.diff import Diff, FileDiff, Hunk
from review.findings import Finding

WINDOW = 5

_DEFINITION = re.compile(
    r"^\s*(?:@\w|(?:export\s+(?:default\s+)?)?(?:async\s+)?(?:def|class|func|function)\b)"
)


def starts_definition(text: str) -> bool:
    """True when a source line opens a function, class or decorated definition."""
    return bool(_DEFINITION.match(text))


def anchor(finding: Finding, diff: Diff) -> Finding | str:
    """The finding with a valid RIGHT-side anchor, or why it cannot be anchored (for people)."""
    fd = diff.file(finding.path)
    if fd is None:
        return "path is not in the diff"
    if fd.is_binary:
        return "binary file"
    if fd.status == "deleted":
        return "file is deleted"
    if finding.start_line is not None and finding.start_line != finding.line:
        if fd.range_commentable(finding.start_line, finding.line):
            return finding
    elif fd.commentable(finding.line):
        return finding if finding.start_line is None else finding.with_anchor(finding.line)
    target = finding.line if fd.commentable(finding.line) else _move(fd, finding.line)
    if target is None:
        return (
            f"line {finding.line} is not in the diff and no changed line"
            f" of the same construct is within {WINDOW} lines"
        )
    return replace(finding.with_anchor(target), suggestion=None)


def _move(fd: FileDiff, line: int) -> int | None:
    """The nearest added line of the hunk closest to ``line``, not across a definition."""
    hunk = _closest_hunk(fd, line)
    if hunk is None:
        return None
    texts = {dl.new: dl.text for dl in hunk.lines if dl.new is not None}
    candidates = sorted(
        (abs(n - line), n)
        for dl in hunk.lines
        if dl.kind == "+" and (n := dl.new) is not None and abs(n - line) <= WINDOW
    )
    for _, candidate in candidates:
        if not _crosses_definition(texts, line, candidate):
            return candidate
    return None


def _closest_hunk(fd: FileDiff, line: int) -> Hunk | None:
    best: tuple[int, Hunk] | None = None
    for hunk in fd.hunks:
        if hunk.new_length <= 0:
            continue
        distance = max(hunk.new_start - line, line - hunk.new_end, 0)
        if best is None or distance < best[0]:
            best = (distance, hunk)
    return best[1] if best else None


def _crosses_definition(texts: dict[int, str], line: int, candidate: int) -> bool:
    """Whether a known line between ``line`` and ``candidate`` starts a new definition.

    Moving down, a definition on lines ``line+1..candidate`` puts the candidate in another
    construct; moving up, one on ``candidate+1..line`` means the original line was in a later
    construct than the candidate.
    """
    span = range(line + 1, candidate + 1) if candidate > line else range(candidate + 1, line + 1)
    return any(starts_definition(texts[n]) for n in span if n in texts)


def anchored_code(finding: Finding, diff: Diff) -> str:
    """The new-file text of the finding's lines, as far as the diff shows them."""
    fd = diff.file(finding.path)
    if fd is None:
        return ""
    wanted = range(finding.first_line, finding.line + 1)
    texts: dict[int, str] = {}
    for hunk in fd.hunks:
        for dl in hunk.lines:
            if dl.new is not None and dl.new in wanted:
                texts[dl.new] = dl.text
    return "\n".join(texts[n] for n in sorted(texts))
