"""The diff as the models read it: files with new-file line numbers, cut at whole files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from review.diff import Diff, FileDiff, Hunk
from tools.base import cap_text


def render_file(f: FileDiff, hunks: Sequence[Hunk] | None = None) -> str:
    """One file of the diff (or some of its ``hunks``) with new-file line numbers on the left."""
    header = f"### {f.path} ({f.status}" + (f", from {f.old_path})" if f.old_path else ")")
    if f.is_binary:
        return header + "\n(binary file)"
    lines = [header]
    for hunk in f.hunks if hunks is None else hunks:
        lines.append(
            f"@@ -{hunk.old_start},{hunk.old_length} +{hunk.new_start},{hunk.new_length} @@ "
            + hunk.header
        )
        for line in hunk.lines:
            number = "" if line.kind == "-" else str(line.new)
            lines.append(f"{number:>5} {line.kind}{line.text}")
    return "\n".join(lines)


def render_diff(
    diff: Diff,
    focus_files: Sequence[str],
    max_chars: int,
    rendered: Mapping[str, str] | None = None,
) -> str:
    """The diff, focus files first, cut at whole files once ``max_chars`` is reached.

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
        if shown and used + len(text) > max_chars:
            left_out.append(path)
            continue
        text, _ = cap_text(text, max_chars)
        shown.append(text)
        used += len(text)
    if left_out:
        shown.append("Not shown (over the size limit; use read_file): " + ", ".join(left_out))
    return "\n\n".join(shown)
