"""The diff model: files, hunks, and exactly which lines GitHub accepts a review comment on.

GitHub anchors a review comment on a line of the diff: on the RIGHT side an added or context
line of a hunk (numbered in the new file), on the LEFT side a deleted or context line (numbered
in the old file). Anything else is answered with 422, so the anchor map here is the only
authority the rest of the pipeline consults.

Parsing goes through unidiff. Input may be bytes in any encoding (undecodable bytes become
U+FFFD), may use CRLF, and may contain binary, renamed, mode-only, added and deleted files.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import io
import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from unidiff.errors import UnidiffParseError
from unidiff.patch import PatchedFile, PatchSet

from prwarden.errors import DiffError

FileStatus = Literal["added", "deleted", "modified", "renamed"]
LineKind = Literal["+", "-", " "]

_MAX_DIFF_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class DiffLine:
    """One line of a hunk. ``old``/``new`` are line numbers on each side (None where absent)."""

    kind: LineKind
    text: str
    old: int | None
    new: int | None


@dataclass(frozen=True, slots=True)
class Hunk:
    old_start: int
    old_length: int
    new_start: int
    new_length: int
    header: str
    lines: tuple[DiffLine, ...]

    @property
    def new_end(self) -> int:
        return self.new_start + max(self.new_length, 1) - 1


@dataclass(frozen=True, slots=True)
class FileDiff:
    """One file of a diff, with its commentable lines on each side."""

    path: str
    old_path: str | None
    status: FileStatus
    is_binary: bool
    hunks: tuple[Hunk, ...]
    patch: str
    added: Mapping[int, str] = field(repr=False)
    right_lines: frozenset[int] = field(repr=False)
    left_lines: frozenset[int] = field(repr=False)

    @property
    def changed_lines(self) -> tuple[int, ...]:
        """New-file line numbers of the added lines, ascending."""
        return tuple(sorted(self.added))

    def commentable(self, line: int, side: Literal["RIGHT", "LEFT"] = "RIGHT") -> bool:
        return line in (self.right_lines if side == "RIGHT" else self.left_lines)

    def hunk_for(self, line: int) -> Hunk | None:
        """The hunk whose RIGHT side covers ``line``, if any."""
        for hunk in self.hunks:
            if hunk.new_start <= line <= hunk.new_end and hunk.new_length > 0:
                return hunk
        return None

    def range_commentable(self, start: int, end: int) -> bool:
        """GitHub takes a multi-line comment only when both ends lie in the same hunk."""
        if start > end or not (self.commentable(start) and self.commentable(end)):
            return False
        hunk = self.hunk_for(end)
        return hunk is not None and hunk.new_start <= start

    def nearest_changed(self, line: int, *, within: int | None = None) -> int | None:
        """The added line closest to ``line`` (ties go to the earlier line)."""
        best: int | None = None
        for candidate in self.added:
            distance = abs(candidate - line)
            if within is not None and distance > within:
                continue
            if best is None or (distance, candidate) < (abs(best - line), best):
                best = candidate
        return best

    def restricted(self, lines: set[int], *, context: int = 8) -> FileDiff | None:
        """This file cut down to the diff lines within ``context`` lines of ``lines``.

        Hunks are split where they leave the window, so a one-line change in a large hunk
        yields a small hunk around it.
        """
        hunks: list[Hunk] = []
        for hunk in self.hunks:
            hunks.extend(_cut_hunk(hunk, lines, context))
        if not hunks:
            return None
        keep = {line.new for h in hunks for line in h.lines if line.new is not None}
        keep_old = {line.old for h in hunks for line in h.lines if line.old is not None}
        return FileDiff(
            path=self.path,
            old_path=self.old_path,
            status=self.status,
            is_binary=self.is_binary,
            hunks=tuple(hunks),
            patch=self.patch,
            added=MappingProxyType({n: t for n, t in self.added.items() if n in keep}),
            right_lines=frozenset(self.right_lines & keep),
            left_lines=frozenset(self.left_lines & keep_old),
        )

    @property
    def patch_hash(self) -> str:
        """SHA-256 of this file's normalized patch (see ``Diff.normalized_hash``)."""
        return hashlib.sha256(_normalized_file(self).encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Diff:
    files: tuple[FileDiff, ...]

    def __iter__(self) -> Iterator[FileDiff]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def file(self, path: str) -> FileDiff | None:
        for f in self.files:
            if f.path == path:
                return f
        return None

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.files)

    @property
    def added_line_count(self) -> int:
        return sum(len(f.added) for f in self.files)

    def normalized_hash(self) -> str:
        """SHA-256 over what the change is, not how it was delivered.

        Commit SHAs, ``index`` lines, hunk section headers, file order and line endings do
        not enter; paths, statuses, hunk positions and line contents do (positions matter
        because findings anchor on them).
        """
        h = hashlib.sha256()
        for f in sorted(self.files, key=lambda f: f.path):
            h.update(_normalized_file(f).encode("utf-8", "surrogatepass"))
            h.update(b"\0")
        return h.hexdigest()

    def subset(self, paths: set[str]) -> Diff:
        return Diff(tuple(f for f in self.files if f.path in paths))

    def since(self, interdiff: Diff) -> Diff:
        """The part of this diff that ``interdiff`` (last reviewed head → this head) touched.

        Both diffs number new-side lines in the same head commit, so a hunk of this diff is kept
        when one of its lines was added by ``interdiff``.
        """
        kept: list[FileDiff] = []
        for f in self.files:
            changed = interdiff.file(f.path)
            if changed is None:
                continue
            part = f.restricted(set(changed.added))
            if part is not None:
                kept.append(part)
        return Diff(tuple(kept))


