"""Markdown for what prwarden posts, and the hidden markers it finds its own posts by.

An inline comment carries the finding's own (validated) text, its fix, an Evidence block built
from the agent's tool calls (model findings) and a hidden fingerprint marker, which
``fingerprints_in`` reads back from the PR's existing comments so a re-push never repeats a
comment. Read markers only from prwarden's own comments: anyone can type one. The review, the
summary comment (``review.summary``) and the check run each end with or carry their marker.

The review body (shown on the check run) is built from counts and prwarden's own words; the
only text from the PR in it is file paths, each in a code span.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

from prwarden.errors import DiffError
from review.diff import Diff
from review.evidence import Evidence, EvidenceKind
from review.filters import overflow_summary
from review.findings import AnnotatedFinding, Finding, Reason, Severity, suggestion_lines
from security.markdown import read_markdown
from security.output import validate_text

FINGERPRINT_RE = re.compile(r"<!-- prwarden:fp=([0-9a-f]{8,64}) -->")
REVIEW_MARKER_RE = re.compile(
    r"<!-- prwarden:review sha=([0-9a-f]{7,64})(?: run=([a-z0-9-]{1,40}))? -->"
)
_RUN = re.compile(r"[a-z0-9-]{0,40}")


SUMMARY_MARKER = "<!-- prwarden:summary -->"


def is_summary(body: str) -> bool:
    """Whether a comment body is prwarden's summary (check its author too: anyone can type it)."""
    return body.rstrip().endswith(SUMMARY_MARKER)


def review_marker(head_sha: str, run: str = "") -> str:
    """The hidden marker that makes a review findable by its head SHA (and forced run)."""
    return f"<!-- prwarden:review sha={head_sha}{f' run={run}' if run else ''} -->"


def _live_html(body: str) -> str:
    """The raw HTML of ``body`` as GitHub reads it. A marker counts only there: one in a code
    span (a file name listed in a review, say) is text anyone could have written."""
    return "\n".join(read_markdown(body).html)


def has_review_marker(body: str) -> bool:
    """Whether ``body`` carries a review marker, for any head SHA."""
    return REVIEW_MARKER_RE.search(_live_html(body)) is not None


def carries_review_marker(body: str, head_sha: str, run: str = "") -> bool:
    """Whether ``body`` carries the review marker of ``head_sha`` (and forced run)."""
    return review_marker(head_sha, run) in _live_html(body)


def without_review_marker(body: str) -> str:
    """``body`` less the review marker's own line; text that merely contains one stays."""
    return "\n".join(
        line for line in body.split("\n") if not REVIEW_MARKER_RE.fullmatch(line.strip())
    )


def fingerprint_marker(fingerprint: str) -> str:
    """The hidden marker that ties an inline comment to its finding's fingerprint."""
    return f"<!-- prwarden:fp={fingerprint} -->"


MAX_LISTED_FILES = 20
MAX_EVIDENCE = 15

_SHA = re.compile(r"[0-9a-f]{7,64}")
_BACKTICKS = re.compile(r"`+")
_SAFE_NOTE = re.compile(r"[^A-Za-z0-9 _.,;:()/'=<>+*-]")
_MODES = {
    "static": "static-only review: no model configured",
    "unavailable": "model unavailable: static-only review",
    "cache": "from cache",
    "skipped": "skipped: nothing here for a model to review",
    "budget": "not reviewed by a model: the spend ceiling is reached",
}


def fence_for(text: str, minimum: int = 3) -> str:
    """A backtick fence longer than any backtick run inside ``text``."""
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    return "`" * max(minimum, longest + 1)


def code_span(text: str) -> str:
    """``text`` as an inline code span that nothing inside can break out of."""
    flat = " ".join(text.splitlines()) or " "
    fence = fence_for(flat, minimum=1)
    pad = " " if flat.startswith("`") or flat.endswith("`") or flat.startswith(" ") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def suggestion_fits(finding: Finding, diff: Diff) -> bool:
    """Whether the finding's suggestion replaces exactly a range GitHub accepts."""
    fd = diff.file(finding.path)
    if finding.suggestion is None or fd is None:
        return False
    return fd.range_commentable(finding.first_line, finding.line)


def _defang(text: str) -> str:
    """Model text must not carry a marker that looks like prwarden's own."""
    return text.replace("<!--", "&lt;!--")


_PUNCT = re.compile(r"[\W_]+")


