"""The summary comment: one per PR, edited in place on every push.

It says what the review found and what it did not post, so nothing is invisible: the current
findings by severity with links to their threads, a collapsed list of what was not posted
(per reason, each with its location and, when its title passed validation, the title in a code
span), how many findings wait for security review (a count only), the files skipped and why,
and what the review cost. Text from the PR or the model appears only in code spans, except
posted titles, which passed output validation; everything else is prwarden's own words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from review import render
from review.findings import AnnotatedFinding, Reason, Severity
from review.request import ReviewResult, Walkthrough

# The headings of the not-posted list, one per drop code, in the order they are shown.
NOT_POSTED_HEADINGS = {
    Reason.GENERIC: "Low specificity",
    Reason.OVER_MAX: "Over the comment limit",
    Reason.BELOW_SEVERITY: "Below the severity threshold",
    Reason.DUPLICATE: "Duplicates of another finding",
    Reason.NOT_ANCHORED: "Not on a changed line",
    Reason.CATEGORY_DISABLED: "Category disabled by the repo config",
    Reason.PATH_IGNORED: "Path ignored by the repo config",
    Reason.UNSAFE: "Failed output validation",
}
OTHER_HEADING = "Other"
WITHHELD = "title withheld: it did not pass output validation"
# At most this many entries per list: a comment holds at most 65,536 characters.
MAX_LISTED = 150
MAX_COMMENT = 60_000

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~&])")


@dataclass(frozen=True, slots=True)
class Current:
    """A finding that stands on the PR now, and the URL of its thread when known."""

    finding: AnnotatedFinding
    url: str = ""


@dataclass(frozen=True, slots=True)
class SummaryInput:
    result: ReviewResult
    head_sha: str
    current: tuple[Current, ...] = ()
    pending_held: int = 0
    model: str | None = None
    shown_titles: frozenset[str] = field(default_factory=frozenset)


_TICKS = re.compile(r"`+")


def _code_spans(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, inside)`` of each code span, paired as CommonMark pairs backtick runs.

    A run opens a span that the next run of the same length closes; one pass over the runs,
    so a title of nothing but backticks costs what its length does.
    """
    runs = [(m.start(), m.end()) for m in _TICKS.finditer(text)]
    by_length: dict[int, list[int]] = {}
    for index, (start, end) in enumerate(runs):
        by_length.setdefault(end - start, []).append(index)
    seen = dict.fromkeys(by_length, 0)
    spans: list[tuple[int, int, str]] = []
    i = 0
    while i < len(runs):
        start, end = runs[i]
        same = by_length[end - start]
        k = seen[end - start]
        while k < len(same) and same[k] <= i:
            k += 1
        seen[end - start] = k
        if k == len(same):
            i += 1
            continue
        close = runs[same[k]]
        spans.append((start, close[1], text[end : close[0]]))
        i = same[k] + 1
    return spans


def inline_title(text: str) -> str:
    """A validated title as markdown: its code spans kept as code, the rest escaped."""
    flat = " ".join(text.split())
    out: list[str] = []
    last = 0
    for start, end, inside in _code_spans(flat):
        out += [_escaped(flat[last:start]), render.code_span(inside.strip())]
        last = end
    out.append(_escaped(flat[last:]))
    return "".join(out)


def escape(text: str) -> str:
    """Plain text as markdown: every character with a markdown meaning backslash-escaped."""
    return _escaped(" ".join(text.split()))


