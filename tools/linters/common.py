"""What every linter shares: the files it may see, one checked run, a pinned config file."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from prwarden.errors import JailError, ToolError
from security.jail import resolve_in_workspace
from tools.base import Diagnostic, DiagnosticSeverity, Workspace
from tools.process import find_program, run_program

MAX_LINTER_OUTPUT = 8_000_000
SHEBANG_BYTES = 128

# The levels shellcheck and hadolint print, as diagnostic severities.
LEVELS: Mapping[str, DiagnosticSeverity] = {
    "error": "error",
    "warning": "warning",
    "info": "info",
    "style": "info",
}

DiagnosticsFn = Callable[[Workspace, Sequence[str]], Awaitable[tuple[Diagnostic, ...]]]


@dataclass(frozen=True, slots=True)
class Linter:
    """A linter as the agent and the static review see it.

    ``handles`` says from a workspace file (already inside the jail) whether this linter reads
    it; ``diagnostics`` lints such files (workspace-relative) in one run.
    """

    name: str
    languages: str
    handles: Callable[[Path, str], bool] = field(repr=False)
    diagnostics: DiagnosticsFn = field(repr=False)


def suffix_in(suffixes: Collection[str]) -> Callable[[Path, str], bool]:
    def handles(_file: Path, rel: str) -> bool:
        return PurePosixPath(rel).suffix in suffixes

    return handles


def read_head(file: Path, size: int = SHEBANG_BYTES) -> bytes:
    with file.open("rb") as fh:
        return fh.read(size)


def lintable(
    ws: Workspace, paths: Sequence[str], handles: Callable[[Path, str], bool]
) -> list[str]:
    """The workspace-relative files among ``paths`` this linter handles, in order, no repeats.

    Paths that are missing (deleted by the PR), not regular files, or that leave the workspace
    (a symlink out of it) are left out: they cannot be linted.
    """
    out: list[str] = []
    seen: set[str] = set()
    base = ws.root.resolve(strict=True)
    for path in paths:
        try:
            resolved = resolve_in_workspace(base, path, root_resolved=True)
        except JailError:
            continue
        rel = resolved.relative_to(base).as_posix()
        if rel in seen or not resolved.is_file():
            continue
        seen.add(rel)
        try:
            if handles(resolved, rel):
                out.append(rel)
        except OSError:
            continue
    return out


def pinned_config(name: str) -> str:
    """The path of one of prwarden's own linter config files (``tools/data/<name>``)."""
    resource = resources.files("tools").joinpath("data", name)
    if not resource.is_file():
        raise ToolError(f"prwarden's config {name} is missing from the package", tool=name)
    return str(resource)


async def run_checked(
    ws: Workspace,
    program: str,
    args: Sequence[str],
    *,
    tool: str,
    ok_returncodes: Collection[int] = (0,),
) -> bytes:
    """Run ``program`` with ``args`` in the workspace under its timeout and output cap."""
    done = await run_program(
        [find_program(program), *args],
        cwd=ws.root.resolve(),
        time_limit=ws.timeout,
        max_output=MAX_LINTER_OUTPUT,
        tool=tool,
    )
    if done.truncated:
        raise ToolError(f"{program} printed more output than the cap", tool=tool)
    if done.returncode not in ok_returncodes:
        reason = _reason(done.stderr.decode("utf-8", errors="replace"))
        raise ToolError(f"{program} failed (exit {done.returncode}): {reason}", tool=tool)
    return done.stdout


def _reason(stderr: str) -> str:
    """The lines of ``stderr`` that say what went wrong (not progress or backtraces)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith(("error", "fatal", "warn"))]
    return "; ".join(errors or lines[-3:])[:300]


def workspace_path(reported: str, root: Path) -> str:
    """A path a linter printed (relative to the workspace or absolute) as workspace-relative."""
    path = Path(reported)
    resolved = (path if path.is_absolute() else root / path).resolve()
    return resolved.relative_to(root.resolve()).as_posix()


def sort_diagnostics(found: Sequence[Diagnostic]) -> tuple[Diagnostic, ...]:
    return tuple(sorted(found, key=lambda d: (d.path, d.line, d.column or 0, d.code or "")))


def json_rows(stdout: bytes, tool: str, key: str | None = None) -> list[Mapping[str, Any]]:
    """A linter's JSON output as its list of rows (under ``key`` when the top is an object)."""
    try:
        data = json.loads(stdout or (b"{}" if key else b"[]"))
    except json.JSONDecodeError as exc:
        raise ToolError(f"{tool} printed output that is not JSON: {exc}", tool=tool) from exc
    rows = data.get(key, []) if key is not None and isinstance(data, dict) else data
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ToolError(f"{tool} printed JSON that is not a list of objects", tool=tool)
    return rows
