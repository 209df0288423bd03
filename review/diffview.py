"""The diff as the models read it: files with new-file line numbers, cut at whole files."""

from __future__ import annotations

from collections.abc import Sequence

from review.diff import Diff, FileDiff
from tools.base import cap_text


def render_file(f: FileDiff) -> str:
    """One file of the diff with new-file line numbers on the left of each line."""
    header = f"### {f.path} ({f.status}" + (f", from {f.old_path})" if f.old_path else ")")
    if f.is_binary:
        return header + "\n(binary file)"
    lines = [header]
    for hunk in f.hunks:
        lines.append(
            f"@@ -{hunk.old_start},{hunk.old_length} +{hunk.new_start},{hunk.new_length} @@ "
            + hunk.header
        )
        for line in hunk.lines:
            number = "" if line.kind == "-" else str(line.new)
            lines.append(f"{number:>5} {line.kind}{line.text}")
    return "\n".join(lines)


def render_diff(diff: Diff, focus_files: Sequence[str], max_chars: int) -> str:
    """The diff, focus files first, cut at whole files once ``max_chars`` is reached."""
    order = [p for p in dict.fromkeys(focus_files) if diff.file(p) is not None]
    order += [p for p in diff.paths if p not in order]
    shown: list[str] = []
    left_out: list[str] = []
    used = 0
    for path in order:
        f = diff.file(path)
        assert f is not None
        text = render_file(f)
        if shown and used + len(text) > max_chars:
            left_out.append(path)
            continue
        text, _ = cap_text(text, max_chars)
        shown.append(text)
        used += len(text)
    if left_out:
        shown.append("Not shown (over the size limit; use read_file): " + ", ".join(left_out))
    return "\n\n".join(shown)
