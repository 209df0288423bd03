"""The fake GitHub's own reading of a unified diff: files, hunks, and which lines take a comment.

This is the oracle the fake judges review comments by, so it shares no code with
``review.diff``: a mistake in prwarden's anchoring would otherwise be repeated here and pass.
It reads what GitHub reads: ``diff --git`` sections, their ``---``/``+++`` and rename headers,
``Binary files`` lines, and ``@@ -a,b +c,d @@`` hunks whose lines start with ``+``, ``-``,
`` `` or ``\\``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_GIT = re.compile(r"^diff --git a/(.*) b/(.*)$")


@dataclass(slots=True)
class Line:
    kind: str  # "+", "-" or " "
    old: int | None
    new: int | None


@dataclass(slots=True)
class Hunk:
    header: str
    lines: list[Line] = field(default_factory=list)


@dataclass(slots=True)
class File:
    path: str
    old_path: str | None = None
    status: str = "modified"  # added, removed, renamed, modified
    is_binary: bool = False
    header: list[str] = field(default_factory=list)
    body: list[str] = field(default_factory=list)
    hunks: list[Hunk] = field(default_factory=list)

    @property
    def patch(self) -> str:
        """GitHub's ``patch`` field: the hunks without the file headers, or "" for none."""
        return "\n".join(self.body)

    @property
    def additions(self) -> int:
        return sum(1 for h in self.hunks for ln in h.lines if ln.kind == "+")

    @property
    def deletions(self) -> int:
        return sum(1 for h in self.hunks for ln in h.lines if ln.kind == "-")

    def commentable(self, line: int, side: str) -> bool:
        """RIGHT takes added or context lines, LEFT removed or context lines, as on GitHub."""
        return self.hunk_of(line, side) is not None

    def hunk_of(self, line: int, side: str) -> int | None:
        for index, hunk in enumerate(self.hunks):
            for ln in hunk.lines:
                if side == "RIGHT" and ln.kind in "+ " and ln.new == line:
                    return index
                if side == "LEFT" and ln.kind in "- " and ln.old == line:
                    return index
        return None

    @property
    def positions(self) -> int:
        """How many ``position`` values the file has: its hunk lines and the headers between."""
        return sum(len(h.lines) for h in self.hunks) + max(len(self.hunks) - 1, 0)


@dataclass(slots=True)
class Files:
    files: list[File]

    def __iter__(self) -> Iterator[File]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def file(self, path: str) -> File | None:
        return next((f for f in self.files if f.path == path), None)

    @property
    def additions(self) -> int:
        return sum(f.additions for f in self.files)

    @property
    def deletions(self) -> int:
        return sum(f.deletions for f in self.files)


def _strip(path: str, prefix: str) -> str:
    path = path.split("\t", 1)[0]
    return path.removeprefix(prefix)


def read(text: str) -> Files:
    """Every file section of ``text``; lines outside a ``diff --git`` section are ignored."""
    files: list[File] = []
    current: File | None = None
    old = new = 0
    for raw in text.split("\n"):
        git = _GIT.match(raw)
        if git:
            current = File(path=git.group(2))
            files.append(current)
            continue
        if current is None:
            continue
        hunk = _HUNK.match(raw)
        if hunk:
            old, new = int(hunk.group(1)), int(hunk.group(3))
            current.hunks.append(Hunk(header=hunk.group(0)))
            current.body.append(raw)
            continue
        if not current.hunks:
            _header(current, raw)
            continue
        lines = current.hunks[-1].lines
        if raw.startswith("+"):
            lines.append(Line("+", None, new))
            new += 1
        elif raw.startswith("-"):
            lines.append(Line("-", old, None))
            old += 1
        elif raw.startswith(" "):
            lines.append(Line(" ", old, new))
            old += 1
            new += 1
        elif raw.startswith("\\"):
            pass
        else:
            continue
        current.body.append(raw)
    return Files(files)


def _header(f: File, raw: str) -> None:
    f.header.append(raw)
    if raw.startswith("new file mode"):
        f.status = "added"
    elif raw.startswith("deleted file mode"):
        f.status = "removed"
    elif raw.startswith("rename from "):
        f.old_path, f.status = raw[len("rename from ") :], "renamed"
    elif raw.startswith("rename to "):
        f.path = raw[len("rename to ") :]
    elif raw.startswith("+++ ") and raw[4:] != "/dev/null":
        f.path = _strip(raw[4:], "b/")
    elif raw.startswith("Binary files") or raw.startswith("GIT binary patch"):
        f.is_binary = True