def _escaped(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def not_posted(findings: Sequence[AnnotatedFinding]) -> list[AnnotatedFinding]:
    """Dropped findings a reader has not seen on the PR (already posted ones are on it)."""
    return [af for af in findings if af.status == "drop" and af.code is not Reason.ALREADY_POSTED]


def _where(af: AnnotatedFinding) -> str:
    f = af.finding
    return render.code_span(f"{f.path}:{f.line}")


def _not_posted_entry(af: AnnotatedFinding, shown_titles: frozenset[str]) -> str:
    f = af.finding
    severity = f.severity.value
    if af.code is not Reason.UNSAFE and af.fingerprint in shown_titles:
        title = render.code_span(f.title.strip())
    else:
        title = f"({WITHHELD})"
    return f"- {_where(af)} {severity}: {title}"


def not_posted_section(
    findings: Sequence[AnnotatedFinding], shown_titles: frozenset[str], cap: int = MAX_LISTED
) -> list[str]:
    """The collapsed ``<details>`` listing each finding not posted, grouped by reason."""
    dropped = not_posted(findings)
    if not dropped:
        return []
    groups: dict[Reason | None, list[AnnotatedFinding]] = {}
    for af in dropped:
        code = af.code if af.code in NOT_POSTED_HEADINGS else None
        groups.setdefault(code, []).append(af)
    out = [
        "<details>",
        f"<summary>Not posted: {len(dropped)} finding(s)</summary>",
        "",
    ]
    listed = 0
    headings: list[tuple[Reason | None, str]] = [
        *NOT_POSTED_HEADINGS.items(),
        (None, OTHER_HEADING),
    ]
    for code, heading in headings:
        members = groups.get(code, [])
        if not members:
            continue
        out += [f"**{heading}** ({len(members)})", ""]
        for af in members:
            if listed < cap:
                out.append(_not_posted_entry(af, shown_titles))
            listed += 1
        out.append("")
    if listed > cap:
        out += [f"and {listed - cap} more", ""]
    out.append("</details>")
    return out


def _findings_section(current: Sequence[Current], cap: int) -> list[str]:
    if not current:
        return ["No findings on this change."]
    out: list[str] = []
    for severity in sorted(Severity, key=lambda s: -s.rank):
        here = [c for c in current if c.finding.finding.severity is severity]
        if not here:
            continue
        out.append(f"**{severity.value.upper()}** ({len(here)})")
        out.append("")
        for c in here[:cap]:
            f = c.finding.finding
            where = _where(c.finding)
            link = f"[{where}]({c.url})" if c.url else where
            out.append(f"- {link} {f.category.value}: {inline_title(f.title)}")
        if len(here) > cap:
            out.append(f"- and {len(here) - cap} more")
        out.append("")
    return out[:-1] if out and out[-1] == "" else out


def table_code(text: str) -> str:
    """A code span for a table cell: a ``|`` inside would end the cell, so it is escaped."""
    return render.code_span(text).replace("|", "\\|")


def walkthrough_section(walkthrough: Walkthrough | None) -> list[str]:
    """What the PR changes, in the triage model's (validated) words, escaped as plain text."""
    if walkthrough is None:
        return []
    out = ["### Walkthrough", "", escape(walkthrough.summary), ""]
    if walkthrough.files:
        out += ["| File | Change |", "| --- | --- |"]
        out += [f"| {table_code(path)} | {escape(change)} |" for path, change in walkthrough.files]
        out.append("")
    return out


def skipped_section(files_skipped: Sequence[tuple[str, str]]) -> list[str]:
    """The files the review skipped, each with prwarden's reason."""
    if not files_skipped:
        return []
    out = ["### Skipped files", ""]
    out += [
        f"- {render.code_span(path)}: {render.safe_note(why, 80)}"
        for path, why in files_skipped[: render.MAX_LISTED_FILES]
    ]
    more = len(files_skipped) - render.MAX_LISTED_FILES
    if more > 0:
        out.append(f"- and {more} more")
    return out


def cost_line(result: ReviewResult, model: str | None) -> str:
    u = result.usage
    if result.mode == "cached":
        return "Cost: served from cache, no model calls."
    if not model or not u.calls:
        return "Cost: no model calls."
    models = ", ".join(render.code_span(m) for m in result.models) or render.code_span(model)
    calls = f"{u.calls} model call{'s' if u.calls != 1 else ''}"
    tokens = f"{u.tokens_in:,} tokens in, {u.tokens_out:,} out"
    return f"Cost: {calls} ({models}), {tokens}, ${u.cost:.4f}, not cached."


def render_summary(data: SummaryInput) -> str:
    """The markdown of the summary comment, ending with its hidden marker; long lists are
    cut so that the comment fits in what GitHub takes."""
    for cap in (MAX_LISTED, 40, 10, 0):
        text = _render_summary(data, cap)
        if len(text) <= MAX_COMMENT:
            return text
    return text


def _render_summary(data: SummaryInput, cap: int) -> str:
    result = data.result
    mode = render.summary_mode(result.mode, result.notes, data.model)
    out = [
        "## prwarden review",
        "",
        f"{mode}, head {render.code_span(data.head_sha[:12])}.",
        "",
        *walkthrough_section(result.walkthrough),
        "### Findings",
        "",
        *_findings_section(data.current, cap),
        "",
    ]
    held = max(data.pending_held, len(result.held))
    if held:
        out += [f"{held} finding(s) {Reason.HELD.label}.", ""]
    details = not_posted_section(result.findings, data.shown_titles, cap)
    if details:
        out += [*details, ""]
    skipped = skipped_section(result.files_skipped)
    if skipped:
        out += [*skipped, ""]
    notes = [f"- {render.safe_note(n)}" for n in result.notes]
    notes += [f"- Config problem: {render.code_span(str(p))}" for p in result.config_problems]
    if notes:
        out += ["### Notes", "", *notes, ""]
    out += [cost_line(result, data.model), "", render.SUMMARY_MARKER]
    return "\n".join(out)


def links_by_fingerprint(comments: Sequence[Mapping[str, object]]) -> dict[str, str]:
    """The thread URL of each fingerprint found in the bot's own review comments."""
    links: dict[str, str] = {}
    for comment in comments:
        url = str(comment.get("html_url") or "")
        for fp in render.fingerprints_in([str(comment.get("body") or "")]):
            links.setdefault(fp, url)
    return links
