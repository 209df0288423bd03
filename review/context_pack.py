"""The context pack: what the model would otherwise ask for in its first turns, built before
the first call, deterministically, within its own token budget.

For every hunk, the whole function or class that encloses its changed lines (tree-sitter on
the PR's head): the hunk is shown widened to that definition, in place of the bare hunk. Then
the signatures (not bodies) of the repository's own functions and classes that the added
lines call, each with where it is defined. A hunk whose definition does not fit the budget
stays a bare hunk; signatures fill what budget is left. The pack's cost is counted as the
tokens it adds over the bare diff.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from prwarden.errors import JailError
from prwarden.tokens import estimate as estimate_tokens
from review.diff import Diff, FileDiff, Hunk
from review.diffview import diff_line, render_diff, render_file
from security.jail import resolve_in_workspace
from tools.read_file import looks_binary
from tools.symbols import (
    CACHE,
    MAX_FILE_BYTES,
    Definition,
    called_names,
    find_named,
    language_for,
    signature,
)

PACK_TOKENS = 1200
MAX_SIGNATURES = 12
LOOKUP_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Widened:
    """A run of the new file shown whole: lines ``start``..``end`` around some hunks."""

    start: int
    end: int
    definition: str
    hunks: tuple[Hunk, ...]


@dataclass(frozen=True, slots=True)
class ContextPack:
    files: Mapping[str, str]
    signatures: tuple[str, ...]
    tokens: int
    widened: Mapping[str, tuple[Widened, ...]]

    def render_diff(self, diff: Diff, focus_files: Sequence[str], max_tokens: int) -> str:
        """The diff with each widened file in its widened form."""
        return render_diff(diff, focus_files, max_tokens, rendered=self.files)

    def render_signatures(self) -> str:
        return "\n".join(self.signatures)


EMPTY = ContextPack({}, (), 0, {})


def _head(root: Path, path: str) -> bytes | None:
    try:
        file = resolve_in_workspace(root, path)
    except JailError:
        return None
    if not file.is_file() or file.stat().st_size > MAX_FILE_BYTES:
        return None
    data = file.read_bytes()
    return None if looks_binary(data) else data


def _changed(hunk: Hunk) -> tuple[int, int]:
    """The new-file lines a hunk changes (its added lines, or where its deletion is)."""
    added = [ln.new for ln in hunk.lines if ln.kind == "+" and ln.new is not None]
    if added:
        return min(added), max(added)
    at = max(hunk.new_start, 1)
    return at, at


def enclosing(definitions: Sequence[Definition], first: int, last: int) -> Definition | None:
    """The innermost definition that holds lines ``first``..``last``."""
    holding = [d for d in definitions if d.start_line <= first and last <= d.end_line]
    return min(holding, key=lambda d: d.end_line - d.start_line, default=None)


def render_widened(f: FileDiff, runs: Sequence[Widened], lines: Sequence[str]) -> str:
    """``f`` with each run shown whole: file lines around the hunks as context."""
    header = f"### {f.path} ({f.status}" + (f", from {f.old_path})" if f.old_path else ")")
    out = [header]
    inside = {id(h) for run in runs for h in run.hunks}
    items: list[tuple[int, Widened | Hunk]] = [(run.start, run) for run in runs]
    items += [(h.new_start, h) for h in f.hunks if id(h) not in inside]
    for _, item in sorted(items, key=lambda pair: pair[0]):
        if isinstance(item, Hunk):
            out.append(render_file(f, (item,)).split("\n", 1)[1])
            continue
        out.append(f"@@ lines {item.start}-{item.end}: the whole of {item.definition} @@")
        cursor = item.start
        for hunk in item.hunks:
            out += _context(lines, cursor, hunk.new_start - 1)
            out += [diff_line(ln.new, ln.kind, ln.text) for ln in hunk.lines]
            cursor = hunk.new_start + hunk.new_length
        out += _context(lines, cursor, item.end)
    return "\n".join(out)


def _context(lines: Sequence[str], first: int, last: int) -> list[str]:
    return [diff_line(n, " ", lines[n - 1]) for n in range(first, min(last, len(lines)) + 1)]


def _runs(f: FileDiff, definitions: Sequence[Definition]) -> list[Widened]:
    """Each hunk's widened run; hunks in one definition share one run."""
    runs: list[Widened] = []
    for hunk in f.hunks:
        first, last = _changed(hunk)
        d = enclosing(definitions, first, last)
        if d is None:
            continue
        start = min(d.start_line, hunk.new_start)
        end = max(d.end_line, hunk.new_start + hunk.new_length - 1)
        name = f"{d.kind} {d.qualname}"
        if runs and hunk.new_start <= runs[-1].end:
            # The hunk reaches into the previous run: one run, one hunk never split.
            prev = runs.pop()
            label = prev.definition if name == prev.definition else f"{prev.definition}, {name}"
            runs.append(Widened(prev.start, max(prev.end, end), label, (*prev.hunks, hunk)))
            continue
        if runs:
            start = max(start, runs[-1].end + 1)
        runs.append(Widened(start, end, name, (hunk,)))
    return runs


def build_context_pack(diff: Diff, root: Path, budget: int = PACK_TOKENS) -> ContextPack:
    """The pack for ``diff`` over the PR's head at ``root``; at most ``budget`` extra tokens."""
    files: dict[str, str] = {}
    widened: dict[str, tuple[Widened, ...]] = {}
    left = budget
    shown: dict[str, list[tuple[int, int]]] = {}
    calls: dict[str, None] = {}
    for f in diff:
        language = language_for(f.path)
        source = _head(root, f.path) if language and not f.is_binary else None
        if language is None or source is None or f.status == "deleted":
            continue
        definitions = CACHE.definitions(source, language)
        lines = source.decode("utf-8", errors="replace").splitlines()
        plain = estimate_tokens(render_file(f))
        kept: list[Widened] = []
        extra = 0
        for run in _runs(f, definitions):
            cost = estimate_tokens(render_widened(f, [*kept, run], lines)) - plain - extra
            if cost <= left:
                kept.append(run)
                left -= cost
                extra += cost
        if kept:
            files[f.path] = render_widened(f, kept, lines)
            widened[f.path] = tuple(kept)
            shown[f.path] = [(r.start, r.end) for r in kept]
        for name in called_names(source, language, frozenset(f.added)):
            calls.setdefault(name, None)
    signatures = _signatures(root, list(calls), shown, left)
    used = budget - left + sum(estimate_tokens(s + "\n") for s in signatures)
    return ContextPack(files, signatures, used, widened)


def _signatures(
    root: Path, names: list[str], shown: Mapping[str, list[tuple[int, int]]], left: int
) -> tuple[str, ...]:
    if not names or left <= 0:
        return ()
    found = find_named(
        root.resolve(),
        frozenset(names),
        CACHE,
        deadline=time.monotonic() + LOOKUP_SECONDS,
        limit=MAX_SIGNATURES * 4,
    )
    order = {name: i for i, name in enumerate(names)}
    out: list[str] = []
    for path, d, source in sorted(found, key=lambda x: (order[x[1].name], x[0], x[1].start_line)):
        if any(s <= d.start_line and d.end_line <= e for s, e in shown.get(path, ())):
            continue
        line = f"{path}:{d.start_line} {d.kind} {d.qualname}: {signature(source, d)}"
        cost = estimate_tokens(line + "\n")
        if cost > left or len(out) >= MAX_SIGNATURES:
            break
        out.append(line)
        left -= cost
    return tuple(out)