def _cut_hunk(hunk: Hunk, lines: set[int], context: int) -> list[Hunk]:
    """The runs of ``hunk`` whose new-side position lies within ``context`` of ``lines``."""
    positions: list[int] = []
    upcoming = hunk.new_start
    for line in reversed(hunk.lines):
        if line.new is not None:
            upcoming = line.new
        positions.append(upcoming)
    positions.reverse()
    wanted = sorted(lines)
    runs: list[list[DiffLine]] = []
    previous_kept = False
    for line, pos in zip(hunk.lines, positions, strict=True):
        i = bisect.bisect_left(wanted, pos - context)
        kept = i < len(wanted) and wanted[i] <= pos + context
        if kept:
            if not previous_kept:
                runs.append([])
            runs[-1].append(line)
        previous_kept = kept
    cut: list[Hunk] = []
    for run in runs:
        olds = [ln.old for ln in run if ln.old is not None]
        news = [ln.new for ln in run if ln.new is not None]
        cut.append(
            Hunk(
                old_start=olds[0] if olds else hunk.old_start,
                old_length=len(olds),
                new_start=news[0] if news else hunk.new_start,
                new_length=len(news),
                header=hunk.header,
                lines=tuple(run),
            )
        )
    return cut


def _normalized_file(f: FileDiff) -> str:
    parts = [f"{f.status}\t{f.old_path or ''}\t{f.path}\tbinary={f.is_binary}"]
    for hunk in f.hunks:
        parts.append(f"@@ -{hunk.old_start},{hunk.old_length} +{hunk.new_start},{hunk.new_length}")
        parts.extend(line.kind + line.text for line in hunk.lines)
    return "\n".join(parts)


def _decode(data: str | bytes) -> str:
    if isinstance(data, str):
        return data
    if len(data) > _MAX_DIFF_BYTES:
        raise DiffError(f"diff is {len(data)} bytes; the limit is {_MAX_DIFF_BYTES}")
    return data.decode("utf-8", errors="replace")


def _strip_prefix(path: str | None) -> str | None:
    if path is None or path == "/dev/null":
        return None
    if path.startswith(("a/", "b/")):
        return path[2:]
    return path


def _line_text(value: str) -> str:
    return value.rstrip("\r\n")


def _split_sections(text: str) -> list[str]:
    """Split a git diff into per-file sections; a non-git unified diff stays whole."""
    starts = [m.start() for m in re.finditer(r"^diff --git ", text, flags=re.MULTILINE)]
    if not starts:
        return [text] if text.strip() else []
    # A preamble before the first file (a `git format-patch` message) is not part of any file.
    starts.append(len(text))
    return [text[a:b] for a, b in itertools.pairwise(starts)]


def parse_diff(data: str | bytes) -> Diff:
    """Parse a unified diff (git or plain) into a ``Diff``.

    Raises ``DiffError`` when the text is not a diff at all or a hunk is malformed.
    """
    text, sections = _prepare(data)
    files = [f for section in sections for f in _section_files(section)]
    return _whole(text, files)


