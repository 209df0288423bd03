"""The PR as the models read it: its title and description in one untrusted block, and the
diff, files with new-file line numbers, cut at whole files.

Sizes are in tokens, estimated by ``prwarden.tokens`` like every other cap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from prwarden import tokens
from review.diff import Diff, FileDiff, Hunk
from review.request import PRInfo
from security.spotlight import Spotlight


def pr_text(pr: PRInfo, spotlight: Spotlight) -> str:
    """The title, and the description when there is one, wrapped as one untrusted block."""
    text = pr.title if not pr.body.strip() else f"{pr.title}\n\n{pr.body}"
    return "Title and description:\n" + spotlight.wrap("pr", text)


def diff_line(number: int | None, kind: str, text: str) -> str:
    """One line as the models read it: its new-file number (none for a removed line), its kind
    (``+``, ``-`` or a space) and its text. Kept short: every line of every prompt pays for it."""
    return f"{kind}{text}" if kind == "-" or number is None else f"{number} {kind}{text}"


def render_file(f: FileDiff, hunks: Sequence[Hunk] | None = None) -> str:
    """One file of the diff (or some of its ``hunks``) with new-file line numbers on the left."""
    header = f"### {f.path} ({f.status}" + (f", from {f.old_path})" if f.old_path else ")")
    if f.is_binary:
        return header + "\n(binary file)"
    lines = [header]
    for hunk in f.hunks if hunks is None else hunks:
        lines.append(f"@@ {hunk.header}".rstrip())
        lines += [diff_line(line.new, line.kind, line.text) for line in hunk.lines]
    return "\n".join(lines)


def render_diff(
    diff: Diff,
    focus_files: Sequence[str],
    max_tokens: int,
    rendered: Mapping[str, str] | None = None,
) -> str:
    """The diff, focus files first, cut at whole files once ``max_tokens`` is reached (a
    first file larger than that is cut inside).

    ``rendered`` holds files already rendered another way (widened by the context pack).
    """
    order = [p for p in dict.fromkeys(focus_files) if diff.file(p) is not None]
    order += [p for p in diff.paths if p not in order]
    shown: list[str] = []
    left_out: list[str] = []
    used = 0
    for path in order:
        f = diff.file(path)
        assert f is not None
        text = (rendered or {}).get(path) or render_file(f)
        size = tokens.estimate(text)
        if shown and used + size > max_tokens:
            left_out.append(path)
            continue
        if size > max_tokens:
            text, _ = tokens.cap(text, max_tokens, "diff")
            size = max_tokens
        shown.append(text)
        used += size
    if left_out:
        shown.append("Not shown (over the size limit; use read_file): " + ", ".join(left_out))
    return "\n\n".join(shown)