def _words(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def body_without_title(title: str, body: str) -> str:
    """The body with a verbatim repeat of the title taken off its start."""
    text = body.strip()
    head = _words(title)
    if not head:
        return text
    if _words(text) == head:
        return ""
    first, sep, rest = text.partition("\n")
    if _words(first) == head:
        return rest.strip()
    sentence = re.match(r"(.+?[.!?:])(\s+|$)", first)
    if sentence and _words(sentence.group(1)) == head:
        return (first[sentence.end() :] + sep + rest).strip()
    return text


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def evidence_line(e: Evidence) -> str:
    """One entry of the Evidence block, in prwarden's words; PR and model text in code spans."""
    target = code_span(e.target) if e.target else "(nothing)"
    if not e.ok:
        return f"- {code_span(e.tool)} on {target}: failed"
    if e.kind is EvidenceKind.SEARCH:
        found = f"{_count(e.hits or 0, 'hit')} in {_count(e.files or 0, 'file')}"
        return f"- searched {target}: {found}"
    if e.kind is EvidenceKind.READ:
        lines = f" lines {e.start}-{e.end}" if e.start is not None else ""
        return f"- read {target}{lines}"
    if e.kind is EvidenceKind.LINT:
        rules = ", ".join(code_span(r) for r in e.rules) if e.rules else "no findings"
        return f"- linted {target}: {rules}"
    if e.kind is EvidenceKind.SYMBOL:
        return f"- looked up {target}: {_count(e.hits or 0, 'definition')}"
    return f"- called {code_span(e.tool)}"


def evidence_block(entries: Sequence[Evidence]) -> str:
    """The collapsed Evidence block of a model comment, built from the agent's tool calls."""
    if entries:
        shown = [evidence_line(e) for e in entries[:MAX_EVIDENCE]]
        if len(entries) > MAX_EVIDENCE:
            shown.append(f"- and {len(entries) - MAX_EVIDENCE} more tool call(s)")
        listing = "\n".join(shown)
    else:
        listing = "No tool calls: the model read the diff only."
    return f"<details>\n<summary>Evidence</summary>\n\n{listing}\n\n</details>"


def comment_body(af: AnnotatedFinding, diff: Diff) -> str:
    """The markdown of one inline review comment."""
    f = af.finding
    parts = [f"**{f.severity.value.upper()} · {f.category.value}**: {_defang(f.title.strip())}"]
    if f.tool_rule:
        parts[0] += f" ({code_span(f.tool_rule)})"
    body = body_without_title(f.title, f.body)
    if body:
        parts.append(_defang(body))
    if f.suggestion is not None:
        lines = suggestion_lines(f.suggestion)
        content = "".join(line + "\n" for line in lines)
        fence = fence_for(content)
        if suggestion_fits(f, diff):
            parts.append(f"{fence}suggestion\n{content}{fence}")
        elif lines:
            parts.append(f"Possible fix:\n\n{fence}\n{content}{fence}")
    if f.also_at:
        where = ", ".join(code_span(f"{path}:{line}") for path, line in f.also_at)
        parts.append(f"Also at: {where}")
    if f.source == "model":
        parts.append(evidence_block(f.evidence))
    if af.fingerprint:
        parts.append(fingerprint_marker(af.fingerprint))
    return "\n\n".join(parts)


def fingerprints_in(bodies: Iterable[str]) -> frozenset[str]:
    """Every fingerprint marker found in the given comment bodies."""
    return frozenset(fp for body in bodies for fp in FINGERPRINT_RE.findall(_live_html(body)))


def suggestion_in(body: str) -> str | None:
    """The content of the first ```suggestion block in a comment body, if any.

    Follows CommonMark fences: the block closes at a line of at least as many backticks as
    opened it, with nothing else on the line.
    """
    lines = body.split("\n")
    for i, line in enumerate(lines):
        m = re.fullmatch(r" {0,3}(`{3,})\s*suggestion\s*", line)
        if not m:
            continue
        fence = len(m.group(1))
        for j in range(i + 1, len(lines)):
            if re.fullmatch(rf" {{0,3}}`{{{fence},}}\s*", lines[j]):
                return "".join(text + "\n" for text in lines[i + 1 : j])
        return None
    return None


def apply_suggestion(file_text: str, start_line: int, end_line: int, suggestion: str) -> str:
    """Replace lines ``start_line..end_line`` (1-based) with the suggestion, as GitHub does.

    The replacement lines take the line ending of the first replaced line. Raises
    ``DiffError`` when the range is not inside the file.
    """
    lines = file_text.splitlines(keepends=True)
    if start_line < 1 or end_line < start_line or end_line > len(lines):
        raise DiffError(
            f"suggestion range {start_line}-{end_line} is not inside the file ({len(lines)} lines)"
        )
    first = lines[start_line - 1]
    newline = "\r\n" if first.endswith("\r\n") else "\n"
    replacement = [line + newline for line in suggestion_lines(suggestion)]
    last = lines[end_line - 1]
    if replacement and not last.endswith(("\n", "\r")):
        replacement[-1] = replacement[-1].removesuffix(newline)
    return "".join(lines[: start_line - 1] + replacement + lines[end_line:])


def _severity_counts(counts: Counter[Severity] | dict[Severity, int]) -> str:
    ordered = sorted(counts.items(), key=lambda kv: -kv[0].rank)
    return ", ".join(f"{n} {sev.value}" for sev, n in ordered if n)


def summary_mode(mode: str, notes: Sequence[str], model: str | None) -> str:
    """How the review was made, as the opening words of the summary."""
    if mode == "cached":
        key = "cache"
    elif mode == "static" and any("unavailable" in n for n in notes):
        key = "unavailable"
    else:
        key = mode
    if key == "model" and not model:
        key = "static"
    line = mode_line(key, model)
    return line[:1].upper() + line[1:]


def _safe_note(text: str, limit: int = 300) -> str:
    """prwarden's own note text, reduced to plain characters so it cannot carry markup."""
    return " ".join(_SAFE_NOTE.sub(" ", text).split())[:limit]


WITHHELD_NOTE = "A note was withheld: it did not pass output validation."


def safe_note(text: str, limit: int = 300) -> str:
    """A note fit to post: plain characters only, and passing the same validation as a
    finding (no link, mention, approval, instruction or secret); else ``WITHHELD_NOTE``.

    Notes are prwarden's own words; this is the check that keeps it so should one ever carry
    text from the PR or the model.
    """
    plain = _safe_note(text, limit)
    return WITHHELD_NOTE if validate_text(plain) else plain


def mode_line(mode: str, model: str | None) -> str:
    if mode == "model":
        if not model:
            raise ValueError("mode 'model' needs the model name")
        return f"reviewed by {code_span(model)}"
    if mode not in _MODES:
        raise ValueError(f"unknown review mode {mode!r}; expected model, {', '.join(_MODES)}")
    return _MODES[mode]


def review_body(
    *,
    mode: str,
    files_reviewed: Sequence[str],
    files_skipped: Sequence[tuple[str, str]],
    annotated: Sequence[AnnotatedFinding],
    notes: Sequence[str],
    config_problems: Sequence[str],
    model: str | None,
    head_sha: str,
    run: str = "",
    files_unreviewed: Sequence[tuple[str, str]] = (),
) -> str:
    """The review summary. ``mode`` is ``model``, ``static``, ``unavailable``, ``cache`` or
    ``skipped``."""
    if not _SHA.fullmatch(head_sha):
        raise ValueError(f"head_sha must be 7-64 lowercase hex digits, got {head_sha!r}")
    out = [f"**prwarden** — {mode_line(mode, model)}", ""]

    listed = ", ".join(code_span(p) for p in files_reviewed[:MAX_LISTED_FILES])
    more = len(files_reviewed) - MAX_LISTED_FILES
    files = f"{len(files_reviewed)} file{'s' if len(files_reviewed) != 1 else ''}"
    out.append(f"- Looked at {files}" + (f": {listed}" if listed else ""))
    if more > 0:
        out[-1] += f" and {more} more"

    posted: Counter[Severity] = Counter(
        af.finding.severity for af in annotated if af.status == "post"
    )
    out.append(f"- Posted {sum(posted.values())} comment(s)" + _paren(_severity_counts(posted)))
    held = sum(1 for af in annotated if af.status == "hold")
    if held:
        out.append(f"- {held} finding(s) {Reason.HELD.label}")

    dropped = Counter(af.code for af in annotated if af.status == "drop" and af.code)
    overflow = overflow_summary(annotated)
    dropped.pop(Reason.OVER_MAX, None)
    if dropped:
        counts = sorted((code.label, n) for code, n in dropped.items())
        detail = ", ".join(f"{n} {label}" for label, n in counts)
        out.append(f"- Not posted: {detail}")
    if overflow:
        out.append(f"- Over the comment limit, not posted: {_severity_counts(overflow)}")
    if files_skipped:
        skipped = "; ".join(f"{code_span(p)} ({_safe_note(why, 80)})" for p, why in files_skipped)
        out.append(f"- Skipped {len(files_skipped)} file(s): {skipped}")
    if files_unreviewed:
        listed = ", ".join(code_span(p) for p, _ in files_unreviewed[:MAX_LISTED_FILES])
        more = len(files_unreviewed) - MAX_LISTED_FILES
        whys = sorted({_safe_note(why, 120) for _, why in files_unreviewed})
        out.append(
            f"- Not reviewed by the model, {len(files_unreviewed)} file(s) ({'; '.join(whys)}): "
            + listed
            + (f" and {more} more" if more > 0 else "")
        )
    for problem in config_problems:
        out.append(f"- Config problem: {code_span(problem)}")
    for note in notes:
        out.append(f"- {safe_note(note)}")
    if not _RUN.fullmatch(run):
        raise ValueError(f"run must be up to 40 of [a-z0-9-], got {run!r}")
    out += ["", review_marker(head_sha, run)]
    return "\n".join(out)


def _paren(text: str) -> str:
    return f": {text}" if text else ""