async def parse_diff_stepwise(data: str | bytes, *, step: int = 16 * 1024) -> Diff:
    """``parse_diff`` for an event loop that must keep answering while it runs.

    Files are parsed in steps of about ``step`` bytes of diff, yielding to the loop between
    steps; a single file larger than a step is parsed in a worker thread instead.
    """
    text, sections = await asyncio.to_thread(_prepare, data)
    files: list[FileDiff] = []
    done = 0
    for section in sections:
        if len(section) > step:
            files += await asyncio.to_thread(_section_files, section)
            continue
        files += _section_files(section)
        done += len(section)
        if done >= step:
            done = 0
            await asyncio.sleep(0)
    return _whole(text, files)


def _prepare(data: str | bytes) -> tuple[str, list[str]]:
    text = _decode(data).replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return text, _split_sections(text)


def _section_files(section: str) -> list[FileDiff]:
    try:
        patch = PatchSet(io.StringIO(section))
    except UnidiffParseError as exc:
        raise DiffError(f"malformed diff: {exc}") from exc
    except (ValueError, IndexError) as exc:
        raise DiffError(f"malformed diff: {exc}") from exc
    if not list(patch):
        header = section.splitlines()[0] if section.strip() else ""
        return [_header_only_file(section)] if header.startswith("diff --git ") else []
    single = len(patch) == 1
    return [_file_from_patched(patched, section if single else str(patched)) for patched in patch]


def _whole(text: str, files: list[FileDiff]) -> Diff:
    if text.strip() and not files:
        raise DiffError("input is not a unified diff: no file headers found")
    return Diff(tuple(files))


_GIT_PATHS = re.compile(r"^diff --git (?:\"?a/(.+?)\"?) (?:\"?b/(.+?)\"?)$")


def _header_only_file(section: str) -> FileDiff:
    """A git section with no hunks that unidiff did not report (mode-only, pure rename)."""
    first = section.splitlines()[0]
    m = _GIT_PATHS.match(first)
    if not m:
        raise DiffError(f"malformed diff header: {first[:200]!r}")
    old, new = m.group(1), m.group(2)
    status: FileStatus = "renamed" if old != new else "modified"
    if "\ndeleted file mode" in section:
        status = "deleted"
    elif "\nnew file mode" in section:
        status = "added"
    return FileDiff(
        path=new,
        old_path=old if old != new else None,
        status=status,
        is_binary="Binary files" in section or "GIT binary patch" in section,
        hunks=(),
        patch=section,
        added=MappingProxyType({}),
        right_lines=frozenset(),
        left_lines=frozenset(),
    )


def _file_from_patched(patched: PatchedFile, section: str) -> FileDiff:
    source = _strip_prefix(patched.source_file)
    target = _strip_prefix(patched.target_file)
    if patched.is_added_file:
        status: FileStatus = "added"
    elif patched.is_removed_file:
        status = "deleted"
    elif patched.is_rename or (source and target and source != target):
        status = "renamed"
    else:
        status = "modified"
    path = target if status != "deleted" else source
    if path is None:
        path = _strip_prefix(patched.path) or patched.path
    hunks: list[Hunk] = []
    added: dict[int, str] = {}
    right: set[int] = set()
    left: set[int] = set()
    for h in patched:
        lines: list[DiffLine] = []
        for ln in h:
            kind = ln.line_type
            if kind not in ("+", "-", " "):
                continue  # "\ No newline at end of file"
            text = _line_text(ln.value)
            lines.append(DiffLine(kind, text, ln.source_line_no, ln.target_line_no))  # type: ignore[arg-type]
            if kind == "+" and ln.target_line_no is not None:
                added[ln.target_line_no] = text
                right.add(ln.target_line_no)
            elif kind == "-" and ln.source_line_no is not None:
                left.add(ln.source_line_no)
            elif kind == " ":
                if ln.target_line_no is not None:
                    right.add(ln.target_line_no)
                if ln.source_line_no is not None:
                    left.add(ln.source_line_no)
        hunks.append(
            Hunk(
                old_start=h.source_start,
                old_length=h.source_length,
                new_start=h.target_start,
                new_length=h.target_length,
                header=h.section_header or "",
                lines=tuple(lines),
            )
        )
    return FileDiff(
        path=path,
        old_path=source if status == "renamed" else None,
        status=status,
        is_binary=bool(patched.is_binary_file),
        hunks=tuple(hunks),
        patch=section,
        added=MappingProxyType(added),
        right_lines=frozenset(right),
        left_lines=frozenset(left),
    )
