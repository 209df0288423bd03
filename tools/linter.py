"""The linters, one per language, and ``run_linter``, which picks one by file type.

Each linter is isolated from the repository's configuration (see ``tools.linters``) and runs
under the workspace's timeout and output cap. ``lint_changed`` runs every linter that has
files among the changed ones, side by side; one linter failing does not lose the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from prwarden.errors import ToolError
from security.jail import resolve_in_workspace
from tools.base import Diagnostic, ToolResult, Workspace, cap_text
from tools.linters import hadolint, oxlint, ruff, shellcheck, zizmor
from tools.linters.common import Linter, lintable

TOOL = "run_linter"
LINTERS: tuple[Linter, ...] = (
    ruff.LINTER,
    oxlint.LINTER,
    shellcheck.LINTER,
    zizmor.LINTER,
    hadolint.LINTER,
)


@dataclass(frozen=True, slots=True)
class LintRun:
    """Every linter's diagnostics on the changed files, and the linters that could not run."""

    diagnostics: tuple[Diagnostic, ...]
    failures: tuple[tuple[str, str], ...] = ()


def linter_for(ws: Workspace, path: str) -> Linter | None:
    """The linter that reads ``path`` (workspace-relative, inside the jail), if any."""
    for linter in LINTERS:
        if lintable(ws, [path], linter.handles):
            return linter
    return None


async def lint_changed(ws: Workspace, paths: Sequence[str]) -> LintRun:
    """Run every linter on its files among ``paths``, concurrently."""

    async def one(linter: Linter) -> tuple[Diagnostic, ...] | ToolError:
        try:
            return await linter.diagnostics(ws, paths)
        except ToolError as exc:
            return exc

    results = await asyncio.gather(*(one(linter) for linter in LINTERS))
    diagnostics: list[Diagnostic] = []
    failures: list[tuple[str, str]] = []
    for linter, result in zip(LINTERS, results, strict=True):
        if isinstance(result, ToolError):
            failures.append((linter.name, str(result)))
        else:
            diagnostics += result
    return LintRun(tuple(diagnostics), tuple(failures))


def _normalise(path: str) -> str:
    return PurePosixPath(path).as_posix().removeprefix("./")


def render(linter: str, path: str, diagnostics: Sequence[Diagnostic]) -> str:
    if not diagnostics:
        return f"{linter}: no findings in {path}"
    out = [f"{linter}: {len(diagnostics)} findings in {path}"]
    for d in diagnostics:
        fix = " (fix available)" if d.fix is not None else ""
        out.append(f"{d.path}:{d.line}:{d.column} {d.code} {d.message}{fix}")
    return "\n".join(out)


def supported() -> str:
    return "; ".join(f"{linter.name} for {linter.languages}" for linter in LINTERS)


async def run_linter(ws: Workspace, path: str) -> ToolResult:
    """Run the linter for one changed file's type, with a fixed set of bug-finding rules.

    `path` must be one of the files this pull request changed, relative to the repository root.
    Python (ruff), JavaScript and TypeScript (oxlint), shell scripts (shellcheck), GitHub
    Actions workflows (zizmor) and Dockerfiles (hadolint) are linted.
    """
    wanted = _normalise(path)
    if not resolve_in_workspace(ws.root, path).is_file():
        raise ToolError(f"not a file: {path!r}", tool=TOOL)
    if wanted not in {_normalise(p) for p in ws.changed_files}:
        raise ToolError(f"not a file changed by this pull request: {path!r}", tool=TOOL)
    linter = linter_for(ws, wanted)
    if linter is None:
        raise ToolError(
            f"no linter for this file type: {path!r}; linters: {supported()}", tool=TOOL
        )
    diagnostics = await linter.diagnostics(ws, [wanted])
    content, truncated = cap_text(render(linter.name, wanted, diagnostics), ws.output_cap)
    return ToolResult(
        tool=TOOL, ok=True, content=content, diagnostics=diagnostics, truncated=truncated
    )
