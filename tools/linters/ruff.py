"""ruff over the PR's Python files, with a fixed rule set: the PR cannot configure what runs.

ruff runs with ``--isolated`` (no ``pyproject.toml``, ``ruff.toml`` or ``.ruff.toml`` of the
repository is read, so no ``extend`` can point outside the workspace), ``--no-cache``, a
clean environment (no ``RUFF_*`` variables) and the curated ``RULES`` below.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prwarden.errors import ToolError
from tools.base import Diagnostic, Workspace
from tools.linters.common import Linter, lintable, suffix_in
from tools.process import Completed, find_program, run_program

TOOL = "ruff"
PYTHON_SUFFIXES = frozenset({".py", ".pyi"})
MAX_RUFF_OUTPUT = 8_000_000
MAX_FIX_SOURCE_BYTES = 2_000_000

RULES: Mapping[str, str] = {
    "F": "pyflakes: undefined names, unused imports and variables, redefinitions",
    "E9": "syntax and I/O errors: the file does not even parse",
    "E722": "bare except swallows KeyboardInterrupt and SystemExit",
    "B": "bugbear: mutable defaults, loop-variable closures, silently ignored results",
    "PLE": "pylint errors: code that fails at run time",
    "ASYNC": "blocking calls and lost tasks inside async functions",
    "RUF006": "asyncio task created and dropped: may be garbage-collected mid-run",
    "RUF018": "assignment inside assert disappears under python -O",
    "S102": "exec of dynamic code",
    "S301": "pickle loads arbitrary code from untrusted data",
    "S307": "eval of dynamic code",
    "S501": "TLS certificate verification turned off",
    "S506": "yaml.load without a safe loader runs arbitrary constructors",
    "S602": "subprocess with shell=True invites shell injection",
    "S608": "SQL built by string formatting invites injection",
}


def build_ruff_argv(ruff: str, paths: Sequence[str]) -> list[str]:
    """The ruff command line; every option that could read repository config is pinned."""
    return [
        ruff,
        "check",
        "--isolated",
        "--no-cache",
        "--no-fix",
        "--output-format=json",
        "--exit-zero",
        "--quiet",
        f"--select={','.join(RULES)}",
        "--",
        *paths,
    ]


def decode_ruff_json(stdout: bytes) -> list[dict[str, Any]]:
    """ruff's JSON output as a list of rows."""
    try:
        rows = json.loads(stdout or b"[]")
    except json.JSONDecodeError as exc:
        raise ToolError(f"ruff printed output that is not JSON: {exc}", tool=TOOL) from exc
    if not isinstance(rows, list):
        raise ToolError("ruff printed JSON that is not a list", tool=TOOL)
    return rows


def row_path(row: Mapping[str, Any], root: Path) -> str:
    return Path(row["filename"]).resolve().relative_to(root.resolve()).as_posix()


def parse_ruff_json(
    rows: Sequence[Mapping[str, Any]], root: Path, sources: Mapping[str, str] | None = None
) -> tuple[Diagnostic, ...]:
    """ruff's rows as diagnostics with workspace-relative paths, sorted by place.

    ``sources`` maps a path to its text, used to turn single-line fixes into the new line.
    """
    found = []
    for row in rows:
        path = row_path(row, root)
        code = row.get("code") or "invalid-syntax"
        start, end = row["location"], row.get("end_location") or row["location"]
        text = (sources or {}).get(path)
        found.append(
            Diagnostic(
                source="ruff",
                path=path,
                line=int(start["row"]),
                column=int(start["column"]),
                end_line=int(end["row"]),
                code=code,
                severity="error" if code in ("invalid-syntax", "E902") else "warning",
                message=str(row["message"]),
                fix=single_line_fix(row.get("fix"), text) if text is not None else None,
            )
        )
    return tuple(sorted(found, key=lambda d: (d.path, d.line, d.column or 0, d.code or "")))


def single_line_fix(fix: Mapping[str, Any] | None, source: str) -> str | None:
    """The new text of the one line a single-edit fix touches, or None.

    An edit that removes a whole line yields the empty string.
    """
    if not fix or fix.get("applicability") == "display-only" or len(fix["edits"]) != 1:
        return None
    edit = fix["edits"][0]
    row, col = int(edit["location"]["row"]), int(edit["location"]["column"])
    end_row, end_col = int(edit["end_location"]["row"]), int(edit["end_location"]["column"])
    lines = source.splitlines()
    if not 1 <= row <= len(lines):
        return None
    line = lines[row - 1]
    content = str(edit["content"])
    if end_row == row:
        return line[: col - 1] + content + line[end_col - 1 :]
    if end_row == row + 1 and end_col == 1:
        return (line[: col - 1] + content).removesuffix("\n")
    return None


def _read_sources(root: Path, paths: Sequence[str]) -> dict[str, str]:
    sources: dict[str, str] = {}
    for rel in paths:
        file = root / rel
        if file.stat().st_size <= MAX_FIX_SOURCE_BYTES:
            sources[rel] = file.read_text(encoding="utf-8", errors="replace")
    return sources


def _check_completed(done: Completed) -> None:
    if done.truncated:
        raise ToolError("ruff printed more output than the cap", tool=TOOL)
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", errors="replace").strip()[:300]
        raise ToolError(f"ruff failed (exit {done.returncode}): {reason}", tool=TOOL)


async def ruff_diagnostics(ws: Workspace, paths: Sequence[str]) -> tuple[Diagnostic, ...]:
    """Run ruff on the Python files among ``paths`` (workspace-relative) and parse its findings.

    Used by the static review over every changed file, so unusable paths are skipped rather
    than failing the review (see ``lintable``).
    """
    targets = await asyncio.to_thread(lintable, ws, paths, suffix_in(PYTHON_SUFFIXES))
    if not targets:
        return ()
    argv = build_ruff_argv(find_program("ruff"), targets)
    done = await run_program(
        argv, cwd=ws.root.resolve(), time_limit=ws.timeout, max_output=MAX_RUFF_OUTPUT, tool=TOOL
    )
    _check_completed(done)
    return await asyncio.to_thread(_diagnostics, done.stdout, ws.root, targets)


def _diagnostics(stdout: bytes, root: Path, targets: Sequence[str]) -> tuple[Diagnostic, ...]:
    rows = decode_ruff_json(stdout)
    fixable = {row_path(row, root) for row in rows if row.get("fix")}
    sources = _read_sources(root.resolve(), [p for p in targets if p in fixable])
    return parse_ruff_json(rows, root, sources)


LINTER = Linter("ruff", "Python", suffix_in(PYTHON_SUFFIXES), ruff_diagnostics)
