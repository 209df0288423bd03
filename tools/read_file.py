"""Read a bounded, line-numbered window of one workspace file."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

from prwarden.errors import ToolError
from security.jail import relative_to_root, resolve_in_workspace
from tools.base import Diagnostic, ToolResult, Workspace, cap_text

TOOL = "read_file"
MAX_WINDOW_LINES = 400
MAX_LINE_CHARS = 500
BINARY_SNIFF_BYTES = 8192
MAX_FILE_BYTES = 20_000_000


def looks_binary(head: bytes) -> bool:
    """A NUL byte in the first bytes of a file marks it as binary (git's own test)."""
    return b"\x00" in head[:BINARY_SNIFF_BYTES]


def number_lines(lines: Iterable[str], first: int) -> str:
    """Lines prefixed with their 1-based numbers, each cut to ``MAX_LINE_CHARS``."""
    out = []
    for number, line in enumerate(lines, start=first):
        text = line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + " [line cut]"
        out.append(f"{number:>6} | {text}")
    return "\n".join(out)


def check_window(start: int, end: int | None) -> int:
    """Validate the requested window and return its last line (at most 400 lines long)."""
    if start < 1:
        raise ToolError("start must be 1 or more", tool=TOOL)
    if end is not None and end < start:
        raise ToolError("end must not be before start", tool=TOOL)
    last = start + MAX_WINDOW_LINES - 1
    return last if end is None else min(end, last)


def _read_window(file: Path, start: int, last: int) -> tuple[list[str], int]:
    with file.open("rb") as fh:
        if looks_binary(fh.read(BINARY_SNIFF_BYTES)):
            raise ToolError("binary file: not shown", tool=TOOL)
        fh.seek(0)
        window: list[str] = []
        total = 0
        for raw in fh:
            total += 1
            if start <= total <= last:
                window.append(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
    return window, total


async def read_file(ws: Workspace, path: str, start: int = 1, end: int | None = None) -> ToolResult:
    """Read lines of one file of the pull request, numbered (at most 400 lines per call).

    `path` is relative to the repository root; `start` and `end` are 1-based and inclusive.
    """
    last = check_window(start, end)
    resolved = resolve_in_workspace(ws.root, path)
    if not resolved.is_file():
        raise ToolError(f"not a file: {path!r}", tool=TOOL)
    if resolved.stat().st_size > MAX_FILE_BYTES:
        raise ToolError(f"file larger than {MAX_FILE_BYTES} bytes: not shown", tool=TOOL)
    window, total = await asyncio.to_thread(_read_window, resolved, start, last)
    rel = relative_to_root(ws.root, resolved)
    if not window:
        head = f"{rel} has {total} lines; nothing at line {start}"
        return ToolResult(tool=TOOL, ok=True, content=head)
    shown_last = start + len(window) - 1
    head = f"{rel} (lines {start}-{shown_last} of {total})"
    if end is not None and end > shown_last and shown_last < total:
        head += f"; windows are at most {MAX_WINDOW_LINES} lines, ask again from {shown_last + 1}"
    content, truncated = cap_text(f"{head}\n{number_lines(window, start)}", ws.output_cap)
    shown = Diagnostic(
        source=TOOL,
        path=rel,
        line=start,
        end_line=shown_last,
        message=f"lines {start}-{shown_last} of {total}",
        severity="info",
    )
    return ToolResult(
        tool=TOOL, ok=True, content=content, diagnostics=(shown,), truncated=truncated
    )
